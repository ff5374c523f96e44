"""The FastAPI app: the endpoints, wired to the schema, the lanes and the guards.

FastAPI is imported only here.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, AsyncIterator, Callable

from starlette.requests import Request  # module-level: FastAPI resolves the endpoints' annotations here

from orchestrator.chains.chat import trim_history
from orchestrator.result import Answer
from orchestrator.serve.lanes import (
    ClientGone,
    GenerationBusy,
    GenerationGate,
    TimedOut,
    WorkLane,
    admitted_items,
    final_answer,
    generates_through_llama,
    unless_disconnected,
)
from orchestrator.serve.limits import ServeLimits, key_matches
from orchestrator.serve.protocol import RequestGuard
from orchestrator.serve.schema import (
    SERVED_MODEL,
    ApiError,
    ChatRequest,
    app_input,
    check_fits_context,
    chunk_body,
    completion_body,
    orchestrator_extra,
    prompt_overhead,
    sampling_options,
    sse,
    stopped_answer,
    token_counter,
    usage,
    validation_error,
    without_paths,
)

if TYPE_CHECKING:
    from fastapi import FastAPI


def needs_no_llm(orchestrator_app, payload: dict) -> bool:
    """True for questions the app says it answers without the model (plain math, solved by SymPy).

    An app without `needs_model` (a stand-in) is taken to need it for every question.
    """
    needs_model = getattr(orchestrator_app, "needs_model", None)
    return callable(needs_model) and not needs_model(payload["question"], payload.get("route"))


def stream_usage_wanted(request: ChatRequest) -> bool:
    """stream_options.include_usage, as OpenAI checks it (stream_options without stream is a 400)."""
    if request.stream_options is None:
        return False
    if not request.stream:
        raise ApiError(400, "stream_options is allowed only when stream is true.", "invalid_value", "stream_options")
    include = request.stream_options.get("include_usage", False)
    if not isinstance(include, bool):
        raise ApiError(
            400, "stream_options.include_usage must be true or false.", "invalid_type", "stream_options.include_usage"
        )
    return include


def model_card(created: int) -> dict:
    return {"id": SERVED_MODEL, "object": "model", "created": created, "owned_by": "orchestrator"}


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
            404: (
                "not_found",
                "No such endpoint: this server has /v1/chat/completions, /v1/models, /v1/models/{model} and /health.",
            ),
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
        # Reached only outside the endpoints (which turn failures into ApiErrors, keeping the connection).
        return error_response(failure(exc))

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
        return {"object": "list", "data": [model_card(started)]}

    @api.get("/v1/models/{model_id}", dependencies=[Depends(require_key)])
    async def model(model_id: str) -> dict:
        if model_id != SERVED_MODEL:
            raise ApiError(
                404,
                f"The model {model_id!r} does not exist here; this server serves {SERVED_MODEL!r}.",
                "model_not_found",
                "model",
            )
        return model_card(started)

    @api.post("/v1/chat/completions", dependencies=[Depends(require_key)])
    async def chat_completions(request: ChatRequest, http_request: Request):
        payload = app_input(request, limits)
        payload["history"] = trim_history(payload["history"], limits.max_history_tokens, count_tokens)
        sampling = sampling_options(request, limits)
        include_usage = stream_usage_wanted(request)
        quick = needs_no_llm(orchestrator_app, payload)
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
                    stream_events(
                        items, completion_id, created, payload, count_tokens, limits.max_request_s, include_usage
                    ),
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
        except ApiError:
            raise
        except Exception as exc:  # an ApiError, unlike an exception starlette re-raises, keeps the connection open
            raise failure(exc) from None
        if answer.error and not answer.answer and answer.finish_reason != "length":
            raise ApiError(500, without_paths(answer.error), "app_error", kind="server_error")
        return completion_body(completion_id, created, answer, usage(payload, answer, count_tokens))

    return api


async def stream_events(
    items: AsyncIterator,
    completion_id: str,
    created: int,
    payload: dict,
    count_tokens: Callable[[str], int],
    limit_s: float,
    include_usage: bool = False,
) -> AsyncIterator[str]:
    """OpenAI's streaming shape: a role chunk, content chunks, a final chunk (+ our extra field), [DONE].

    With stream_options.include_usage, a chunk with no choices and the usage comes before [DONE], as
    OpenAI sends it; without, no usage is sent.

    An error after the 200 has been sent ends the stream with one `data: {"error": {...}}` event and
    no [DONE] (the official openai client raises openai.APIError on it).
    """
    yield sse(chunk_body(completion_id, created, {"role": "assistant", "content": ""}))
    pieces: list[str] = []
    final: Answer | None = None
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
                final = item
    except TimedOut as stopped:
        final = stopped_answer(payload["question"], pieces, limit_s, stopped.answer, stopped.elapsed_s)
    except Exception as exc:  # headers are already sent: report in-band, as OpenAI's stream does
        yield sse(failure(exc).body())
        return
    if final is not None:
        yield sse(
            chunk_body(
                completion_id, created, {}, final.finish_reason or "stop", orchestrator=orchestrator_extra(final)
            )
        )
        if include_usage:
            yield sse(
                {**chunk_body(completion_id, created, {}), "choices": [], "usage": usage(payload, final, count_tokens)}
            )
    yield sse("[DONE]")


def failure(exc: BaseException) -> ApiError:
    """An unexpected exception as the client sees it: 503/502 when the model's server failed, else 500.

    Logged in full on the server; the client learns only what failed (no paths, no internals).
    """
    from orchestrator.llm import backend_failure

    backend = backend_failure(exc)
    if backend is not None:
        status, reason = backend
        return ApiError(
            status,
            f"The model is unavailable ({reason}): retry shortly.",
            "backend_unavailable",
            kind="server_error",
            headers={"Retry-After": "5"} if status == 503 else None,
        )
    import logging

    logging.getLogger("orchestrator.serve").error("request failed", exc_info=exc)
    return ApiError(500, f"Internal error ({type(exc).__name__}).", "internal_error", kind="server_error")
