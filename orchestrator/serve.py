"""The whole app (routing, tools, retrieval) as an OpenAI-compatible HTTP API, and the server runner.

Endpoints: POST /v1/chat/completions (JSON, or SSE when "stream": true), GET /v1/models, GET /health.
The wire format follows OpenAI's chat completions API
(https://platform.openai.com/docs/api-reference/chat), so any OpenAI client or UI can talk to it.
Each response carries one extra field, "orchestrator": route, route_reason, sources, tool_calls,
abstained, error, latency_s.

Every error body has OpenAI's shape {"error": {"message", "type", "param", "code"}}, including the
server's own 400/404/405/413/431/429 answers. docs/serving.md describes the limits and figures.

FastAPI and uvicorn are imported only by this module.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hmac
import ipaddress
import json
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Annotated, Any, AsyncIterator, Callable, Iterator, Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from starlette.requests import Request  # module-level: FastAPI resolves the endpoints' annotations here

from orchestrator.chains.chat import TEMPLATE_OVERHEAD_PER_MESSAGE, trim_history
from orchestrator.errors import ConfigError
from orchestrator.result import Answer

if TYPE_CHECKING:
    from fastapi import FastAPI

SERVED_MODEL = "orchestrator"
MIN_KEY_LENGTH = 16
# Host names a browser uses for this machine. On a loopback bind only these are answered, so a web
# page cannot reach the server through a DNS-rebinding domain (which arrives with its own Host).
LOOPBACK_HOST_NAMES = ("localhost", "127.0.0.1", "[::1]")
ANY_HOST = "*"
_DONE = object()


@dataclass(frozen=True)
class ServeLimits:
    """What one client may ask of the server, and how long the server waits for it."""

    max_body_bytes: int = 64 * 1024
    max_header_bytes: int = 16 * 1024  # request line + headers; more gets 431
    max_tokens: int = 256  # a request asking for more gets 400
    max_waiting: int = 2  # requests queued behind the one generating; beyond that, 429 at once
    max_quick_waiting: int = 64  # requests that need no LLM (plain math), queued in their own lane
    # Other requests are routed and retrieved (and refused when there is no evidence) before they take a
    # generation slot: at most this many wait for that; beyond that, 429 at once.
    max_pending: int = 64
    request_read_s: float = 10.0  # a request (headers and body) must arrive within this; else the socket is closed
    keep_alive_s: float = 5.0  # an idle keep-alive connection is closed after this
    max_connections: int = 2048  # open sockets beyond this are closed at once (file descriptors are finite)
    max_request_s: float = (
        60.0  # generation stops after this; the client gets what was produced, finish_reason "length"
    )
    # Earlier turns: at most this many characters are read (newest first), then trimmed to this many tokens
    # with the chat route's own trim_history. Prompt evaluation is what makes long histories slow
    # (100 turns: 15-28 s with the whole context, 6-8 s with 512 tokens, loaded 2 cores; docs/serving.md).
    max_history_chars: int = 16 * 1024
    max_history_tokens: int = 512
    retry_after_s: int = 2  # sent with 429
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOST_NAMES  # Host header names answered; ("*",) for any
    graceful_shutdown_s: float = 30.0


# --- security checks ---------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    """True only for addresses that other machines cannot reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a hostname could resolve to anything: treat it as reachable


def bind_address(host: str) -> str:
    """The address to bind: "[::1]" (URL form) is "::1" to the socket layer."""
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def check_bind(host: str, api_key: str | None) -> None:
    """Refuse to serve beyond this machine without an API key, and refuse guessable or unusable keys."""
    if api_key is not None and (not api_key.strip() or api_key != api_key.strip()):
        # The presented token is stripped before comparison, so such a key could never match.
        raise ConfigError(
            "The API key must not be blank or begin or end with whitespace; "
            'try: python -c "import secrets; print(secrets.token_urlsafe(32))".'
        )
    if api_key is not None and len(api_key) < MIN_KEY_LENGTH:
        raise ConfigError(
            f'The API key must be at least {MIN_KEY_LENGTH} characters (try: python -c "import secrets; print(secrets.token_urlsafe(32))").'
        )
    if not api_key and not is_loopback(host):
        raise ConfigError(
            f"Refusing to listen on {host} without an API key: anyone who can reach it could use the model. "
            "Pass --api-key (or set ORCH_SERVE_API_KEY), or bind to 127.0.0.1."
        )
    bare = bind_address(host)
    if ":" in bare:
        try:
            ipaddress.IPv6Address(bare)
        except ValueError:
            raise ConfigError(f"{host!r} is not an IPv6 address: write one like ::1 or [::1].") from None


