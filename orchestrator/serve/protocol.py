"""The HTTP-level guards (Host check, body and header limits, read deadline, connection cap) and the uvicorn server.

uvicorn and h11 are imported only here.
"""

from __future__ import annotations

import asyncio
import json
import re
from http import HTTPStatus
from typing import TYPE_CHECKING

from orchestrator.serve.limits import ServeLimits, bind_address, check_bind, host_allowed
from orchestrator.serve.schema import ApiError

if TYPE_CHECKING:
    from fastapi import FastAPI


async def send_error(send, error: ApiError, close: bool = False) -> None:
    """Send `error` as a complete JSON response from ASGI."""
    body = json.dumps(error.body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in (error.headers or {}).items()]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def media_type(content_type: str | None) -> str:
    """The media type of a Content-Type header, lower-cased, without parameters: "application/json"."""
    return (content_type or "").partition(";")[0].strip().lower()


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
        if scope["method"] == "POST" and media_type(headers.get(b"content-type")) != "application/json":
            # A web page may POST text/plain (or no type) to any address without a CORS preflight; on a
            # keyless loopback server, a body parsed as JSON whatever its type would let it ask questions.
            return await send_error(
                send,
                ApiError(
                    415,
                    "Send the request body as JSON, with the header 'Content-Type: application/json'.",
                    "unsupported_media_type",
                    "Content-Type",
                ),
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


_HEADERS_END = re.compile(rb"\n\r?\n")  # h11 accepts bare LF line ends too


def headers_too_large(limit: int) -> ApiError:
    return ApiError(
        431, f"The request headers are larger than this server accepts ({limit // 1024} KiB).", "headers_too_large"
    )


def write_error_and_close(transport, error: ApiError) -> None:
    """Write `error` as a whole HTTP/1.1 response straight to the socket, then close it (no request was parsed)."""
    body = json.dumps(error.body()).encode()
    head = (
        f"HTTP/1.1 {error.status} {HTTPStatus(error.status).phrase}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    if not transport.is_closing():
        transport.write(head.encode("ascii") + body)
        transport.close()


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
        _head: bytearray | None = None  # the bytes of a request that has not finished its headers yet

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                transport.abort()  # refusing beats running out of file descriptors
                return
            self._arm_read_deadline()

        def data_received(self, data: bytes) -> None:
            if self.cycle is None or self.cycle.response_complete:  # these bytes begin a request
                self._arm_read_deadline()
                if self._head is None:
                    self._head = bytearray()
            if self._head is not None and self._headers_too_large(data):
                return
            super().data_received(data)
            if self.cycle is not None and not self.cycle.response_complete and not self.cycle.more_body:
                self._disarm_read_deadline()  # the whole request is in

        def _headers_too_large(self, data: bytes) -> bool:
            """Count this request's bytes up to its blank line; past the limit, answer 431 and close.

            h11_max_incomplete_event_size bounds only headers that arrive in pieces: a whole header
            block read at once (up to ~200 KB) passed it.
            """
            head = self._head
            assert head is not None
            searched_to = max(0, len(head) - 3)
            head += data
            end = _HEADERS_END.search(head, searched_to)
            size = end.start() if end else len(head)
            if size > limits.max_header_bytes:
                self._head = None
                self._disarm_read_deadline()
                write_error_and_close(self.transport, headers_too_large(limits.max_header_bytes))
                return True
            if end:
                self._head = None  # the headers are complete; the body is not counted here
            return False

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
                headers_too_large(limits.max_header_bytes)
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
