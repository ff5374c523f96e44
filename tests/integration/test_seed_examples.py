"""The project's motivating examples, end to end with the real default model and embedder."""

import json

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app as cli_app

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture
def offline_env(model_env, embedding_model_path, monkeypatch):
    monkeypatch.setenv("ORCH_EMBEDDING_MODEL", str(embedding_model_path))
    monkeypatch.setenv("ORCH_SEARCH_TIMEOUT_S", "2")


def ask(question: str) -> dict:
    result = runner.invoke(cli_app, ["ask", "--json", question])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_division_is_exact_not_llm_arithmetic(offline_env):
    row = ask("What is 40366 / 439?")
    assert row["route"] == "math"
    assert "40366/439" in row["answer"] and "91.94988" in row["answer"]
    assert "92.549" not in row["answer"]


def test_current_prime_minister_is_never_a_stale_guess(offline_env):
    # This machine has no internet: the search must fail fast and the answer must say so.
    row = ask("Who is the British Prime Minister?")
    assert row["route"] == "web" and row["abstained"]
    assert "can't verify current facts" in row["answer"]
    for stale in ("Sunak", "Johnson", "Truss", "May", "Starmer"):
        assert stale not in row["answer"]
    search = next(call for call in row["tool_calls"] if call["tool"] == "web_search")
    assert search["error"] and search["seconds"] <= 2 + 1  # ORCH_SEARCH_TIMEOUT_S + 1 s


def test_invented_thing_gets_a_refusal(offline_env):
    row = ask("What is a Martian Dunetree?")
    assert row["abstained"] and row["route"] in ("docs", "chat")
    assert "don't" in row["answer"] or "won't" in row["answer"] or "can't" in row["answer"]