def default_allowed_hosts(host: str) -> tuple[str, ...]:
    """Loopback binds answer only loopback host names; other binds (which need a key) answer any."""
    return LOOPBACK_HOST_NAMES if is_loopback(bind_address(host)) else (ANY_HOST,)


def host_allowed(host_header: str | None, allowed: tuple[str, ...]) -> bool:
    """Whether the request's Host (name, without the port) is one this server answers to."""
    if ANY_HOST in allowed:
        return True
    if not host_header:
        return False
    return host_name(host_header) in {name.lower() for name in allowed}


def host_name(host_header: str) -> str:
    """The name in a Host header, lower-cased, without the port: "[::1]:8000" -> "[::1]"."""
    host = host_header.strip().lower()
    if host.startswith("[") and "]" in host:
        return host[: host.index("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def key_matches(authorization: str | None, api_key: str) -> bool:
    """Constant-time comparison of the bearer token with the key (hmac.compare_digest)."""
    scheme, _, token = (authorization or "").partition(" ")
    presented = token.strip() if scheme.lower() == "bearer" else ""
    return hmac.compare_digest(presented.encode("utf-8"), api_key.encode("utf-8"))


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


# --- request schema ----------------------------------------------------------------------------

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
        schema = (response_format.get("json_schema") or {}).get("schema")
        if not isinstance(schema, dict):
            raise ApiError(
                400,
                "response_format.json_schema.schema must be a JSON schema object.",
                "invalid_value",
                "response_format",
            )
        return {"type": "json_object", "schema": schema}
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
    options = {
        "max_tokens": asked,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "stop": stop or None,
        "seed": request.seed,
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
    if request.response_format and response_format_for_llama(request.response_format):
        if route not in (None, "auto", "chat"):
            raise ApiError(
                400,
                f"response_format applies to the chat route only, not {route!r}.",
                "invalid_value",
                "response_format",
            )
        route = "chat"  # a JSON answer comes from the model, not from a tool or a quote
    return {"question": question, "history": history, "route": route}


def needs_no_llm(payload: dict) -> bool:
    """True for questions answered without the model: plain math, solved by SymPy."""
    from orchestrator.chains.router import split_prefix
    from orchestrator.tools.math import detect_math

    prefix, question = split_prefix(payload["question"])
    if (payload.get("route") or prefix) not in (None, "auto", "math"):
        return False
    return detect_math(question) is not None


# --- usage and context -------------------------------------------------------------------------


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


# --- response shapes ---------------------------------------------------------------------------


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


class TimedOut(Exception):
    """Generation was stopped at the server's time limit for one request."""


def stopped_answer(question: str, pieces: list[str], limit_s: float) -> Answer:
    """What a request stopped at the time limit returns: the text so far, finish_reason "length"."""
    answer = Answer(
        question=question,
        answer="".join(pieces).strip(),
        completion_tokens=len(pieces),
        error=f"stopped after {limit_s:g} s, the server's time limit per request",
    )
    answer._finish_reason = "length"
    return answer


# --- one generation at a time ---------------------------------------------------------------------

_ADMITTED = object()  # put in a request's items when it has been given a generation slot


class GenerationBusy(Exception):
    """The generation queue was full when this request first needed the model (answered with 429).

    Not an OrchestratorError: the app must not turn it into an answer.
    """


class Places:
    """A fixed number of places: try_admit() takes one if any is free, release() gives it back."""

    def __init__(self, limit: int):
        self._limit = limit
        self._admitted = 0
        self._lock = threading.Lock()

    @property
    def admitted(self) -> int:
        return self._admitted

    @property
    def limit(self) -> int:
        return self._limit

    def try_admit(self) -> bool:
        with self._lock:
            if self._admitted >= self._limit:
                return False
            self._admitted += 1
            return True

    def release(self) -> None:
        with self._lock:
            self._admitted -= 1


class GenerationGate(Places):
    """The generation slots: at most 1 + max_waiting requests are admitted to generate, one at a time.

    A request is admitted when it first calls the chat model (see `Admission`), so routing,
    retrieval and refusals decided before generation never take a slot; beyond the limit a request
    gets a prompt 429 instead of queueing forever. Admitted requests take turns (a llama.cpp
    context runs one generation at a time); a slot is freed when its work has actually stopped, not
    when its client went away.
    """

    def __init__(self, max_waiting: int):
        super().__init__(1 + max_waiting)
        self._generating = False
        self._waiters: collections.deque[threading.Event] = collections.deque()  # first come, first served

    def take_turn(self, stop: threading.Event) -> bool:
        """Wait for this request's turn to generate, in order of asking; False when its client left meanwhile."""
        with self._lock:
            if not self._generating:
                self._generating = True
                return True
            mine = threading.Event()
            self._waiters.append(mine)
        while not mine.wait(0.1):
            if stop.is_set():
                with self._lock:
                    if not mine.is_set():
                        self._waiters.remove(mine)
                        return False
                self.end_turn()  # handed the turn just as the client left: pass it on
                return False
        return True

    def end_turn(self) -> None:
        with self._lock:
            if self._waiters:
                self._waiters.popleft().set()  # the turn passes straight on
            else:
                self._generating = False


class Admission:
    """One request's claim on the generation gate, made at its first chat-model call.

    Installed as llm.before_chat_model_call in the request's context; `admitted=True` when the
    endpoint admitted it up front (models that do not call the hook).
    """

    def __init__(
        self, gate: GenerationGate, stop: threading.Event, announce: Callable[[], None], admitted: bool = False
    ):
        self.gate, self.stop, self.announce = gate, stop, announce
        self.admitted, self.has_turn = admitted, False
        self.turn_started: float | None = None

    def __call__(self) -> None:
        if self.has_turn:
            return
        if not self.admitted:
            if not self.gate.try_admit():
                raise GenerationBusy()
            self.admitted = True
            self.announce()
        if not self.gate.take_turn(self.stop):
            raise ClientGone()
        self.has_turn, self.turn_started = True, time.monotonic()

    def finish(self) -> None:
        if self.has_turn:
            self.gate.end_turn()
        if self.admitted:
            self.gate.release()


class WorkLane(Places):
    """Runs requests' work on a few threads of its own; at most `max_waiting` requests wait for one.

    try_admit() refuses the rest (a prompt 429). A request's place is freed when its work has
    actually stopped.
    """

    def __init__(self, max_waiting: int, workers: int = 1, name: str = "work"):
        super().__init__(workers + max_waiting)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)

    def start(
        self,
        make_items: Callable[[], Iterator],
        limit_s: float | None = None,
        gate: GenerationGate | None = None,
        admitted: bool = False,
    ) -> AsyncIterator:
        """Submit make_items() to this lane now; iterate the result for its items.

        The caller has admitted the request to the lane. With a `gate`, the request takes a
        generation slot at its first chat-model call (or before it starts, when `admitted` says the
        caller already took one): the items then include _ADMITTED, or raise GenerationBusy when
        the gate is full. The places are released when the work stops, even if nobody ever iterates
        the result (a client that disconnects before the response starts). Work stops between items
        once `limit_s` seconds have passed since its generation turn began (since it began, without
        one); the iterator then raises TimedOut.
        """
        from orchestrator.llm import before_chat_model_call

        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()

        def put(item, error=None) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, (item, error))
            except RuntimeError:  # the event loop has closed (server shutting down)
                stop.set()

        admission = Admission(gate, stop, lambda: put(_ADMITTED), admitted) if gate is not None else None

        def deadline(began: float) -> float | None:
            turn = admission.turn_started if admission is not None else None
            return (turn or began) + limit_s if limit_s else None

        def work() -> None:
            began, timed_out = time.monotonic(), False
            hook = before_chat_model_call.set(admission)
            try:
                if stop.is_set():  # the client left while this waited in the queue: nothing to do
                    put(_DONE)
                    return
                if admission is not None and admitted:
                    admission()  # admitted up front: wait for the turn before starting
                items = make_items()
                try:
                    for item in items:
                        put(item)
                        if stop.is_set():  # the client went away: stop generating between tokens
                            break
                        ends = deadline(began)
                        if ends is not None and time.monotonic() > ends:
                            timed_out = True
                            break
                finally:
                    getattr(items, "close", lambda: None)()
            except BaseException as exc:  # handed to the request; the worker thread lives on
                put(_DONE, exc)
                return
            finally:
                before_chat_model_call.reset(hook)
                if admission is not None:
                    admission.finish()
            put(_DONE, TimedOut() if timed_out else None)

        try:
            future = self._executor.submit(work)
        except RuntimeError:
            self.release()
            raise ApiError(503, "The server is shutting down.", "shutting_down", kind="server_error") from None
        future.add_done_callback(lambda _: self.release())
        return self._consume(queue, stop)

    @staticmethod
    async def _consume(queue: asyncio.Queue, stop: threading.Event) -> AsyncIterator:
        try:
            while True:
                item, error = await queue.get()
                if item is _DONE:
                    if error is not None:
                        raise error
                    return
                yield item
        finally:
            stop.set()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


async def admitted_items(items: AsyncIterator) -> AsyncIterator:
    """`items` once the request is known to run: raises GenerationBusy now if the generation queue is full.

    Waits for the first item, or for the request's admission to generate, so a streamed response
    starts with 200 only when it will be answered. The returned items leave out the admission mark.
    """
    first, error = _DONE, None
    try:
        first = await anext(items)
    except StopAsyncIteration:
        pass
    except GenerationBusy:
        raise
    except Exception as exc:  # noqa: BLE001 - not swallowed: raised where the caller iterates, as before
        error = exc

    async def rest() -> AsyncIterator:
        if error is not None:
            raise error
        if first is _DONE:
            return
        if first is not _ADMITTED:
            yield first
        async for item in items:
            if item is not _ADMITTED:
                yield item

    return rest()


def generates_through_llama(orchestrator_app) -> bool:
    """Whether the app's chat model is llama.cpp's, whose calls run llm.before_chat_model_call.

    Such requests take a generation slot only when they first call the model. Other models (an
    OpenAI-compatible server, test fakes) cannot tell, so their requests take one up front unless
    they need no LLM at all.
    """
    from orchestrator.llm import chat_model_class

    model = getattr(orchestrator_app, "chat_model", None)
    return isinstance(getattr(model, "bound", model), chat_model_class())


async def final_answer(items: AsyncIterator, question: str, limit_s: float) -> Answer:
    """The Answer at the end of `items` (the text so far when the time limit stopped it)."""
    pieces: list[str] = []
    answer = None
    try:
        async for item in items:
            if isinstance(item, str):
                pieces.append(item)
            elif item is not _ADMITTED:
                answer = item
    except TimedOut:
        return stopped_answer(question, pieces, limit_s)
    if not isinstance(answer, Answer):
        raise ApiError(500, "The app produced no answer.", "no_answer", kind="server_error")
    return answer


class ClientGone(Exception):
    """The client closed the connection before its answer was ready."""


async def unless_disconnected(work, receive) -> Any:
    """Await `work`; if the client disconnects first, cancel it (which stops its generation)."""

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    task, watcher = asyncio.ensure_future(work), asyncio.ensure_future(disconnected())
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, watcher):
            if not pending.done():
                pending.cancel()
    if task in done:
        return task.result()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    raise ClientGone()


