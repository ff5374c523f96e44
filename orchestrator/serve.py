"""The whole app (routing, tools, retrieval) as an OpenAI-compatible HTTP API, and the server runner.

Endpoints: POST /v1/chat/completions (JSON, or SSE when "stream": true), GET /v1/models, GET /health.
The wire format follows OpenAI's chat completions API
(https://platform.openai.com/docs/api-reference/chat), so any OpenAI client or UI can talk to it.
Each response carries one extra field, "orchestrator": route, route_reason, sources, tool_calls,
abstained, error, latency_s.

FastAPI and uvicorn are imported only by this module.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, AsyncIterator, Callable, Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.errors import ConfigError
from orchestrator.result import Answer

if TYPE_CHECKING:
    from fastapi import FastAPI

SERVED_MODEL = "orchestrator"
MIN_KEY_LENGTH = 16
_DONE = object()


@dataclass(frozen=True)
class ServeLimits:
    """What one client may ask of the server."""

    max_body_bytes: int = 64 * 1024
    max_tokens: int = 256  # a request asking for more gets 400; the answers use the app's ORCH_MAX_TOKENS
    max_waiting: int = 2  # requests queued behind the one generating; beyond that, 429 at once
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


def check_bind(host: str, api_key: str | None) -> None:
    """Refuse to serve beyond this machine without an API key, and refuse guessable keys."""
    if api_key is not None and len(api_key) < MIN_KEY_LENGTH:
        raise ConfigError(f"The API key must be at least {MIN_KEY_LENGTH} characters (try: python -c \"import secrets; print(secrets.token_urlsafe(32))\").")
    if not api_key and not is_loopback(host):
        raise ConfigError(
            f"Refusing to listen on {host} without an API key: anyone who can reach it could use the model. "
            "Pass --api-key (or set ORCH_SERVE_API_KEY), or bind to 127.0.0.1."
        )


def key_matches(authorization: str | None, api_key: str) -> bool:
    """Constant-time comparison of the bearer token with the key (hmac.compare_digest)."""
    scheme, _, token = (authorization or "").partition(" ")
    presented = token.strip() if scheme.lower() == "bearer" else ""
    return hmac.compare_digest(presented.encode("utf-8"), api_key.encode("utf-8"))


# --- request schema ----------------------------------------------------------------------------


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict] | None = None


class ChatRequest(BaseModel):
    """The fields of an OpenAI chat completion request this server uses; others are ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    route: str | None = Field(default=None, description="Extension: force a route (auto, math, docs, web, chat).")


class ApiError(Exception):
    """An error returned in OpenAI's shape: {"error": {"message", "type", "param", "code"}}."""

    def __init__(self, status: int, message: str, code: str, param: str | None = None, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.code, self.param, self.kind = status, message, code, param, kind

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


def message_text(message: ChatMessage) -> str:
    """The text of a message; content parts other than text are refused."""
    if message.content is None or isinstance(message.content, str):
        return message.content or ""
    texts = []
    for part in message.content:
        if part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise ApiError(400, "Only text content is supported.", "unsupported_content", "messages")
        texts.append(part["text"])
    return "\n".join(texts)


def app_input(request: ChatRequest, limits: ServeLimits) -> dict:
    """The app's input: the last user message is the question, earlier turns the history.

    System and developer messages are dropped: the server's own system prompt applies, so a client
    cannot replace the instructions that keep answers grounded.
    """
    from langchain_core.messages import AIMessage, HumanMessage

    if request.model not in (None, SERVED_MODEL):
        raise ApiError(404, f"The model {request.model!r} does not exist here; this server serves {SERVED_MODEL!r}.", "model_not_found", "model")
    from orchestrator.chains.router import ROUTES

    if request.route not in (None, "auto", *ROUTES):
        raise ApiError(400, f"Unknown route {request.route!r}: use auto, {', '.join(ROUTES)}.", "invalid_route", "route")
    asked = request.max_completion_tokens or request.max_tokens
    if asked is not None and asked > limits.max_tokens:
        raise ApiError(400, f"max_tokens may be at most {limits.max_tokens} on this server (asked {asked}).", "max_tokens_too_large", "max_tokens")
    *earlier, last = request.messages
    if last.role != "user":
        raise ApiError(400, "The last message must come from the user: it is the question.", "invalid_messages", "messages")
    question = message_text(last).strip()
    if not question:
        raise ApiError(400, "The last user message is empty.", "invalid_messages", "messages")
    history = []
    for message in earlier:
        if message.role in ("tool", "function"):
            raise ApiError(400, "Tool messages are not supported: the server calls its own tools.", "invalid_messages", "messages")
        if message.role == "user":
            history.append(HumanMessage(message_text(message)))
        elif message.role == "assistant":
            history.append(AIMessage(message_text(message)))
    return {"question": question, "history": history, "route": request.route}


# --- response shapes ---------------------------------------------------------------------------


def orchestrator_extra(answer: Answer) -> dict:
    """The extra response field: how the answer was produced."""
    return {
        "route": answer.route, "route_reason": answer.route_reason, "sources": answer.sources,
        "tool_calls": answer.tool_calls, "abstained": answer.abstained, "error": answer.error,
        "latency_s": answer.latency_s,
    }


def completion_body(completion_id: str, created: int, answer: Answer) -> dict:
    return {
        "id": completion_id, "object": "chat.completion", "created": created, "model": SERVED_MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.answer},
                     "finish_reason": answer.finish_reason or "stop"}],
        "usage": {"prompt_tokens": 0, "completion_tokens": answer.completion_tokens, "total_tokens": answer.completion_tokens},
        "orchestrator": orchestrator_extra(answer),
    }


