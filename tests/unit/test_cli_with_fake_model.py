"""The real CLI (`ask`, `chat`, `batch`) run by typer's CliRunner against a recording fake chat model.

The `fake_model` fixture (tests/conftest.py) fills the CLI's seam, orchestrator.cli.common.app_maker:
no model file is resolved, pulled or loaded (the fixture fails the test if one is), the embeddings are
word-hash vectors and the knowledge base is a real Chroma under the test's data dir.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app as cli
from orchestrator.cli import common
from orchestrator.errors import OrchestratorError
from orchestrator.resources import prompts_dir

runner = CliRunner()
SYSTEM = (prompts_dir() / "chat_system.txt").read_text(encoding="utf-8").strip()  # the shipped chat prompt
BORROW_ANSWER = "Seven items at once, for 21 days [1]."
# An explanation is generated (a factoid such as "How many items ...?" is quoted from the document).
BORROW_QUESTION = "How does a member borrow items?"


def run(*args: str, input: str | None = None):
    result = runner.invoke(cli, list(args), input=input)
    # A command ends by returning or by typer.Exit; any other exception is a crash the user would see.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


@pytest.fixture
def notes(tmp_path) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "library rules.md").write_text(
        "# Library rules\n\nA member may borrow up to 7 items at a time. Loans last 21 days and can be renewed twice.\n",
        encoding="utf-8",
    )
    return folder


@pytest.fixture
def ingested(fake_model, notes) -> Path:
    """The notes in the default collection, embedded by the same fake embeddings the CLI's app uses."""
    common.app_maker.app(common.load_settings()).ingest([notes])
    return notes / "library rules.md"


# --- ask ---------------------------------------------------------------------------------------


def test_ask_chat_prints_the_models_answer_and_the_model_saw_the_question(fake_model):
    fake_model.replies = ["Hello there, friend."]
    result = run("ask", "--route", "chat", "hi")
    assert result.exit_code == 0
    assert result.output == "Hello there, friend.\n"
    assert fake_model.history == [[("system", SYSTEM), ("human", "hi")]]


def test_ask_math_answers_without_the_model(fake_model):
    result = run("ask", "What is 40366 / 439?")
    assert result.exit_code == 0
    assert result.output == "40366/439 = 91.9498861047836 (exact: 40366/439)\n"
    assert fake_model.history == []  # a plain expression never reaches the LLM


def test_ask_docs_prints_the_answer_then_the_sources_line(fake_model, ingested):
    fake_model.replies = [BORROW_ANSWER]
    result = run("ask", BORROW_QUESTION)
    assert result.exit_code == 0, result.output
    answer, sources, end = result.output.split("\n")
    assert answer == BORROW_ANSWER and end == ""
    assert sources.startswith(f"  [1] {ingested} (relevance 0.") and sources.endswith(")")
    assert "borrow up to 7 items" in fake_model.history[0][-1][1]  # the passage was in the prompt


def test_ask_json_is_one_row_with_route_and_sources(fake_model, ingested):
    fake_model.replies = [BORROW_ANSWER]
    result = run("ask", "--json", "--route", "docs", BORROW_QUESTION)
    assert result.exit_code == 0
    row = json.loads(result.stdout)
    assert (row["answer"], row["route"], row["error"]) == (BORROW_ANSWER, "docs", None)
    assert [source["source"] for source in row["sources"]] == [str(ingested)]


def test_ask_with_a_failing_model_is_one_line_and_exit_1(fake_model):
    fake_model.replies = [RuntimeError("llama_decode returned -3")]
    result = run("ask", "--route", "chat", "hi")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "Error: RuntimeError: llama_decode returned -3. The traceback is in "
    )
    assert "Traceback" not in result.output


def test_ask_with_a_model_error_is_the_error_line(fake_model):
    fake_model.replies = [OrchestratorError("The model ran out of memory.")]
    result = run("ask", "--json", "--route", "chat", "hi")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"] == "The model ran out of memory."
    assert result.stderr == ""  # --json: the error is in the row, not printed twice


# --- chat (the REPL) ---------------------------------------------------------------------------


def test_chat_second_turn_sees_the_first(fake_model):
    fake_model.replies = ["Nice to meet you, Ada.", "Your name is Ada."]
    result = run("chat", "--no-log", "-c", "notes", input="/chat my name is Ada\n/chat what is my name?\n")
    assert result.exit_code == 0
    assert result.output == "Nice to meet you, Ada.\nYour name is Ada.\n"
    assert fake_model.history[1] == [
        ("system", SYSTEM),
        ("human", "my name is Ada"),
        ("ai", "Nice to meet you, Ada."),
        ("human", "what is my name?"),
    ]