# --- HTTP-level guards -------------------------------------------------------------------------


async def send_error(send, error: ApiError, close: bool = False) -> None:
    """Send `error` as a complete JSON response from ASGI."""
    body = json.dumps(error.body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in (error.headers or {}).items()]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        f"The request body is larger than this server accepts ({limit // 1024} KiB).",
        "request_too_large",
        "messages",
    )


class RequestGuard:
    """ASGI middleware run before FastAPI: the Host check and the body size limit.

    The body limit is enforced here, not by FastAPI's max_body_size (FastAPI >= 0.164 only): a
    Content-Length above the limit is refused before reading; a chunked body is read up to the limit
    and then refused. The body is buffered (it is at most the limit) and replayed to the app.
    """

    def __init__(self, app, limits: ServeLimits):
        self.app, self.limits = app, limits

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers: dict[bytes, str] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name, value.decode("latin-1"))
        if not host_allowed(headers.get(b"host"), self.limits.allowed_hosts):
            return await send_error(
                send,
                ApiError(
                    400,
                    "This server answers only to the host names it is configured for (by default localhost, "
                    "127.0.0.1 and [::1]); use one of them, or start it with --allowed-host.",
                    "invalid_host",
                    "Host",
                ),
                close=True,
            )
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.strip().isdigit() or int(declared) > self.limits.max_body_bytes):
            return await send_error(
                send,
                too_large(self.limits.max_body_bytes)
                if declared.strip().isdigit()
                else ApiError(400, "Invalid Content-Length header.", "invalid_request", "Content-Length"),
                close=True,
            )
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before sending its request
            body += message.get("body", b"")
            if len(body) > self.limits.max_body_bytes:
                return await send_error(send, too_large(self.limits.max_body_bytes), close=True)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()  # after the body: waits for the client to disconnect

        await self.app(scope, replay, send)


