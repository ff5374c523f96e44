"""The real app (default model, real embeddings, real Chroma) under concurrent callers: threads,
gathered coroutines and LangServe. Before issue 21 these crashed the process (GGML_ASSERT, SIGABRT,
segfaults); now every answer must match the one the same question gets alone."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

# The same question mix as the benchmark, so benchmarks/concurrency.py times what this test checks.
from benchmarks.concurrency import DOC as SB50
from benchmarks.concurrency import QUESTIONS, standin_search
from orchestrator import Settings, build_app

pytestmark = pytest.mark.integration

@pytest.fixture(scope="module")
def real_app(tmp_path_factory, default_model_path, embedding_model_path):
    from tests.conftest import TEST_MODELS_DIR

    data = tmp_path_factory.mktemp("concurrency")
    docs = data / "docs"
    docs.mkdir()
    (docs / "sb50.txt").write_text(SB50)
    settings = Settings(data_dir=data / "data", models_dir=TEST_MODELS_DIR, temperature=0.0, max_tokens=64)
    app = build_app(settings, search=standin_search)
    app.ingest([docs])
    return app


@pytest.fixture(scope="module")
def alone(real_app):
    """Each question's answer when it runs by itself: what the concurrent runs must reproduce."""
    return [real_app.invoke(q).answer for q in QUESTIONS]


def check(answers, alone):
    assert [a.error for a in answers] == [None] * len(QUESTIONS)
    assert [a.answer for a in answers] == alone
    assert all(text.strip() for text in alone)
    assert "91.94988" in alone[1] and "372" in alone[5] and "1267650600228229401496703205376" in alone[7]
    assert "Broncos" in alone[2] and "Guterres" in alone[3] and "2016" in alone[6]


def test_eight_threads_across_all_routes(real_app, alone):
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(real_app.invoke, QUESTIONS))
    check(answers, alone)


def test_eight_gathered_coroutines_across_all_routes(real_app, alone):
    async def gathered():
        return await asyncio.gather(*(real_app.ainvoke(q) for q in QUESTIONS))

    check(asyncio.run(gathered()), alone)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def langserve_url(real_app):
    pytest.importorskip("langserve")
    import uvicorn
    from fastapi import FastAPI
    from langserve import add_routes

    api = FastAPI()
    add_routes(api, real_app, path="/orchestrator")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(api, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/orchestrator"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_langserve_two_concurrent_requests_and_bad_input(langserve_url, alone):
    import httpx

    def ask(question):
        return httpx.post(f"{langserve_url}/invoke", json={"input": question}, timeout=120)

    with ThreadPoolExecutor(max_workers=2) as pool:
        responses = list(pool.map(ask, [QUESTIONS[0], QUESTIONS[2]]))
    assert [r.status_code for r in responses] == [200, 200]
    assert [r.json()["output"]["answer"] for r in responses] == [alone[0], alone[2]]
    assert ask({"qestion": "typo"}).status_code == 422

    events = httpx.post(f"{langserve_url}/stream_events", json={"input": QUESTIONS[4]}, timeout=120).text
    assert "on_chain_start" in events and "on_chain_stream" in events and "on_chain_end" in events
