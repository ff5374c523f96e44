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


def test_embedding_runs_beside_a_generation_with_the_same_results(real_app):
    """Two llama.cpp contexts (chat model, embedder), each with its own lock, used from two threads at once;
    and the chat model's tokenizer, which takes no lock, used during its own generation.

    llama.cpp's rule is one thread per object; the two are separate models and contexts. Each must
    give exactly what it gives alone, and the embeddings must really overlap the generation.
    """
    import numpy as np

    from orchestrator.llm import count_tokens, llama_client

    texts = [f"Sentence {n}: the river bends twice before it reaches the mountain lake." for n in range(32)]
    messages = [("human", "Write a long story about a lighthouse keeper and a storm.")]
    model, embeddings = real_app.chat_model, real_app.embeddings

    def tell() -> list[str]:
        # Forget the cached prompt: llama-cpp-python would otherwise re-evaluate only its last token, and a
        # one-token batch gives slightly different logits than the whole prompt (another greedy story).
        llama_client(model).reset()
        return [chunk.content for chunk in model.stream(messages)]

    story_alone = "".join(tell())
    vectors_alone = np.array(embeddings.embed_documents(texts))
    counts_alone = [count_tokens(model, text) for text in texts]  # tokenising takes no lock at all

    first_token, story = threading.Event(), []
    llama_client(model).reset()
    generating = threading.Thread(
        target=lambda: [story.append(c.content) or first_token.set() for c in model.stream(messages)]
    )
    generating.start()
    assert first_token.wait(120)
    rounds_during = 0
    while generating.is_alive():
        vectors = np.array(embeddings.embed_documents(texts))
        assert np.allclose(vectors, vectors_alone, atol=1e-6)
        assert [count_tokens(model, text) for text in texts] == counts_alone
        rounds_during += generating.is_alive()
    generating.join()
    assert "".join(story) == story_alone
    print(f"{rounds_during} embedding rounds of {len(texts)} texts finished during the generation")
    assert rounds_during >= 1, "no embedding finished while the generation ran: they did not overlap"