def guarded_protocol(limits: ServeLimits, max_connections: int) -> type:
    """uvicorn's h11 protocol with a deadline for receiving each request and a cap on open sockets.

    uvicorn (0.30 to 0.54 at least) has no timeout for reading a request: timeout_keep_alive only
    runs between requests, so a socket that never sends, or sends its headers a byte a second, is
    held forever, and limit_concurrency counts those sockets, so 64 of them answered everyone with
    503 (issue 15). uvicorn's own knobs are used where they exist (timeout_keep_alive,
    h11_max_incomplete_event_size for the header size); the read deadline and the connection cap
    are added here. h11 is used rather than httptools because httptools has no header size limit.
    """
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11Protocol(H11Protocol):
        _read_deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                transport.abort()  # refusing beats running out of file descriptors
                return
            self._arm_read_deadline()

        def data_received(self, data: bytes) -> None:
            if self.cycle is None or self.cycle.response_complete:  # these bytes begin a request
                self._arm_read_deadline()
            super().data_received(data)
            if self.cycle is not None and not self.cycle.response_complete and not self.cycle.more_body:
                self._disarm_read_deadline()  # the whole request is in

        def connection_lost(self, exc) -> None:
            self._disarm_read_deadline()
            super().connection_lost(exc)

        def _arm_read_deadline(self) -> None:
            if self._read_deadline is None:
                self._read_deadline = self.loop.call_later(limits.request_read_s, self._read_timed_out)

        def _disarm_read_deadline(self) -> None:
            if self._read_deadline is not None:
                self._read_deadline.cancel()
                self._read_deadline = None

        def _read_timed_out(self) -> None:
            self._read_deadline = None
            if not self.transport.is_closing():
                self.transport.close()  # an app waiting for the body sees http.disconnect

        def send_400_response(self, msg: str) -> None:
            # uvicorn answers a malformed request in plain text; this answers in OpenAI's error shape.
            oversized = len(self.conn.trailing_data[0]) > limits.max_header_bytes
            error = (
                ApiError(
                    431,
                    f"The request headers are larger than this server accepts ({limits.max_header_bytes // 1024} KiB).",
                    "headers_too_large",
                )
                if oversized
                else ApiError(400, "Invalid HTTP request.", "invalid_http_request")
            )
            body = json.dumps(error.body()).encode()
            try:
                for event in (
                    h11.Response(
                        status_code=error.status,
                        reason=b"",
                        headers=[(b"content-type", b"application/json"), (b"connection", b"close")],
                    ),
                    h11.Data(data=body),
                    h11.EndOfMessage(),
                ):
                    self.transport.write(self.conn.send(event))
            except h11.LocalProtocolError:
                pass  # a response had already started: just close
            self.transport.close()

    return GuardedH11Protocol


