"""A resumed batch re-answers rows made from other contents of the collection (issue 31, item 4).

A real Chroma in the test's data dir (deterministic fake embeddings); the app is test_batch's RecordingApp.
"""

from __future__ import annotations

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from typer.testing import CliRunner

from orchestrator import Settings
from orchestrator.batch import read_questions, read_result_rows, run_batch
from orchestrator.knowledge.ingest import ingest_paths
from orchestrator.knowledge.store import EmbeddingModelId, open_store
from tests.unit.test_batch import RecordingApp, write

MODEL = EmbeddingModelId("fake", "f" * 64, 1, 16)


@pytest.fixture
def kb(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    (tmp_path / "docs").mkdir()
    facts = write(tmp_path / "docs" / "opening.txt", "The reading room opens at 05:00.")

    def ingest(text: str) -> None:
        write(facts, text)
        store = open_store(settings, DeterministicFakeEmbedding(size=16), MODEL, "default", fresh=True)
        ingest_paths([facts], store, settings)

    ingest("The reading room opens at 05:00.")
    return settings, ingest


def test_rows_from_an_earlier_collection_are_answered_again(tmp_path, kb):
    settings, ingest = kb
    questions = read_questions(write(tmp_path / "q.txt", "When does the reading room open?\nWhat is 2+2?\n"))
    out = tmp_path / "out.jsonl"
    run_batch(questions[:1], out, settings, app=RecordingApp())
    first = read_result_rows(out)["1"]["run_settings"]["collection_fingerprint"]
    assert first

    ingest("The reading room opens at 06:15.")
    app = RecordingApp()
    summary = run_batch(questions, out, settings, app=app)
    assert [request["question"] for request in app.asked] == ["When does the reading room open?", "What is 2+2?"]
    assert summary.reanswered == 1 and summary.skipped == 0
    rows = read_result_rows(out)
    assert {row["run_settings"]["collection_fingerprint"] for row in rows.values()} != {first}

    again = RecordingApp()
    assert run_batch(questions, out, settings, app=again).reanswered == 0 and again.asked == []


def test_an_unchanged_collection_keeps_its_rows(tmp_path, kb):
    settings, ingest = kb
    questions = read_questions(write(tmp_path / "q.txt", "When does the reading room open?\n"))
    out = tmp_path / "out.jsonl"
    run_batch(questions, out, settings, app=RecordingApp())
    ingest("The reading room opens at 05:00.")  # the same text: nothing changes
    app = RecordingApp()
    assert run_batch(questions, out, settings, app=app).skipped == 1 and app.asked == []


def test_a_forced_route_that_never_reads_documents_ignores_the_collection(tmp_path, kb):
    settings, ingest = kb
    questions = read_questions(write(tmp_path / "q.txt", "What is 2+2?\n"))
    out = tmp_path / "out.jsonl"
    run_batch(questions, out, settings, route="math", app=RecordingApp())
    ingest("The reading room opens at 06:15.")
    app = RecordingApp()
    assert run_batch(questions, out, settings, route="math", app=app).skipped == 1 and app.asked == []


def test_the_cli_says_rows_were_answered_again(tmp_path, kb, fake_model, monkeypatch):
    from orchestrator.cli import app as cli

    settings, ingest = kb
    monkeypatch.setenv("ORCH_DATA_DIR", str(settings.data_dir))
    questions = write(tmp_path / "q.txt", "Hello there\n")
    out = tmp_path / "out.jsonl"
    assert CliRunner().invoke(cli, ["batch", str(questions), "-o", str(out), "--route", "docs"]).exit_code == 0
    ingest("The reading room opens at 06:15.")
    result = CliRunner().invoke(cli, ["batch", str(questions), "-o", str(out), "--route", "docs"])
    assert result.exit_code == 0, result.output
    assert "1 earlier answers were made from other contents of the collection" in result.output
