"""Issue 15: the real uvicorn server, configured exactly as `orchestrator serve` runs it, on 127.0.0.1
against misbehaving clients (idle and trickling sockets, huge headers and bodies, disconnects).

The app behind it is a fast stand-in (no model): these tests are about the HTTP layer.
"""

import json
import socket
import threading
import time
from contextlib import contextmanager

import httpx
import pytest

from orchestrator.result import Answer
from orchestrator.serve import ServeLimits, create_api, server_config

pytestmark = pytest.mark.integration


class TokenApp:
    """Answers math at once; other questions generate a token every 20 ms for up to 10 s (records being stopped)."""

    def __init__(self):
        self.stopped = threading.Event()
        self.tokens = 0

    def needs_model(self, question, route=None):
        return not question.startswith("What is")

    def stream(self, payload):
        if payload["question"].startswith("What is"):
            yield Answer(question=payload["question"], answer="4", route="math")
            return
        try:
            for _ in range(500):
                time.sleep(0.02)
                self.tokens += 1
                yield "tok "
            yield Answer(question=payload["question"], answer="tok " * 500)
        finally:
            self.stopped.set()


@contextmanager
def running_server(app, host="127.0.0.1", **limits):
    import uvicorn

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host.strip("[]"), 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        server_config(create_api(app, None, ServeLimits(**limits)), host, port, ServeLimits(**limits), "warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    try:
        yield server, port
    finally:
        server.should_exit = True
        thread.join(10)


def raw_request(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    return received


def json_body(raw: bytes) -> dict:
    return json.loads(raw.partition(b"\r\n\r\n")[2])


def test_500_idle_and_trickling_sockets_do_not_lock_out_normal_clients():
    app = TokenApp()
    with running_server(app, request_read_s=2.0) as (_server, port):
        url = f"http://127.0.0.1:{port}"
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(400)]
        trickling = [socket.create_connection(("127.0.0.1", port)) for _ in range(100)]
        try:
            for index, sock in enumerate(trickling):
                if index % 10:
                    sock.sendall(b"GET /health HTTP/1.1\r\nHo")
                else:  # complete headers, then a body that trickles
                    sock.sendall(
                        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 1000\r\n\r\n{"
                    )
            with httpx.Client(base_url=url, timeout=5) as client:
                for _ in range(3):
                    started = time.monotonic()
                    assert client.get("/health").status_code == 200
                    assert time.monotonic() - started < 1.0
                    assert client.get("/v1/models").status_code == 200
                    math = client.post(
                        "/v1/chat/completions", json={"messages": [{"role": "user", "content": "What is 2+2?"}]}
                    )
                    assert math.status_code == 200 and math.json()["choices"][0]["message"]["content"] == "4"
                    for sock in trickling:
                        sock.sendall(b"s")  # one more byte each: trickling never resets the deadline
                    time.sleep(0.3)
            time.sleep(2.5)  # past request_read_s: the server has closed them all
            for sock in idle[:20] + trickling[:30]:
                sock.settimeout(2)
                assert sock.recv(100) == b"", "an idle or trickling socket outlived the read deadline"
        finally:
            for sock in idle + trickling:
                sock.close()


def test_huge_headers_get_431_and_huge_bodies_413_in_openai_shape():
    with running_server(TokenApp(), max_header_bytes=16 * 1024, max_body_bytes=64 * 1024) as (_server, port):
        header = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * (8 * 1024 * 1024) + b"\r\n\r\n"
        raw = raw_request(port, header)
        assert raw.startswith(b"HTTP/1.1 431"), raw[:200]
        assert json_body(raw)["error"]["code"] == "headers_too_large"

        started = time.monotonic()
        head = (
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 5000000\r\n\r\n"
        )
        raw = raw_request(port, head + b"{" + b" " * 100_000)
        assert raw.startswith(b"HTTP/1.1 413"), raw[:200]
        assert json_body(raw)["error"]["code"] == "request_too_large" and time.monotonic() - started < 3

        chunked = (
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + b"".join(b"4000\r\n" + b" " * 0x4000 + b"\r\n" for _ in range(8))
        )
        raw = raw_request(port, chunked)
        assert raw.startswith(b"HTTP/1.1 413"), raw[:200]

        assert raw_request(port, b"NOT HTTP\r\n\r\n").startswith(b"HTTP/1.1 400")
        assert "error" in json_body(raw_request(port, b"NOT HTTP\r\n\r\n"))


def test_rebinding_host_is_refused_by_the_real_server():
    with running_server(TokenApp()) as (_server, port):
        refused = httpx.get(f"http://127.0.0.1:{port}/v1/models", headers={"Host": f"rebind.attacker.example:{port}"})
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_host"
        assert httpx.get(f"http://localhost:{port}/v1/models").status_code == 200


def test_a_non_streaming_client_that_disconnects_frees_the_generation_slot():
    app = TokenApp()
    with running_server(app) as (server, port):
        url = f"http://127.0.0.1:{port}"
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(
                f"{url}/v1/chat/completions",
                json={"messages": [{"role": "user", "content": "a long story"}]},
                timeout=0.5,
            )
        assert app.stopped.wait(3), "generation went on after the client left"
        assert app.tokens < 150  # stopped after ~0.5 s of 10 s
        deadline = time.monotonic() + 3
        while httpx.get(f"{url}/health").json()["busy"] != 0:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_a_streaming_client_that_disconnects_stops_its_generation_too():
    app = TokenApp()
    with running_server(app) as (_server, port):
        body = {"messages": [{"role": "user", "content": "a long story"}], "stream": True}
        with httpx.stream("POST", f"http://127.0.0.1:{port}/v1/chat/completions", json=body, timeout=5) as response:
            lines = response.iter_lines()
            assert [next(lines) for _ in range(4)]  # a few events, then hang up
        assert app.stopped.wait(3) and app.tokens < 150


def _ipv6_loopback_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback_available(), reason="no IPv6 loopback on this machine")
def test_serves_on_bracketed_ipv6_loopback():
    with running_server(TokenApp(), host="[::1]") as (_server, port):
        assert httpx.get(f"http://[::1]:{port}/health").status_code == 200


def test_sockets_beyond_the_cap_are_closed_at_once():
    with running_server(TokenApp(), max_connections=20) as (_server, port):
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
        try:
            extra = socket.create_connection(("127.0.0.1", port))
            extra.settimeout(2)
            try:
                assert extra.recv(100) == b""  # closed by the server without waiting for the read deadline
            except ConnectionResetError:
                pass  # aborted: also closed
            finally:
                extra.close()
        finally:
            for sock in held:
                sock.close()
        time.sleep(0.2)
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
