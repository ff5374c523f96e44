"""Batch question files: readers, the crash-safe result file, resume, and failures that become rows."""

import json

import pytest
import typer
from typer.testing import CliRunner

from orchestrator import Settings
from orchestrator.batch import (
    RESULT_COLUMNS,
    BatchInputError,
    BatchOutputError,
    Question,
    ResultFile,
    default_output_path,
    output_columns,
    read_questions,
    read_result_rows,
    run_batch,
)
from orchestrator.errors import OrchestratorError
from orchestrator.result import Answer


def write(path, data):
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


# --- readers -----------------------------------------------------------------------------------


def test_txt_skips_blanks_and_comments_and_numbers_by_line(tmp_path):
    path = write(tmp_path / "q.txt", "# header\nWhat is 2+2?\n\n  \nWho are you?  \n#x\n")
    questions = read_questions(path)
    assert [(q.id, q.text, q.error) for q in questions] == [("2", "What is 2+2?", None), ("5", "Who are you?", None)]


def test_txt_bad_utf8_line_becomes_an_error_question_not_a_failure(tmp_path):
    path = write(tmp_path / "q.txt", b"fine?\n\xff\xfe broken\nalso fine?\n")
    questions = read_questions(path)
    assert [q.id for q in questions] == ["1", "2", "3"]
    assert questions[1].error and "UTF-8" in questions[1].error
    assert questions[0].error is None and questions[2].error is None


def test_jsonl_ids_passthrough_and_bad_lines(tmp_path):
    lines = [
        json.dumps({"id": "a", "question": "Q1", "kind": "docs", "answers": ["x"]}),
        json.dumps({"question": "Q2", "route": "math"}),  # "route" collides with a result column
        "{not json",
        "[1, 2]",
        json.dumps({"id": 7, "text": "no question field"}),
        "",
    ]
    questions = read_questions(write(tmp_path / "q.jsonl", "\n".join(lines) + "\n"))
    assert [q.id for q in questions] == ["a", "2", "3", "4", "7"]
    assert questions[0].fields == {"kind": "docs", "answers": ["x"]} and questions[0].error is None
    assert questions[1].fields == {"input_route": "math"}
    assert "not valid JSON" in questions[2].error
    assert "not a JSON object" in questions[3].error
    assert "`question` is missing" in questions[4].error


def test_csv_question_column_ids_and_multiline_cells(tmp_path):
    path = write(tmp_path / "q.csv", 'id,question,topic\nx1,"What is\nthis?",a\n,Second?,b\n')
    questions = read_questions(path)
    assert [(q.id, q.text, q.fields) for q in questions] == [
        ("x1", "What is\nthis?", {"topic": "a"}),
        ("4", "Second?", {"topic": "b"}),
    ]


def test_csv_bad_encoding_row_is_an_error_question(tmp_path):
    path = write(tmp_path / "q.csv", b"question\nok?\n\xff oops\n")
    questions = read_questions(path)
    assert questions[0].error is None and "UTF-8" in questions[1].error


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("q.csv", "id,text\n1,hello\n", "no `question` column"),
        ("q.md", "hello\n", "Unknown question file type"),
        ("q.txt", "# only a comment\n\n", "contains no questions"),
        ("q.jsonl", '{"id": 1, "question": "a"}\n{"id": "1", "question": "b"}\n', "duplicate ids"),
    ],
)
def test_unusable_input_files_raise_clear_errors(tmp_path, name, content, message):
    with pytest.raises(BatchInputError, match=message):
        read_questions(write(tmp_path / name, content))


def test_missing_input_file(tmp_path):
    with pytest.raises(BatchInputError, match="does not exist"):
        read_questions(tmp_path / "nope.txt")


def test_default_output_path(tmp_path):
    assert default_output_path(tmp_path / "qs.txt") == tmp_path / "qs.txt.answers.jsonl"


# --- the result file ----------------------------------------------------------------------------


