"""A 20,000-character question through the real model: an answer or one clear error, on every route and in
the CLI, never a traceback (issue 14, item 6)."""

import pytest
from typer.testing import CliRunner

from orchestrator import Settings, build_app

pytestmark = pytest.mark.integration
QUESTION = "Please tell me, in your own words and at length, what you think about the weather " * 250  # ~20,000 chars


@pytest.mark.parametrize("route", [None, "chat", "docs", "math"])
def test_a_long_question_gets_an_answer_or_one_clear_error(tmp_path, default_model_path, embedding_model_path, route):
    from orchestrator.app import open_knowledge_store
    from orchestrator.knowledge.ingest import ingest_paths

    settings = Settings(
        data_dir=tmp_path, model=str(default_model_path), embedding_model=str(embedding_model_path), max_tokens=32
    )
    (tmp_path / "w.txt").write_text("The weather in Brindle is mild in spring and wet in autumn.")
    ingest_paths([tmp_path / "w.txt"], open_knowledge_store(settings), settings)
    answer = build_app(settings).invoke({"question": QUESTION, "route": route})
    assert answer.error or answer.answer
    if answer.error:
        assert "Shorten it" in answer.error or "too long" in answer.error, answer.error
        assert "Requested tokens" not in answer.error


def test_ask_with_a_long_question_prints_one_line(model_env, embedding_model_path, monkeypatch):
    from orchestrator.cli import app

    monkeypatch.setenv("ORCH_EMBEDDING_MODEL", str(embedding_model_path))
    result = CliRunner().invoke(app, ["ask", QUESTION])
    assert "Traceback" not in result.output and not isinstance(result.exception, ValueError)
    assert result.exit_code == 0 or "Error:" in result.output