# --- the FastAPI app ---------------------------------------------------------------------------


def create_api(orchestrator_app, api_key: str | None = None, limits: ServeLimits | None = None) -> FastAPI:
    """A FastAPI app serving `orchestrator_app` (an OrchestratorApp, or anything with .stream())."""
    from contextlib import asynccontextmanager

    from fastapi import Depends, FastAPI, Header
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response, StreamingResponse
    from starlette.exceptions import HTTPException

    limits = limits or ServeLimits()
    gate = GenerationGate(limits.max_waiting)
    # Plain math never needs the model: one thread of its own. Everything else is routed, retrieved
    # (and maybe refused) on a few threads, and takes a generation slot only when it calls the model;
    # the extra threads keep routing going while every slot is taken.
    quick_lane = WorkLane(limits.max_quick_waiting, name="quick")
    work_lane = WorkLane(limits.max_pending, workers=gate.limit + 2, name="work")
    lazy_admission: list[bool] = []  # computed at the first request that may generate (loads the model)
    started = int(time.time())
    count_tokens = token_counter(orchestrator_app)
    settings = getattr(orchestrator_app, "settings", None)
    n_ctx = getattr(settings, "n_ctx", None)
    default_max_tokens = getattr(settings, "max_tokens", limits.max_tokens)

    @asynccontextmanager
    async def lifespan(_app):
        yield
        work_lane.shutdown()
        quick_lane.shutdown()

    # docs_url etc. off: the API surface is exactly the three endpoints below.
    api = FastAPI(title="orchestrator", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    api.add_middleware(RequestGuard, limits=limits)
    api.state.gate = gate
    api.state.quick_lane = quick_lane
    api.state.work_lane = work_lane

    def busy() -> ApiError:
        return ApiError(
            429,
            "The server is busy (one generation at a time, a short queue full): retry shortly.",
            "rate_limit_exceeded",
            kind="rate_limit_error",
            headers={"Retry-After": str(limits.retry_after_s)},
        )

    def error_response(exc: ApiError) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers or None)

    @api.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError):
        return error_response(exc)

    @api.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException):
        codes = {
            404: ("not_found", "No such endpoint: this server has /v1/chat/completions, /v1/models and /health."),
            405: ("method_not_allowed", "This endpoint does not accept that method."),
        }
        code, message = codes.get(exc.status_code, ("http_error", str(exc.detail)))
        return error_response(
            ApiError(exc.status_code, message, code, headers=dict(exc.headers) if exc.headers else None)
        )

    @api.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError):
        return error_response(validation_error(exc.errors()))

    @api.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception):
        # Logged in full on the server; the client learns only that it failed (no paths, no internals).
        import logging

        logging.getLogger("orchestrator.serve").error("request failed", exc_info=exc)
        return error_response(
            ApiError(500, f"Internal error ({type(exc).__name__}).", "internal_error", kind="server_error")
        )

    def require_key(authorization: str | None = Header(default=None)) -> None:
        if api_key and not key_matches(authorization, api_key):
            raise ApiError(
                401, "Invalid or missing API key: send the header 'Authorization: Bearer <key>'.", "invalid_api_key"
            )

    @api.get("/health")
    async def health() -> dict:
        # Unauthenticated on purpose (for load balancers); it reveals nothing but liveness and load.
        return {"status": "ok", "busy": gate.admitted}

    @api.get("/v1/models", dependencies=[Depends(require_key)])
    async def models() -> dict:
        return {
            "object": "list",
            "data": [{"id": SERVED_MODEL, "object": "model", "created": started, "owned_by": "orchestrator"}],
        }

    @api.post("/v1/chat/completions", dependencies=[Depends(require_key)])
    async def chat_completions(request: ChatRequest, http_request: Request):
        payload = app_input(request, limits)
        payload["history"] = trim_history(payload["history"], limits.max_history_tokens, count_tokens)
        sampling = sampling_options(request, limits)
        quick = needs_no_llm(payload)
        if not quick:
            # The app budgets the context with its own max_tokens, whatever the request asked for.
            check_fits_context(
                payload["question"],
                count_tokens,
                n_ctx,
                default_max_tokens,
                lambda: prompt_overhead(orchestrator_app, count_tokens),
            )
        lane = quick_lane if quick else work_lane
        if not lane.try_admit():
            raise busy()
        if not quick and not lazy_admission:
            lazy_admission.append(generates_through_llama(orchestrator_app))
        up_front = not quick and not lazy_admission[0]
        if up_front and not gate.try_admit():
            lane.release()
            raise busy()
        app = orchestrator_app
        if sampling and not quick and hasattr(app, "with_chat_model"):
            app = app.with_chat_model(app.chat_model.bind(**sampling))
        completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        items = lane.start(
            lambda: app.stream(payload), limits.max_request_s, None if quick else gate, admitted=up_front
        )
        try:
            if request.stream:
                items = await admitted_items(items)  # 429, not a 200 that fails, when the queue is full
                return StreamingResponse(
                    stream_events(items, completion_id, created, payload, count_tokens, limits.max_request_s),
                    media_type="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
                )
            answer = await unless_disconnected(
                final_answer(items, payload["question"], limits.max_request_s), http_request.receive
            )
        except GenerationBusy:
            raise busy() from None
        except ClientGone:
            return Response(status_code=499)  # nobody reads it; nginx's code for "client closed request"
        if answer.error and not answer.answer:
            raise ApiError(500, without_paths(answer.error), "app_error", kind="server_error")
        return completion_body(completion_id, created, answer, usage(payload, answer, count_tokens))

    return api


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