def row(question_id, **extra):
    return {"id": question_id, **Answer(question=f"q{question_id}", answer="a\nb", route="chat").to_row(), **extra}


def test_jsonl_rows_are_complete_lines_and_torn_tail_is_cut(tmp_path):
    path = tmp_path / "out.jsonl"
    with ResultFile.open(path, RESULT_COLUMNS) as results:
        results.write(row("1"))
        results.write(row("2"))
    whole = path.read_bytes()
    write(path, whole + b'{"id": "3", "question": "q3", "ans')  # a SIGKILL in the middle of a write
    with ResultFile.open(path, RESULT_COLUMNS) as results:
        assert set(results.done) == {"1", "2"} and results.repaired_bytes > 0
        assert path.read_bytes() == whole
        results.write(row("3"))
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == ["1", "2", "3"]


def test_jsonl_garbage_last_line_is_cut_but_garbage_in_the_middle_is_refused(tmp_path):
    path = tmp_path / "out.jsonl"
    good = json.dumps(row("1")) + "\n"
    write(path, good + "\x00\x00\x00\n")  # zero-filled tail, as after a power loss
    with ResultFile.open(path, RESULT_COLUMNS) as results:
        assert set(results.done) == {"1"}
    assert path.read_text() == good
    write(path, "not a row\n" + good)
    with pytest.raises(BatchOutputError, match="line 1 is not a batch result row"):
        ResultFile.open(path, RESULT_COLUMNS)


@pytest.mark.parametrize("cut", [1, 8, 10, -3, -1])  # 8: just after the newline inside "a\nb"
def test_csv_torn_record_is_cut_even_inside_a_quoted_multiline_cell(tmp_path, cut):
    path = tmp_path / "out.csv"
    columns = output_columns([Question("1", "q", {"topic": "t"})])
    with ResultFile.open(path, columns) as results:
        results.write(row("1", topic="t"))
    whole = path.read_bytes()
    with ResultFile.open(path, columns) as results:
        results.write(row("2", topic="t"))
    torn = path.read_bytes()[: len(whole) + cut] if cut > 0 else path.read_bytes()[:cut]
    write(path, torn)
    with ResultFile.open(path, columns) as results:
        assert set(results.done) == {"1"}
        assert path.read_bytes() == whole
    import csv

    records = list(csv.DictReader(path.open(newline="")))
    assert records[0]["answer"] == "a\nb" and json.loads(records[0]["sources"]) == []


def test_csv_resume_with_different_columns_is_refused(tmp_path):
    path = tmp_path / "out.csv"
    ResultFile.open(path, RESULT_COLUMNS).close()
    with pytest.raises(BatchOutputError, match="resume needs the same input fields"):
        ResultFile.open(path, RESULT_COLUMNS + ["topic"])


def test_a_second_writer_of_the_same_output_is_refused(tmp_path):
    with ResultFile.open(tmp_path / "out.jsonl", RESULT_COLUMNS):
        with pytest.raises(BatchOutputError, match="Another batch is writing"):
            ResultFile.open(tmp_path / "out.jsonl", RESULT_COLUMNS)
    ResultFile.open(tmp_path / "out.jsonl", RESULT_COLUMNS).close()  # free again once the first closed


def test_unknown_output_type(tmp_path):
    with pytest.raises(OrchestratorError, match="use .jsonl or .csv"):
        ResultFile.open(tmp_path / "out.txt", RESULT_COLUMNS)


# --- running ------------------------------------------------------------------------------------


class RecordingApp:
    """Answers "A:<question>", raises for questions containing "boom"; records what it was asked."""

    def __init__(self):
        self.asked = []

    def invoke(self, request):
        self.asked.append(request)
        if "boom" in request["question"]:
            raise RuntimeError("the tool exploded")
        return Answer(
            question=request["question"],
            answer="A:" + request["question"],
            route=request["route"] or "chat",
            abstained="maybe" in request["question"],
        )