def test_chat_help_then_quit_stops_reading(fake_model):
    fake_model.replies = ["never shown"]
    result = run("chat", "--no-log", "-c", "notes", input="/help\n/quit\n/chat are you there?\n")
    assert result.exit_code == 0
    assert result.output.startswith("Commands:\n  /help ")
    assert "  /quit         leave (also /bye, exit, quit, Ctrl-D)\n" in result.output
    assert "never shown" not in result.output and fake_model.history == []


def test_chat_follow_up_is_asked_standalone(fake_model, ingested):
    fake_model.replies = [BORROW_ANSWER, "Loans last 21 days [1]."]
    result = run("chat", "--no-log", input="/docs How many items can a member borrow?\nand for how long?\n")
    assert result.exit_code == 0, result.output
    assert "(follow-up, taken as: For how long can a member borrow?)\n" in result.output
    assert "**21 days**" in result.output.split("(follow-up", 1)[1]  # a factoid: the document's sentence, marked


def test_chat_failing_turn_is_one_line_and_the_chat_goes_on(fake_model):
    fake_model.replies = [RuntimeError("llama_decode returned -3"), "Second answer."]
    result = run("chat", "--no-log", "-c", "notes", input="/chat hi\n/chat again\n")
    assert result.exit_code == 0
    assert "That turn failed (RuntimeError: llama_decode returned -3). The conversation goes on." in result.output
    assert result.output.endswith("Second answer.\n")


def test_chat_model_switch_builds_a_new_app_through_the_seam(fake_model):
    fake_model.replies = ["Hi."]
    script = "/model all-minilm-l6-v2\n/model smollm2-135m-instruct\n/chat hi\n"
    result = run("chat", "--no-log", "-c", "notes", input=script)
    assert result.exit_code == 0, result.output
    assert "all-minilm-l6-v2 is an embedding model: it turns text into vectors" in result.output
    assert "Now chatting with smollm2-135m-instruct." in result.output
    assert [settings.model for settings in common.app_maker.built] == ["smollm2-135m-instruct"] * 2
    assert result.output.endswith("Hi.\n")


# --- batch -------------------------------------------------------------------------------------


def test_batch_writes_one_jsonl_row_per_question(fake_model, tmp_path):
    questions = tmp_path / "questions.txt"
    # /chat: word-hash embeddings give the route classifier no meaning to read small talk by
    questions.write_text("What is 12*7?\n/chat Tell me a joke.\n", encoding="utf-8")
    output = tmp_path / "answers.jsonl"
    fake_model.replies = ["Why did the chicken cross the road?"]
    result = run("batch", str(questions), "-o", str(output))
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [(row["question"], row["route"], row["answer"], row["error"]) for row in rows] == [
        ("What is 12*7?", "math", "12*7 = 84", None),
        ("Tell me a joke.", "chat", "Why did the chicken cross the road?", None),
    ]
    assert f"Rows in {output}" in result.output
    assert fake_model.prompts() == ["Tell me a joke."]


def test_batch_rows_keep_a_failing_models_error(fake_model, tmp_path):
    questions = tmp_path / "questions.txt"
    questions.write_text("Tell me a joke.\n", encoding="utf-8")
    output = tmp_path / "answers.jsonl"
    fake_model.replies = [OrchestratorError("The model ran out of memory.")]
    result = run("batch", str(questions), "-o", str(output), "--route", "chat")
    assert result.exit_code == 0, result.output
    [row] = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert row["error"] == "The model ran out of memory." and row["answer"] == ""


def test_ask_timings_lists_each_stage_on_stderr_and_keeps_stdout_the_answer(fake_model, ingested):
    fake_model.replies = [BORROW_ANSWER]
    result = CliRunner().invoke(cli, ["ask", "--timings", BORROW_QUESTION])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(BORROW_ANSWER)
    assert "Where the time went" not in result.stdout
    stages = result.stderr
    for name in ("import LangChain and the app", "answer", "route the question", "first token shown"):
        assert name in stages, stages


def test_ask_without_timings_prints_no_stages(fake_model):
    fake_model.replies = ["Hello."]
    result = CliRunner().invoke(cli, ["ask", "--route", "chat", "hi"])
    assert "Where the time went" not in result.stdout + result.stderr