async def stream_events(
    items: AsyncIterator,
    completion_id: str,
    created: int,
    payload: dict,
    count_tokens: Callable[[str], int],
    limit_s: float,
) -> AsyncIterator[str]:
    """OpenAI's streaming shape: a role chunk, content chunks, a final chunk (+ our extra field), [DONE].

    An error after the 200 has been sent ends the stream with one `data: {"error": {...}}` event and
    no [DONE] (the official openai client raises openai.APIError on it).
    """
    yield sse(chunk_body(completion_id, created, {"role": "assistant", "content": ""}))
    pieces: list[str] = []
    try:
        async for item in items:
            if isinstance(item, str):
                if item:
                    pieces.append(item)
                    yield sse(chunk_body(completion_id, created, {"content": item}))
            elif isinstance(item, Answer):
                if item.error and not item.answer:
                    yield sse(ApiError(500, without_paths(item.error), "app_error", kind="server_error").body())
                    return
                yield final_chunk(completion_id, created, item, payload, count_tokens)
    except TimedOut:
        yield final_chunk(
            completion_id, created, stopped_answer(payload["question"], pieces, limit_s), payload, count_tokens
        )
    except Exception as exc:  # headers are already sent: report in-band, as OpenAI's stream does
        import logging

        logging.getLogger("orchestrator.serve").error("streamed request failed", exc_info=exc)
        yield sse(
            ApiError(500, f"Internal error ({type(exc).__name__}).", "internal_error", kind="server_error").body()
        )
        return
    yield sse("[DONE]")