def questions_file(tmp_path, texts):
    return read_questions(write(tmp_path / "q.txt", "\n".join(texts) + "\n"))


def test_failures_become_rows_and_the_run_goes_on(tmp_path):
    questions = questions_file(tmp_path, ["one", "boom", "maybe"])
    app, out = RecordingApp(), tmp_path / "out.jsonl"
    summary = run_batch(questions, out, Settings(), route="docs", app=app)
    rows = read_result_rows(out)
    assert list(rows) == ["1", "2", "3"]
    assert rows["1"]["answer"] == "A:one" and rows["1"]["error"] is None
    assert rows["2"]["error"] == "RuntimeError: the tool exploded" and rows["2"]["route"] == "docs"
    assert (summary.answered, summary.errors, summary.abstained) == (3, 1, 1)
    assert summary.routes == {"docs": 3}
    assert all(request["route"] == "docs" for request in app.asked)


def test_resume_skips_answered_ids_and_retry_errors_asks_again(tmp_path):
    questions = questions_file(tmp_path, ["one", "boom", "three"])
    out = tmp_path / "out.jsonl"
    run_batch(questions[:2], out, Settings(), app=RecordingApp())
    app = RecordingApp()
    summary = run_batch(questions, out, Settings(), app=app)
    assert [r["question"] for r in app.asked] == ["three"] and summary.skipped == 2
    app = RecordingApp()
    summary = run_batch(questions, out, Settings(), app=app, retry_errors=True)
    assert [r["question"] for r in app.asked] == ["boom"] and summary.skipped == 2
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert sorted(ids) == ["1", "2", "3"]


def test_bad_input_line_is_an_error_row_without_asking_the_app(tmp_path):
    questions = read_questions(write(tmp_path / "q.jsonl", '{"question": "fine", "topic": "t"}\n{oops\n'))
    app, out = RecordingApp(), tmp_path / "out.csv"
    run_batch(questions, out, Settings(), app=app)
    assert [r["question"] for r in app.asked] == ["fine"]
    import csv

    records = list(csv.DictReader(out.open(newline="")))
    assert [r["id"] for r in records] == ["1", "2"]
    assert records[0]["topic"] == "t" and "not valid JSON" in records[1]["error"] and records[1]["route"] == ""


def test_real_app_on_the_math_route_needs_no_model(tmp_path):
    from orchestrator.app import build_app

    questions = questions_file(tmp_path, ["What is 17 * 23?", "What is 2 ** 10?"])
    out = tmp_path / "out.jsonl"
    settings = Settings(model=str(tmp_path / "no-model-here.gguf"))  # the math route must not load it
    summary = run_batch(questions, out, settings, route="math", app=build_app(settings))
    rows = read_result_rows(out)
    assert "391" in rows["1"]["answer"] and "1024" in rows["2"]["answer"]
    assert summary.errors == 0 and set(rows["1"]) == set(RESULT_COLUMNS)


# --- the CLI --------------------------------------------------------------------------------------


def cli():
    from orchestrator.cli.batch import register

    app = typer.Typer()
    register(app)
    return app


@pytest.mark.parametrize(
    "args, message",
    [
        (["batch", "missing.txt"], "does not exist"),
        (["batch", "q.yaml"], "Unknown question file type"),
        (["batch", "q.txt", "--route", "poetry"], "Unknown route"),
        (["eval", "q.txt", "--corpus", "nowhere"], "kind"),
    ],
)
def test_unusable_input_exits_non_zero_with_one_clear_line(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "q.yaml", "a: b\n")
    write(tmp_path / "q.txt", "hello\n")
    monkeypatch.setattr("orchestrator.cli.batch.resolved_settings", lambda model, collection=None: Settings())
    result = CliRunner().invoke(cli(), args)
    assert result.exit_code == 1, result.output
    assert "Error:" in result.output and message in result.output and "Traceback" not in result.output
