"""Acceptance for `pull hf:...`: pull from a stand-in hub, then `ask --model NAME` on every route,
with the real embedding model and a real Chroma for the docs route."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from tests.helpers.chat_families import ANSWER, FAMILIES, write_family_gguf
from tests.hf_standin import hf_standin  # noqa: F401 - fixture
from tests.search_standin import Hit, Results, search_standin  # noqa: F401 - fixture

pytestmark = pytest.mark.integration

PARIS = "Paris is lovely in spring, and the Eiffel tower stands in Paris. The city has many parks."


@pytest.mark.parametrize("family", ["qwen2.5", "gemma-2"])
def test_pull_then_ask_on_every_route(family, hf_standin, search_standin, embedding_model_path, tmp_path, monkeypatch):
    repo, name = f"standin/Tiny-{family}-GGUF", f"tiny-{family}-F32"
    hf_standin.add(repo, {f"{name}.gguf": write_family_gguf(tmp_path / "src" / f"{name}.gguf", FAMILIES[family])})
    monkeypatch.setenv("ORCH_EMBEDDING_MODEL", str(embedding_model_path))
    search_standin.default = Results([Hit("Paris", "https://example.org/paris", "Paris is lovely in spring.")])
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "paris.txt").write_text(PARIS)
    runner = CliRunner()

    def run(*args):
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    run("pull", f"hf:{repo}/{name}.gguf")
    run("ingest", str(docs))
    assert ANSWER in run("ask", "--model", name, "--route", "chat", "Tell me about Paris.")
    docs_answer = run("ask", "--model", name, "--route", "docs", "How is Paris in spring?")
    assert ANSWER in docs_answer and "paris.txt" in docs_answer
    assert ANSWER in run("ask", "--model", name, "--route", "web", "What is Paris like today?")
    assert "1027" in run("ask", "--model", name, "2**10 + 3")  # auto-routed to math
    for output in (docs_answer,):
        assert not any(marker in output for marker in FAMILIES[family].special_tokens)
