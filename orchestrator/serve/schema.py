"""OpenAI's chat completions wire format: the request schema and its validation, usage, and response shapes.

The wire format follows https://platform.openai.com/docs/api-reference/chat. Every error is an ApiError,
answered in OpenAI's shape {"error": {"message", "type", "param", "code"}}.
"""

from __future__ import annotations

import json
import re
from pathlib import PurePosixPath, PureWindowsPath
from typing import Annotated, Any, Callable, Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from orchestrator.chains.chat import TEMPLATE_OVERHEAD_PER_MESSAGE
from orchestrator.errors import ConfigError
from orchestrator.result import Answer
from orchestrator.serve.limits import ServeLimits

SERVED_MODEL = "orchestrator"


# An absolute POSIX path with at least two parts, not inside a URL or an expression like 8/2/2.
_LOCAL_PATH = re.compile(r"(?<![\w./:~-])/(?:[A-Za-z_.~][\w.@+~-]*/)+([\w.@+~-]*)")


def public_name(source: Any) -> Any:
    """A document source as clients see it: a local path becomes its file name; URLs stay."""
    if not isinstance(source, str) or "://" in source:
        return source
    for path in (PurePosixPath(source), PureWindowsPath(source)):
        if path.is_absolute():
            return path.name
    return source


def without_paths(value: Any) -> Any:
    """`value` with server file paths reduced to file names, in every string, at any depth."""
    if isinstance(value, dict):
        return {k: public_name(v) if k == "source" else without_paths(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [without_paths(v) for v in value]
    if isinstance(value, str):
        return _LOCAL_PATH.sub(lambda m: m.group(1), value)
    return value


# Strict types, as OpenAI's API: "0.5" or true for a number, or "yes" for a boolean, is a 400.
Decimal = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: StrictStr | list[dict] | None = None


class ChatRequest(BaseModel):
    """The fields of an OpenAI chat completion request; ones the server cannot honour are refused."""

    model_config = ConfigDict(extra="ignore")

    model: StrictStr | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    stream: StrictBool = False
    max_tokens: StrictInt | None = Field(default=None, ge=1)
    max_completion_tokens: StrictInt | None = Field(default=None, ge=1)
    temperature: Decimal | None = Field(default=None, ge=0, le=2)
    top_p: Decimal | None = Field(default=None, ge=0, le=1)
    stop: StrictStr | list[StrictStr] | None = Field(default=None)
    seed: StrictInt | None = None
    presence_penalty: Decimal | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: Decimal | None = Field(default=None, ge=-2, le=2)
    logprobs: StrictBool | None = None
    top_logprobs: StrictInt | None = Field(default=None, ge=0, le=20)
    logit_bias: dict[str, Decimal] | None = None
    n: StrictInt | None = Field(default=None, ge=1, le=128)
    tools: list[dict] | None = None
    tool_choice: StrictStr | dict | None = None
    response_format: dict | None = None
    stream_options: dict | None = None
    route: StrictStr | None = Field(default=None, description="Extension: force a route (auto, math, docs, web, chat).")


class ApiError(Exception):
    """An error returned in OpenAI's shape: {"error": {"message", "type", "param", "code"}}."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str,
        param: str | None = None,
        kind: str = "invalid_request_error",
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.code, self.param, self.kind = status, message, code, param, kind
        self.headers = headers

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


def checked_text(text: str, param: str) -> str:
    """`text`, refused when it cannot be encoded (a lone UTF-16 surrogate such as \\ud800)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(
            400,
            f"{param} contains an invalid character (a lone UTF-16 surrogate): send valid Unicode text.",
            "invalid_unicode",
            param,
        ) from None
    return text


def message_text(message: ChatMessage, param: str = "messages") -> str:
    """The text of a message; content parts other than text (images, audio, files) are refused."""
    if message.content is None or isinstance(message.content, str):
        return checked_text(message.content or "", param)
    texts = []
    for part in message.content:
        if part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise ApiError(
                400, f"Only text content is supported (got a {part.get('type')!r} part).", "unsupported_content", param
            )
        texts.append(checked_text(part["text"], param))
    return "\n".join(texts)


def refuse_unsupported(request: ChatRequest) -> None:
    """400 for what this server cannot do, rather than a 200 that ignores it."""
    if request.logprobs or request.top_logprobs:
        raise ApiError(
            400,
            "logprobs: this server does not return token log probabilities; leave logprobs and top_logprobs out.",
            "unsupported_value",
            "logprobs" if request.logprobs else "top_logprobs",
        )
    if request.logit_bias:
        # Token ids are the served model's own; an answer may come from SymPy or a quote, not the model.
        raise ApiError(
            400,
            "logit_bias is not supported by this server (its answers are not all sampled from the model); leave it out.",
            "unsupported_value",
            "logit_bias",
        )
    if request.n not in (None, 1):
        raise ApiError(
            400,
            f"n={request.n}: this server returns one choice per request; send n=1 or leave it out.",
            "unsupported_value",
            "n",
        )
    choice = request.tool_choice
    if choice not in (None, "none", "auto"):
        raise ApiError(
            400,
            "tool_choice: this server cannot call the client's tools (it runs its own); "
            'leave tool_choice out or set it to "none" or "auto".',
            "unsupported_value",
            "tool_choice",
        )


def response_format_for_llama(response_format: dict | None) -> dict | None:
    """OpenAI's response_format as llama-cpp-python's (a JSON grammar constrains the model's output)."""
    if response_format is None or response_format.get("type") == "text":
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        from orchestrator.serve.json_schema import checked_schema

        json_schema = response_format.get("json_schema")
        schema = json_schema.get("schema") if isinstance(json_schema, dict) else None
        return {"type": "json_object", "schema": checked_schema(schema)}
    raise ApiError(
        400,
        f"response_format type {kind!r} is not supported: use text, json_object or json_schema.",
        "invalid_value",
        "response_format",
    )


def sampling_options(request: ChatRequest, limits: ServeLimits) -> dict:
    """The request's generation options, as keyword arguments for the chat model (only those given)."""
    asked = request.max_completion_tokens or request.max_tokens
    if asked is not None and asked > limits.max_tokens:
        raise ApiError(
            400,
            f"max_tokens may be at most {limits.max_tokens} on this server (asked {asked}).",
            "max_tokens_too_large",
            "max_tokens",
        )
    stop = [request.stop] if isinstance(request.stop, str) else request.stop
    if stop is not None and len(stop) > 4:
        raise ApiError(400, "stop: at most 4 sequences.", "invalid_value", "stop")
    stop = [sequence for sequence in stop or () if sequence]  # "" would stop before the first token
    options = {
        "max_tokens": asked,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "stop": stop or None,
        "seed": request.seed,
        "presence_penalty": request.presence_penalty,
        "frequency_penalty": request.frequency_penalty,
        "response_format": response_format_for_llama(request.response_format),
    }
    return {name: value for name, value in options.items() if value is not None}


def app_input(request: ChatRequest, limits: ServeLimits) -> dict:
    """The app's input: the last user message is the question, earlier turns the history.

    System and developer messages are dropped: the server's own system prompt applies, so a client
    cannot replace the instructions that keep answers grounded. Earlier turns are read newest first
    up to limits.max_history_chars (the endpoint then trims them to limits.max_history_tokens).
    """
    from langchain_core.messages import AIMessage, HumanMessage

    if request.model not in (None, SERVED_MODEL):
        raise ApiError(
            404,
            f"The model {request.model!r} does not exist here; this server serves {SERVED_MODEL!r}.",
            "model_not_found",
            "model",
        )
    from orchestrator.app import forced_route

    try:
        forced_route(request.route)
    except ConfigError as exc:
        raise ApiError(400, str(exc), "invalid_route", "route") from None
    refuse_unsupported(request)
    *earlier, last = request.messages
    if last.role != "user":
        raise ApiError(
            400, "The last message must come from the user: it is the question.", "invalid_messages", "messages"
        )
    question = message_text(last, f"messages[{len(earlier)}].content").strip()
    if not question:
        raise ApiError(400, "The last user message is empty.", "invalid_messages", "messages")
    history: list = []
    read = 0
    for index in range(len(earlier) - 1, -1, -1):
        message = earlier[index]
        if message.role in ("tool", "function"):
            raise ApiError(
                400, "Tool messages are not supported: the server calls its own tools.", "invalid_messages", "messages"
            )
        if message.role not in ("user", "assistant"):
            continue
        text = message_text(message, f"messages[{index}].content")
        read += len(text)
        if read > limits.max_history_chars:
            break  # older turns would not fit the context anyway
        history.append(HumanMessage(text) if message.role == "user" else AIMessage(text))
    history.reverse()
    while history and not isinstance(history[0], HumanMessage):  # never start mid-turn
        history.pop(0)
    route = request.route
    if request.response_format and request.response_format.get("type") != "text":  # JSON, checked in sampling_options
        if route not in (None, "auto", "chat"):
            raise ApiError(
                400,
                f"response_format applies to the chat route only, not {route!r}.",
                "invalid_value",
                "response_format",
            )
        route = "chat"  # a JSON answer comes from the model, not from a tool or a quote
    return {"question": question, "history": history, "route": route}


_UNION_MEMBER_NAMES = {"str", "int", "float", "bool", "dict", "list", "none"}


def validation_error(errors: Sequence[Any]) -> ApiError:
    """Pydantic's first complaint about a request, as OpenAI words it (param = the field's path)."""
    first: dict[str, Any] = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": "invalid"}
    param = ""
    for part in first.get("loc", ()):
        if part == "body":
            continue
        if isinstance(part, str) and (not part.isidentifier() or part in _UNION_MEMBER_NAMES):
            break  # pydantic names the union member it tried ("str", "list[str]"): not a field
        param += f"[{part}]" if isinstance(part, int) else (f".{part}" if param else str(part))
    kind = first.get("type", "")
    if kind == "json_invalid":
        return ApiError(400, "The request body is not valid JSON.", "invalid_json")
    if kind == "missing":
        return ApiError(400, f"Missing required parameter: {param!r}.", "missing_required_parameter", param or None)
    code = (
        "invalid_type"
        if kind.endswith("_type") or kind.endswith("_parsing") or kind == "literal_error"
        else "invalid_value"
    )
    return ApiError(400, f"Invalid {param!r}: {first.get('msg', 'invalid value')}.", code, param or None)


def token_counter(orchestrator_app) -> Callable[[str], int]:
    """Counts tokens in the served model's vocabulary (a 4-characters-per-token estimate without one)."""
    from orchestrator.llm import count_tokens

    def count(text: str) -> int:
        if not text:
            return 0
        model = getattr(orchestrator_app, "chat_model", None)
        return count_tokens(model, text) if model is not None else (len(text) + 3) // 4

    return count


def prompt_overhead(orchestrator_app, count: Callable[[str], int]) -> int:
    """Tokens the chat route adds around a question: its system prompt and the template's markers."""
    settings = getattr(orchestrator_app, "settings", None)
    try:
        system_prompt = settings.prompt_text(settings.system_prompt_file) if settings is not None else ""
    except (AttributeError, OSError):
        system_prompt = ""
    return count(system_prompt) + 3 * TEMPLATE_OVERHEAD_PER_MESSAGE


def check_fits_context(
    question: str, count: Callable[[str], int], n_ctx: int | None, max_tokens: int, overhead: Callable[[], int]
) -> None:
    """400 when the question cannot fit the model's context with the prompt and room for the answer."""
    if n_ctx is None:
        return
    room = n_ctx - max_tokens
    if len(question) <= room // 8:  # no tokenizer yields more tokens than characters; skip the count
        return
    tokens = count(question) + overhead()
    if tokens > room:
        raise ApiError(
            400,
            f"The question needs about {tokens} tokens with the server's instructions; this server's "
            f"context holds {n_ctx} tokens including {max_tokens} for the answer. Shorten the question.",
            "context_length_exceeded",
            "messages",
        )


def usage(payload: dict, answer: Answer, count: Callable[[str], int]) -> dict:
    """Token counts: prompt = the client's messages the server used; completion = the answer."""
    prompt = count(payload["question"]) + sum(count(str(m.content)) for m in payload["history"])
    completion = answer.completion_tokens or count(answer.answer)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def orchestrator_extra(answer: Answer) -> dict:
    """The extra response field: how the answer was produced (server paths reduced to file names)."""
    return without_paths(
        {
            "route": answer.route,
            "route_reason": answer.route_reason,
            "sources": answer.sources,
            "tool_calls": answer.tool_calls,
            "abstained": answer.abstained,
            "error": answer.error,
            "latency_s": answer.latency_s,
        }
    )


def completion_body(completion_id: str, created: int, answer: Answer, token_usage: dict) -> dict:
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": SERVED_MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.answer},
                "finish_reason": answer.finish_reason or "stop",
            }
        ],
        "usage": token_usage,
        "orchestrator": orchestrator_extra(answer),
    }


def chunk_body(completion_id: str, created: int, delta: dict, finish_reason: str | None = None, **extra) -> dict:
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": SERVED_MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        **extra,
    }


def sse(data: dict | str) -> str:
    """One server-sent event (https://html.spec.whatwg.org/multipage/server-sent-events.html)."""
    return f"data: {data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)}\n\n"


def time_limit_message(limit_s: float) -> str:
    return f"stopped after {limit_s:g} s, the server's time limit per request"


def stopped_answer(
    question: str, pieces: list[str], limit_s: float, made: Answer | None = None, elapsed_s: float = 0.0
) -> Answer:
    """What a request stopped at the time limit returns: the text so far, finish_reason "length".

    `made` is the app's own answer to the stopped generation, when it finished one: its route, route
    reason, sources and timing are kept (a docs draft stopped at the limit is still a docs answer).
    """
    text = "".join(pieces).strip()
    if made is None:
        answer = Answer(question=question, answer=text, completion_tokens=len(pieces), latency_s=round(elapsed_s, 3))
    else:
        answer = made.model_copy(update={"answer": text or made.answer})
    answer.error = time_limit_message(limit_s)
    answer._finish_reason = "length"
    return answer
