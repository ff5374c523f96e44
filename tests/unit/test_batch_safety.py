"""Batch never keeps a wrong row: resume checks question and settings, output paths are checked (issue 14)."""

import csv
import errno
import json
import re

import pytest
import typer
from typer.testing import CliRunner

from orchestrator import Settings
from orchestrator.batch import BatchOutputError, read_questions, read_result_rows, run_batch
from tests.unit.test_batch import RecordingApp, write


def answers(out):
    if out.suffix == ".csv":
        return {r["id"]: r["answer"] for r in csv.DictReader(out.open(newline=""))}
    return {key: row["answer"] for key, row in read_result_rows(out).items()}


@pytest.mark.parametrize("name", ["out.jsonl", "out.csv"])
def test_resume_with_other_questions_under_the_same_ids_is_refused(tmp_path, name):
    first = read_questions(write(tmp_path / "q1.txt", "What is 2+2?\nWhat is 3+3?\n"))
    second = read_questions(write(tmp_path / "q2.txt", "What is 100+1?\nWhat is 200+2?\n"))
    out = tmp_path / name
    run_batch(first, out, Settings(), app=RecordingApp())
    app = RecordingApp()
    with pytest.raises(BatchOutputError, match="another question.*--overwrite"):
        run_batch(second, out, Settings(), app=app)
    assert app.asked == [] and answers(out) == {"1": "A:What is 2+2?", "2": "A:What is 3+3?"}
    run_batch(second, out, Settings(), app=RecordingApp(), overwrite=True)
    assert answers(out) == {"1": "A:What is 100+1?", "2": "A:What is 200+2?"}


@pytest.mark.parametrize(
    "change, route, named",
    [
        ({"collection": "other-notes"}, None, "collection"),
        ({}, "chat", "route"),
        ({"embedding_model": "x.gguf"}, None, "embedding_model"),
    ],
)
def test_resume_under_other_settings_is_refused(tmp_path, change, route, named):
    questions = read_questions(write(tmp_path / "q.txt", "one\ntwo\n"))
    out = tmp_path / "out.jsonl"
    run_batch(questions[:1], out, Settings(), app=RecordingApp())
    with pytest.raises(BatchOutputError, match=f"other settings: {named}"):
        run_batch(questions, out, Settings(**change), route=route, app=RecordingApp())


def test_resume_records_the_model_files_hash(tmp_path):
    model = write(tmp_path / "m.gguf", b"GGUF one")
    questions = read_questions(write(tmp_path / "q.txt", "one\ntwo\n"))
    out = tmp_path / "out.jsonl"
    run_batch(questions[:1], out, Settings(model=str(model)), app=RecordingApp())
    assert read_result_rows(out)["1"]["run_settings"]["model_sha256"]
    write(model, b"GGUF two, same name")
    with pytest.raises(BatchOutputError, match="model_sha256"):
        run_batch(questions, out, Settings(model=str(model)), app=RecordingApp())


def test_rows_without_a_fingerprint_are_not_trusted(tmp_path):
    questions = read_questions(write(tmp_path / "q.txt", "one\n"))
    out = write(tmp_path / "out.jsonl", json.dumps({"id": "1", "question": "one", "answer": "old"}) + "\n")
    with pytest.raises(BatchOutputError, match="older version"):
        run_batch(questions, out, Settings(), app=RecordingApp())


def test_a_matching_resume_still_skips(tmp_path):
    questions = read_questions(write(tmp_path / "q.csv", "id,question\na,one\nb,two\n"))
    out = tmp_path / "out.csv"
    run_batch(questions[:1], out, Settings(), app=RecordingApp())
    app = RecordingApp()
    summary = run_batch(questions, out, Settings(), app=app)
    assert summary.skipped == 1 and [r["question"] for r in app.asked] == ["two"]


def test_disk_full_while_writing_a_row_is_one_clear_error_and_no_torn_row(tmp_path, monkeypatch):
    questions = read_questions(write(tmp_path / "q.txt", "one\ntwo\n"))
    out = tmp_path / "out.jsonl"
    run_batch(questions[:1], out, Settings(), app=RecordingApp())
    before = out.read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("orchestrator.batch.os.fsync", full)
    with pytest.raises(BatchOutputError, match="No space left on the disk holding .* free") as caught:
        run_batch(questions, out, Settings(), app=RecordingApp())
    assert out.read_bytes() == before
    # One row still to write, about the size of the one already there.
    needed = re.search(r"about (\d+) KB more is needed to finish", str(caught.value))
    assert needed and int(needed.group(1)) == max(1, round(len(before) / 1000)), str(caught.value)


# --- the CLI ----------------------------------------------------------------------------------------


@pytest.fixture
def cli(monkeypatch):
    from orchestrator.cli.batch import register

    monkeypatch.setattr("orchestrator.cli.batch.resolved_settings", lambda model, collection=None: Settings())
    monkeypatch.setattr("orchestrator.app.build_app", lambda settings=None, **kw: RecordingApp())
    app = typer.Typer()
    register(app)
    return lambda *args: CliRunner().invoke(app, [str(a) for a in args])


def test_cli_second_batch_into_the_same_output_names_overwrite(tmp_path, cli):
    q1 = write(tmp_path / "q1.txt", "What is 2+2?\nWhat is 3+3?\n")
    q2 = write(tmp_path / "q2.txt", "What is 100+1?\nWhat is 200+2?\n")
    out = tmp_path / "out.jsonl"
    assert cli("batch", q1, "-o", out).exit_code == 0
    result = cli("batch", q2, "-o", out)
    assert result.exit_code == 1 and "--overwrite" in result.output and "Traceback" not in result.output
    result = cli("batch", q2, "-o", out, "--overwrite")
    assert result.exit_code == 0, result.output
    assert answers(out) == {"1": "A:What is 100+1?", "2": "A:What is 200+2?"}


@pytest.mark.parametrize("name", ["q.jsonl", "./q.jsonl"])
def test_cli_refuses_the_question_file_as_output(tmp_path, cli, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    source = '{"id": "1", "question": "What is 2+2?"}\n'
    write(tmp_path / "q.jsonl", source)
    result = cli("batch", "q.jsonl", "-o", name)
    assert result.exit_code == 1 and "is the question file itself" in result.output
    assert (tmp_path / "q.jsonl").read_text() == source


def test_cli_output_under_a_file_is_one_clear_line(tmp_path, cli):
    questions = write(tmp_path / "q1.txt", "What is 2+2?\n")
    result = cli("batch", questions, "-o", questions / "out.jsonl")
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and "is a file, not a folder" in text, result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, FileExistsError)