def chunk_body(completion_id: str, created: int, delta: dict, finish_reason: str | None = None, **extra) -> dict:
    return {
        "id": completion_id, "object": "chat.completion.chunk", "created": created, "model": SERVED_MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}], **extra,
    }


def sse(data: dict | str) -> str:
    """One server-sent event (https://html.spec.whatwg.org/multipage/server-sent-events.html)."""
    return f"data: {data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)}\n\n"


# --- one generation at a time ------------------------------------------------------------------


class GenerationGate:
    """Runs generations one at a time on one thread (a llama.cpp context is not thread-safe).

    At most `max_waiting` requests wait behind the running one; try_admit() refuses the rest, so
    clients get a prompt 429 instead of queueing forever. A slot is freed when its generation has
    actually stopped, not when its client went away.
    """

    def __init__(self, max_waiting: int):
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generation")
        self._limit = 1 + max_waiting
        self._admitted = 0
        self._lock = threading.Lock()

    @property
    def admitted(self) -> int:
        return self._admitted

    def try_admit(self) -> bool:
        with self._lock:
            if self._admitted >= self._limit:
                return False
            self._admitted += 1
            return True

    def release(self) -> None:
        with self._lock:
            self._admitted -= 1

    def start(self, make_items: Callable[[], Iterator]) -> AsyncIterator:
        """Submit make_items() to the generation thread now; iterate the result for its items.

        The caller has admitted the request; the slot is released when the generation stops, even
        if nobody ever iterates the result (a client that disconnects before the response starts).
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()

        def put(item, error=None) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, (item, error))
            except RuntimeError:  # the event loop has closed (server shutting down)
                stop.set()

        def work() -> None:
            try:
                items = make_items()
                try:
                    for item in items:
                        put(item)
                        if stop.is_set():  # the client went away: stop generating between tokens
                            break
                finally:
                    getattr(items, "close", lambda: None)()
            except BaseException as exc:  # handed to the request; the generation thread lives on
                put(_DONE, exc)
                return
            put(_DONE)

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


# --- the FastAPI app ---------------------------------------------------------------------------


def create_api(orchestrator_app, api_key: str | None = None, limits: ServeLimits | None = None) -> FastAPI:
    """A FastAPI app serving `orchestrator_app` (an OrchestratorApp, or anything with .stream())."""
    from contextlib import asynccontextmanager

    from fastapi import Depends, FastAPI, Header, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, StreamingResponse

    limits = limits or ServeLimits()
    gate = GenerationGate(limits.max_waiting)
    started = int(time.time())

    @asynccontextmanager
    async def lifespan(_app):
        yield
        gate.shutdown()

    # docs_url etc. off: the API surface is exactly the three endpoints below.
    api = FastAPI(title="orchestrator", lifespan=lifespan, max_body_size=limits.max_body_bytes,
                  docs_url=None, redoc_url=None, openapi_url=None)
    api.state.gate = gate

    @api.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    @api.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first["loc"] if part != "body")
        return JSONResponse(ApiError(400, f"Invalid request: {where}: {first['msg']}", "invalid_request").body(), status_code=400)

    @api.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception):
        # Logged in full on the server; the client learns only that it failed (no paths, no internals).
        import logging

        logging.getLogger("orchestrator.serve").error("request failed", exc_info=exc)
        return JSONResponse(ApiError(500, f"Internal error ({type(exc).__name__}).", "internal_error", kind="server_error").body(),
                            status_code=500)

    def require_key(authorization: str | None = Header(default=None)) -> None:
        if api_key and not key_matches(authorization, api_key):
            raise ApiError(401, "Invalid or missing API key: send the header 'Authorization: Bearer <key>'.", "invalid_api_key")

    @api.get("/health")
    async def health() -> dict:
        # Unauthenticated on purpose (for load balancers); it reveals nothing but liveness and load.
        return {"status": "ok", "busy": gate.admitted}

    @api.get("/v1/models", dependencies=[Depends(require_key)])
    async def models() -> dict:
        return {"object": "list", "data": [{"id": SERVED_MODEL, "object": "model", "created": started, "owned_by": "orchestrator"}]}

    @api.post("/v1/chat/completions", dependencies=[Depends(require_key)])
    async def chat_completions(request: ChatRequest):
        payload = app_input(request, limits)
        if not gate.try_admit():
            raise ApiError(429, "The server is busy (one generation at a time, a short queue full): retry shortly.",
                           "rate_limit_exceeded", kind="rate_limit_error")
        completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        items = gate.start(lambda: orchestrator_app.stream(payload))
        if request.stream:
            return StreamingResponse(stream_events(items, completion_id, created), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        answer = None
        async for item in items:
            answer = item
        if not isinstance(answer, Answer):
            raise ApiError(500, "The app produced no answer.", "no_answer", kind="server_error")
        if answer.error and not answer.answer:
            raise ApiError(500, answer.error, "app_error", kind="server_error")
        return completion_body(completion_id, created, answer)

    return api


async def stream_events(items: AsyncIterator, completion_id: str, created: int) -> AsyncIterator[str]:
    """OpenAI's streaming shape: a role chunk, content chunks, a final chunk (+ our extra field), [DONE]."""
    yield sse(chunk_body(completion_id, created, {"role": "assistant", "content": ""}))
    try:
        async for item in items:
            if isinstance(item, str):
                if item:
                    yield sse(chunk_body(completion_id, created, {"content": item}))
            elif isinstance(item, Answer):
                if item.error and not item.answer:
                    yield sse(ApiError(500, item.error, "app_error", kind="server_error").body())
                    return
                usage = {"prompt_tokens": 0, "completion_tokens": item.completion_tokens, "total_tokens": item.completion_tokens}
                yield sse(chunk_body(completion_id, created, {}, item.finish_reason or "stop",
                                     usage=usage, orchestrator=orchestrator_extra(item)))
    except Exception as exc:  # headers are already sent: report in-band, as OpenAI's stream does
        import logging

        logging.getLogger("orchestrator.serve").error("streamed request failed", exc_info=exc)
        yield sse(ApiError(500, f"Internal error ({type(exc).__name__}).", "internal_error", kind="server_error").body())
        return
    yield sse("[DONE]")


# --- running it --------------------------------------------------------------------------------


def run_server(api: FastAPI, host: str, port: int, api_key: str | None, limits: ServeLimits | None = None,
               log_level: str = "info") -> None:
    """Serve until SIGINT/SIGTERM; uvicorn then stops accepting, lets running requests finish, and exits."""
    import uvicorn

    check_bind(host, api_key)
    limits = limits or ServeLimits()
    config = uvicorn.Config(
        api, host=host, port=port, log_level=log_level, access_log=False,
        timeout_graceful_shutdown=limits.graceful_shutdown_s,
        # Connections beyond this get 503 from uvicorn itself: a backstop against connection floods.
        limit_concurrency=64, server_header=False,
    )
    uvicorn.Server(config).run()
