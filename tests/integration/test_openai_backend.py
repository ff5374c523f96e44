"""llm_backend=openai against a real OpenAI-compatible server: llama-cpp-python's own, on 127.0.0.1."""

import json
import os
import subprocess
import sys
import time

import pytest

from tests.integration.test_serve import free_port

pytestmark = pytest.mark.integration

ALIAS = "smollm2-test"
# The batch command as `orchestrator` will have it, built here so the test does not depend on the lead's wiring.
BATCH_CLI = (
    "import typer; from orchestrator.cli.batch import register; "
    "cli = typer.Typer(); cli.callback()(lambda: None); register(cli); cli()"
)


@pytest.fixture(scope="module")
def llama_server(default_model_path, tmp_path_factory):
    """`python -m llama_cpp.server` with the default model; yields its /v1 URL."""
    import httpx

    port = free_port()
    log = tmp_path_factory.mktemp("llama_server") / "server.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(default_model_path),
                "--model_alias",
                ALIAS,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                "2048",
                "--n_threads",
                "2",
                # By default this server cuts off a streaming answer when the next request arrives, which
                # leaves concurrent clients (batch --workers N) with empty answers.
                "--interrupt_requests",
                "False",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"},  # as orchestrator.llm does: no spinning on shared cores
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log.read_text()[-2000:]
            try:
                if httpx.get(url + "/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "llama_cpp.server did not start"
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def openai_env(model_env, llama_server, monkeypatch):
    monkeypatch.setenv("ORCH_LLM_BACKEND", "openai")
    monkeypatch.setenv("ORCH_OPENAI_BASE_URL", llama_server)
    monkeypatch.setenv("ORCH_OPENAI_MODEL", ALIAS)
    monkeypatch.setenv("ORCH_MAX_TOKENS", "24")
    monkeypatch.setenv("ORCH_TEMPERATURE", "0")
    return dict(os.environ)


def test_chat_model_dispatches_on_the_backend(openai_env):
    from langchain_openai import ChatOpenAI

    from orchestrator.config import Settings
    from orchestrator.llm import chat_model, context_window, count_tokens

    model = chat_model(Settings())
    assert isinstance(model, ChatOpenAI) and model.model_name == ALIAS
    assert count_tokens(model, "x" * 40) == 10 and context_window(model, 2048) == 2048  # the non-llama fallbacks
    reply = model.invoke("Say hello.")
    assert reply.content.strip()


LONG_ANSWER_PROMPT = "Write a long story about a lighthouse keeper, her three dogs and a storm that lasts a week."


def test_max_tokens_holds_on_llama_cpp_server(openai_env):
    """langchain-openai names the limit max_completion_tokens, which this server ignores; max_tokens is sent too."""
    from orchestrator.config import Settings
    from orchestrator.llm import chat_model

    assert chat_model(Settings(max_tokens=5)).invoke(LONG_ANSWER_PROMPT).usage_metadata["output_tokens"] <= 5
    # The server route binds each request's own limit; the app streams its answers.
    bound = chat_model(Settings()).bind(max_tokens=7)
    assert bound.invoke(LONG_ANSWER_PROMPT).usage_metadata["output_tokens"] <= 7
    chunks = list(chat_model(Settings(max_tokens=6)).stream(LONG_ANSWER_PROMPT))
    assert sum(chunk.usage_metadata["output_tokens"] for chunk in chunks if chunk.usage_metadata) <= 6


def test_ask_through_the_server(openai_env):
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from orchestrator.cli import app; app()",
            "ask",
            "--route",
            "chat",
            "--json",
            "Say hello.",
        ],
        env=openai_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)
    assert row["route"] == "chat" and row["answer"] and row["error"] is None and 0 < row["completion_tokens"] <= 24


def test_batch_with_four_workers_through_the_server(openai_env, tmp_path):
    questions = tmp_path / "questions.txt"
    questions.write_text("".join(f"Name a colour, number {i}.\n" for i in range(6)))
    output = tmp_path / "answers.jsonl"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            BATCH_CLI,
            "batch",
            str(questions),
            "-o",
            str(output),
            "--route",
            "chat",
            "--workers",
            "4",
        ],
        env=openai_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(rows) == 6 and len({row["id"] for row in rows}) == 6
    assert all(row["answer"] and row["error"] is None and row["completion_tokens"] <= 24 for row in rows)
