"""The app behind LangServe's add_routes, on a real server on 127.0.0.1, used through RemoteRunnable (issue 31, items 17, 19).

A fake chat model keeps it fast; the server, the HTTP and LangServe's client are real.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
from langchain_core.runnables import RunnableLambda

from orchestrator import Answer, Settings, build_app
from tests.helpers.fake_chat import ScriptedChatModel
from tests.helpers.word_hash import WordHashEmbeddings

pytest.importorskip("langserve")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    """The URL of the app under add_routes on a uvicorn server in a thread."""
    import uvicorn
    from fastapi import FastAPI
    from langserve import add_routes

    app = build_app(
        Settings(data_dir=tmp_path),
        chat_model=ScriptedChatModel(replies=["Hello from the lighthouse keeper."], history=[]),
        embeddings=WordHashEmbeddings(),
        retriever=None,
    )
    api = FastAPI()
    add_routes(api, app, path="/orchestrator")
    add_routes(api, app.text(), path="/text")
    add_routes(api, app | RunnableLambda(lambda answer: answer.route), path="/route")
    server = uvicorn.Server(uvicorn.Config(api, host="127.0.0.1", port=_free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}/orchestrator"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


CHAT = {"question": "Say hello.", "route": "chat"}


def _check_chunks(chunks: list) -> None:
    assert all(isinstance(chunk, dict) for chunk in chunks)
    texts = [chunk["answer"] for chunk in chunks[:-1]]
    assert len(texts) > 1 and "".join(texts) == "Hello from the lighthouse keeper."
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    answer = Answer.model_validate(total)
    assert answer.route == "chat" and answer.answer == "Hello from the lighthouse keeper."


def test_remote_stream_and_astream_run_to_the_end(served):
    from langserve import RemoteRunnable

    remote = RemoteRunnable(served)
    _check_chunks(list(remote.stream(CHAT)))

    async def collect() -> list:
        return [chunk async for chunk in remote.astream(CHAT)]

    _check_chunks(asyncio.run(collect()))


def test_served_text_and_chains_stream_as_before(served):
    from langserve import RemoteRunnable

    base = served.rsplit("/", 1)[0]
    assert "".join(RemoteRunnable(f"{base}/text").stream(CHAT)) == "Hello from the lighthouse keeper."
    assert list(RemoteRunnable(f"{base}/route").stream(CHAT)) == ["chat"]


def test_remote_invoke_still_gives_the_answer(served):
    from langserve import RemoteRunnable

    answer = RemoteRunnable(served).invoke({"question": "What is 12 * 12?"})
    assert answer["route"] == "math" and answer["answer"].startswith("12*12 = 144")


def test_the_python_stream_is_unchanged(tmp_path):
    app = build_app(
        Settings(data_dir=tmp_path), chat_model=ScriptedChatModel(replies=["Hi there."], history=[]), retriever=None
    )
    items = list(app.stream(CHAT))
    assert isinstance(items[-1], Answer) and "".join(items[:-1]) == "Hi there."


@pytest.mark.parametrize("question", ["", "   "])
def test_a_blank_question_is_a_422_not_a_500(served, question):
    import httpx

    response = httpx.post(f"{served}/invoke", json={"input": {"question": question}}, timeout=30)
    assert response.status_code == 422, response.text
    assert "The question is empty" in response.text
