"""A DuckDuckGo-shaped HTML search endpoint on 127.0.0.1 for offline tests of the web search tool.

The page layout follows html.duckduckgo.com's result markup (result__body / result__title /
result__extras__url / result__snippet, ads linking through duckduckgo.com/y.js), which is what
ddgs's `duckduckgo` engine parses with its `items_xpath` and `elements_xpath`.

Use the `search_standin` fixture: it starts a server, points ddgs's duckduckgo engine at it and
clears proxy variables (primp honours HTTP_PROXY even for 127.0.0.1). Script each request's answer
with `standin.queue(...)`; unscripted requests get `standin.default`.
"""

from __future__ import annotations

import html
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy", "DDGS_PROXY")


@dataclass(frozen=True)
class Hit:
    """One organic result as the page shows it."""

    title: str
    url: str
    snippet: str
    date: str | None = None  # shown as DuckDuckGo does: "2024-06-14T00:00:00.0000000"


@dataclass(frozen=True)
class Results:
    """Answer 200 with a results page (an empty list gives DuckDuckGo's "No results." page)."""

    hits: Sequence[Hit]
    with_ad: bool = True


@dataclass(frozen=True)
class Status:
    """Answer with this status and a short body, e.g. 202 as DuckDuckGo does when rate-limiting."""

    code: int
    body: str = "<html><body><div class='anomaly-modal'>Please try again.</div></body></html>"


@dataclass(frozen=True)
class Hang:
    """Accept the request and never answer (until the server stops): a silently dropped reply."""


Behaviour = Results | Status | Hang


def render_results_page(hits: Sequence[Hit], *, with_ad: bool = True) -> str:
    """An html.duckduckgo.com-like results page."""
    blocks = [_ad_block()] if with_ad and hits else []
    blocks += [_result_block(hit) for hit in hits]
    if not hits:
        blocks.append('<div class="no-results">No results.</div>')
    return (
        "<!DOCTYPE html><html><head><title>DuckDuckGo</title></head><body>"
        '<div id="links" class="results">' + "".join(blocks) + "</div></body></html>"
    )


def _result_block(hit: Hit) -> str:
    url = html.escape(hit.url, quote=True)
    date = f"<span>&nbsp; &nbsp; {html.escape(hit.date)}T00:00:00.0000000</span>" if hit.date else ""
    return (
        '<div class="result results_links results_links_deep web-result ">'
        '<div class="links_main links_deep result__body">'
        f'<h2 class="result__title"><a rel="nofollow" class="result__a" href="{url}">{html.escape(hit.title)}</a></h2>'
        '<div class="result__extras"><div class="result__extras__url">'
        f'<a class="result__url" href="{url}">{html.escape(urlsplit(hit.url).netloc)}</a>{date}'
        "</div></div>"
        f'<a class="result__snippet" href="{url}">{html.escape(hit.snippet)}</a>'
        '<div class="clear"></div></div></div>'
    )


def _ad_block() -> str:
    ad = "https://duckduckgo.com/y.js?ad_domain=ads.example&amp;u3=x"
    return (
        '<div class="result results_links results_links_deep result--ad ">'
        '<div class="links_main links_deep result__body">'
        f'<h2 class="result__title"><a class="result__a" href="{ad}">Sponsored thing</a></h2>'
        f'<a class="result__snippet" href="{ad}">Buy now</a></div></div>'
    )


@dataclass
class SearchStandin:
    """A threaded HTTP server answering each request with the next queued behaviour."""

    default: Behaviour = field(default_factory=lambda: Results([]))
    requests: list[dict[str, list[str]]] = field(default_factory=list)
    _script: deque[Behaviour] = field(default_factory=deque)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the stand-in first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/html/"

    def queue(self, *behaviours: Behaviour) -> None:
        with self._lock:
            self._script.extend(behaviours)

    def start(self) -> SearchStandin:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode("utf-8"))
                standin._answer(self, form)

            def do_GET(self) -> None:  # noqa: N802
                standin._answer(self, parse_qs(urlsplit(self.path).query))

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # A short poll interval makes shutdown() (once per test) take milliseconds instead of 0.5 s.
        serve = lambda: self._server.serve_forever(poll_interval=0.02)  # noqa: E731
        threading.Thread(target=serve, name="search-standin", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _answer(self, handler: BaseHTTPRequestHandler, form: dict[str, list[str]]) -> None:
        with self._lock:
            self.requests.append(form)
            behaviour = self._script.popleft() if self._script else self.default
        if isinstance(behaviour, Hang):
            self._stop.wait(timeout=60)
            return
        if isinstance(behaviour, Status):
            code, body = behaviour.code, behaviour.body
        else:
            code, body = 200, render_results_page(behaviour.hits, with_ad=behaviour.with_ad)
        data = body.encode("utf-8")
        handler.send_response(code)
        handler.send_header("Content-Type", "text/html; charset=utf-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


@pytest.fixture
def search_standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[SearchStandin]:
    """A running stand-in that ddgs's duckduckgo engine sends its requests to."""
    from ddgs.engines.duckduckgo import Duckduckgo

    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    standin = SearchStandin().start()
    monkeypatch.setattr(Duckduckgo, "search_url", standin.url)
    try:
        yield standin
    finally:
        standin.stop()
