"""The real default model, pulled once into the test cache, answering through the app and the CLI."""

import json

import pytest
from typer.testing import CliRunner

from orchestrator import Settings
from orchestrator.app import build_app
from orchestrator.cli import app as cli_app

pytestmark = pytest.mark.integration
runner = CliRunner()


def test_pulled_model_is_verified_and_pull_is_idempotent(default_model_path):
    from orchestrator.models import DEFAULT_CHAT_MODEL, REGISTRY, pull, sha256_of
    from tests.conftest import TEST_MODELS_DIR

    assert sha256_of(default_model_path) == REGISTRY[DEFAULT_CHAT_MODEL].member_sha256
    before = default_model_path.stat().st_mtime_ns
    again = pull(DEFAULT_CHAT_MODEL, Settings(models_dir=TEST_MODELS_DIR))
    assert again == default_model_path and again.stat().st_mtime_ns == before


def test_greedy_answer_is_nonempty_and_ends_cleanly(default_model_path):
    settings = Settings(model=str(default_model_path), temperature=0.0, max_tokens=64)
    answer = build_app(settings).invoke({"question": "Say hello in one short sentence.", "route": "chat"})
    assert answer.error is None
    assert answer.answer.strip()
    assert answer.finish_reason == "stop"  # the model ended the answer itself, not max_tokens
    assert answer.completion_tokens > 0 and answer.latency_s > 0


def test_greedy_answer_is_deterministic(default_model_path):
    settings = Settings(model=str(default_model_path), temperature=0.0, max_tokens=32)
    app = build_app(settings)
    first = app.invoke({"question": "Name a colour.", "route": "chat"}).answer
    assert app.invoke({"question": "Name a colour.", "route": "chat"}).answer == first


def test_ask_json_schema(model_env):
    result = runner.invoke(cli_app, ["ask", "--json", "--route", "chat", "Say hello in one short sentence."])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    assert set(row) == {
        "question",
        "answer",
        "route",
        "sources",
        "abstained",
        "error",
        "latency_s",
        "completion_tokens",
        "tool_calls",
        "route_reason",
        "standalone_question",
    }
    assert row["route"] == "chat" and row["answer"] and row["error"] is None


def test_repl_several_turns_with_commands(model_env, monkeypatch):
    monkeypatch.setenv("ORCH_TEMPERATURE", "0")
    monkeypatch.setenv("ORCH_MAX_TOKENS", "40")
    script = "Hi\n/stats\nWhat is your favourite colour?\n/reset\n/stats\n/help\n/quit\nnever reached\n"
    result = runner.invoke(cli_app, ["chat"], input=script)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    stats = [line for line in lines if line.startswith("last answer:")]
    assert len(stats) == 2 and all("tokens" in line for line in stats)
    assert "Conversation cleared." in result.output
    assert "/reset" in result.output  # the /help text lists the commands
    # two answers were streamed: some text before the first stats line and between stats lines
    first_stats = lines.index(stats[0])
    assert any(line.strip() for line in lines[:first_stats])
    assert "never reached" not in result.output


def test_repl_remembers_then_forgets(model_env, monkeypatch):
    from orchestrator.cli.chat import prepare_app
    from orchestrator.cli.repl import ChatSession, answer_question, run_command

    monkeypatch.setenv("ORCH_MAX_TOKENS", "24")
    session = ChatSession(app=prepare_app(None), make_app=prepare_app)
    answer_question(session, "My name is Ada.")
    answer_question(session, "What is my name?")
    assert len(session.history) == 4
    run_command(session, "/reset")
    assert session.history == []


def test_repl_follow_ups_sources_and_why_with_the_real_model(model_env, monkeypatch):
    """Issue 20: follow-ups stand alone, /sources shows the passage, /why explains in words (real model and embeddings)."""
    monkeypatch.setenv("ORCH_TEMPERATURE", "0")
    script = (
        "How many items can a member borrow?\nand for how long?\n/sources\n/why\n"
        "Who is the head librarian?\nWhat is his name again?\n12*7\nand multiplied by 2?\n/bye\n"
    )
    result = runner.invoke(cli_app, ["chat"], input=script)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "(follow-up, taken as: For how long can a member borrow?)" in out
    after_followup = out.split("taken as: For how long")[1]
    assert "21 days" in after_followup.split("Answered from")[0]
    assert (
        "lark-island-library.txt" in after_followup and "Members may borrow up to 7 items" in after_followup
    )  # /sources
    assert "Answered from your documents (route: docs)" in out  # /why in words
    assert "(follow-up, taken as: What is Tomasz Wren's name?)" in out
    assert "Tomasz Wren" in out.split("taken as: What is Tomasz Wren's name?)")[1]
    assert "(follow-up, taken as: 84 multiplied by 2)" in out and "84*2 = 168" in out and "could not parse" not in out


def test_repl_refuses_the_embedding_model_without_llama_logs_in_a_real_process(model_env, tmp_path):
    """Issue 20 items 1, 3, 11: no traceback, no llama.cpp log line, and the session goes on."""
    import os
    import subprocess
    import sys

    code = "import sys; from orchestrator.cli import app; sys.argv[0] = 'orchestrator'; app()"
    env = {**os.environ, "ORCH_TEMPERATURE": "0", "ORCH_MAX_TOKENS": "16", "ORCH_COLLECTION": "empty"}
    finished = subprocess.run(
        [sys.executable, "-c", code, "chat"],
        input="/model all-minilm-l6-v2\n/chat Say hi.\n/quit\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tmp_path,
    )
    assert finished.returncode == 0, finished.stderr
    assert "is an embedding model" in finished.stderr and "Traceback" not in finished.stderr
    assert "llama_" not in finished.stderr + finished.stdout
    assert finished.stdout.strip()  # the next question was answered
