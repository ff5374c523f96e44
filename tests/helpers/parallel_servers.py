"""Real OpenAI-compatible servers on 127.0.0.1 for integration tests and benchmarks.

`start_llama_server` runs `python -m llama_cpp.server` (chat or embedding mode). That server answers
one request at a time, so `LeastBusyProxy` puts several of them behind one URL: it forwards each
request to the backend with the fewest requests in flight and records how many requests it held at
once, which is what `batch --concurrency` has to raise.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "te", "trailer", "upgrade"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_models_endpoint(process: subprocess.Popen, url: str, log: Path, timeout_s: float = 180.0) -> None:
    """Wait until GET {url}/models answers 200; fail with the server's log when it exits or never answers."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited ({process.returncode}): {log.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/models", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"server did not start in {timeout_s:.0f} s: {log.read_text()[-2000:]}")
        time.sleep(0.3)


@contextmanager
def start_llama_server(
    model: Path, alias: str, log: Path, threads: int = 1, embedding: bool = False, n_ctx: int = 2048
) -> Iterator[str]:
    """`python -m llama_cpp.server` on a free loopback port; yields its /v1 URL and stops it afterwards."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--model_alias",
        alias,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_threads",
        str(threads),
        "--n_threads_batch",
        str(threads),
        # By default this server cuts off a streaming answer when the next request arrives.
        "--interrupt_requests",
        "False",
    ]
    if embedding:
        # BERT attention is not causal: a whole text must fit in one micro-batch (as orchestrator.llm loads it).
        # Flash attention as orchestrator.llm.embedding_load_options: ~2.6x faster here, same vectors.
        command += [
            "--embedding",
            "true",
            "--n_ctx",
            "512",
            "--n_batch",
            "512",
            "--n_ubatch",
            "512",
            "--flash_attn",
            "true",
        ]
    else:
        command += ["--n_ctx", str(n_ctx)]
    with log.open("w") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_for_models_endpoint(process, url, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class LeastBusyProxy:
    """An HTTP proxy on 127.0.0.1 in front of several servers: each request goes to the least busy one.

    Bodies are forwarded whole (a streamed answer arrives at the client in one piece, which its
    parser accepts). `max_in_flight` is the most requests it held at once; `served` counts per backend.
    """

    def __init__(self, backends: list[str]) -> None:
        self.backends = [urlsplit(url) for url in backends]
        self.busy = [0] * len(backends)
        self.served = [0] * len(backends)
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> LeastBusyProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _take_backend(self) -> int:
        with self._lock:
            index = min(range(len(self.busy)), key=lambda i: (self.busy[i], self.served[i]))
            self.busy[index] += 1
            self.served[index] += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return index

    def _release_backend(self, index: int) -> None:
        with self._lock:
            self.busy[index] -= 1
            self.in_flight -= 1

    def _forward(self, method: str, path: str, headers: dict, body: bytes | None) -> tuple[int, list, bytes]:
        index = self._take_backend()
        try:
            backend = self.backends[index]
            connection = http.client.HTTPConnection(backend.hostname, backend.port, timeout=600)
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                return response.status, response.getheaders(), response.read()
            finally:
                connection.close()
        finally:
            self._release_backend(index)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet: the test reads the counters instead
                pass

            def _relay(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP | {"host"}}
                status, response_headers, payload = proxy._forward(method, self.path, headers, body)
                self.send_response(status)
                for name, value in response_headers:
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                self._relay("GET")

            def do_POST(self) -> None:
                self._relay("POST")

        return Handler
