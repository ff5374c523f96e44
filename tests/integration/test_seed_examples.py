"""The project's motivating examples, end to end with the real default model and embedder."""

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app as cli_app

# The search stand-in lives in tests/ so integration tests can share it; tests/ is not a package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from search_standin import Hit, Results, Status, search_standin  # noqa: E402, F401

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


def test_current_prime_minister_is_never_a_stale_guess_when_search_fails(offline_env, search_standin):
    # The search engine is the stand-in on 127.0.0.1, failing the way a rate limit does, so the
    # test means the same on a connected machine and an offline one.
    search_standin.default = Status(503)
    row = ask("Who is the British Prime Minister?")
    assert row["route"] == "web" and row["abstained"]
    assert "can't verify current facts" in row["answer"]
    for stale in ("Sunak", "Johnson", "Truss", "May", "Starmer"):
        assert stale not in row["answer"]
    search = next(call for call in row["tool_calls"] if call["tool"] == "web_search")
    assert search["error"] and search["seconds"] <= 2 + 1  # ORCH_SEARCH_TIMEOUT_S + 1 s


def test_current_prime_minister_comes_from_the_search_results(offline_env, search_standin):
    # The connected case, made deterministic by the stand-in: the answer rests on the results or
    # declines with them as sources. The 135M model often declines here (the grounding check
    # rejects its paraphrase); it must never fall back on a name from its training data.
    search_standin.default = Results(
        [
            Hit(
                "Prime Minister of the United Kingdom - GOV.UK",
                "https://www.gov.uk/government/ministers/prime-minister",
                "Alex Quorrington became Prime Minister of the United Kingdom on 5 July 2026.",
                "2026-07-05",
            )
        ]
    )
    row = ask("Who is the British Prime Minister?")
    assert row["route"] == "web"
    search = next(call for call in row["tool_calls"] if call["tool"] == "web_search")
    assert not search.get("error") and "gov.uk" in json.dumps(search["output"])
    assert any("gov.uk" in json.dumps(source) for source in row["sources"])
    for stale in ("Sunak", "Johnson", "Truss", "May", "Starmer"):
        assert stale not in row["answer"]
    assert row["abstained"] or "Quorrington" in row["answer"], row["answer"]


def test_invented_thing_gets_a_refusal(offline_env):
    row = ask("What is a Martian Dunetree?")
    assert row["abstained"] and row["route"] in ("docs", "chat")
    assert "don't" in row["answer"] or "won't" in row["answer"] or "can't" in row["answer"]