def final_chunk(
    completion_id: str, created: int, answer: Answer, payload: dict, count_tokens: Callable[[str], int]
) -> str:
    return sse(
        chunk_body(
            completion_id,
            created,
            {},
            answer.finish_reason or "stop",
            usage=usage(payload, answer, count_tokens),
            orchestrator=orchestrator_extra(answer),
        )
    )


# --- running it --------------------------------------------------------------------------------


def connection_cap(wanted: int) -> int:
    """`wanted`, lowered to leave file descriptors for the model, the store and logs."""
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, ValueError, OSError):
        return wanted
    return max(16, min(wanted, soft - 64)) if soft != resource.RLIM_INFINITY else wanted


def server_config(api: FastAPI, host: str, port: int, limits: ServeLimits | None = None, log_level: str = "info"):
    """The uvicorn configuration `serve` runs with (tests start servers with exactly this)."""
    import uvicorn

    limits = limits or ServeLimits()
    return uvicorn.Config(
        api,
        host=bind_address(host),
        port=port,
        log_level=log_level,
        access_log=False,
        # uvicorn types its timeouts as int but uses them as float seconds (asyncio); fractions are kept.
        timeout_graceful_shutdown=limits.graceful_shutdown_s,  # type: ignore[arg-type]
        server_header=False,
        ws="none",
        http=guarded_protocol(limits, connection_cap(limits.max_connections)),
        h11_max_incomplete_event_size=limits.max_header_bytes,
        timeout_keep_alive=limits.keep_alive_s,  # type: ignore[arg-type]
        # No limit_concurrency: it counts idle sockets too, so a few silent ones locked everyone out
        # with 503. The read deadline and the connection cap above bound sockets instead, and the
        # generation gate bounds the work.
        limit_concurrency=None,
    )


def run_server(
    api: FastAPI, host: str, port: int, api_key: str | None, limits: ServeLimits | None = None, log_level: str = "info"
) -> None:
    """Serve until SIGINT/SIGTERM; uvicorn then stops accepting, lets running requests finish, and exits."""
    import uvicorn

    check_bind(host, api_key)
    uvicorn.Server(server_config(api, host, port, limits, log_level)).run()
