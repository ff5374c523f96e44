"""`batch --concurrency N`: N questions in flight through the app's async API, the rows of one worker, and the refusals."""

from __future__ import annotations

import asyncio

import pytest
import typer
from typer.testing import CliRunner

from orchestrator import Settings
from orchestrator.batch import check_concurrency, read_questions, read_result_rows, run_batch
from orchestrator.errors import ConfigError
from orchestrator.result import Answer

SERVER = Settings(llm_backend="openai")


class SlowServerApp:
    """Answers "A:<question>" after a short wait, like a chat model on a server; counts questions in flight."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.max_in_flight = 0

    def answer(self, request: dict) -> Answer:
        if "boom" in request["question"]:
            raise RuntimeError("the server hung up")
        return Answer(question=request["question"], answer="A:" + request["question"], route=request["route"] or "chat")

    def invoke(self, request: dict) -> Answer:
        return self.answer(request)

    async def ainvoke(self, request: dict) -> Answer:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            # Later questions finish sooner, so rows are written out of input order.
            await asyncio.sleep(0.005 * (30 - len(request["question"])))
            return self.answer(request)
        finally:
            self.in_flight -= 1


def questions(tmp_path, texts):
    path = tmp_path / "q.txt"
    path.write_text("\n".join(texts) + "\n")
    return read_questions(path)


def test_concurrency_keeps_n_in_flight_and_writes_the_rows_of_one_worker(tmp_path):
    asked = questions(tmp_path, [f"question {'x' * i}" for i in range(10)] + ["boom"])
    app = SlowServerApp()
    summary = run_batch(asked, tmp_path / "many.jsonl", SERVER, app=app, concurrency=4)
    run_batch(asked, tmp_path / "one.jsonl", SERVER, app=SlowServerApp())
    assert app.max_in_flight == 4 and summary.concurrency == 4 and summary.answered == 11 and summary.errors == 1
    many, one = read_result_rows(tmp_path / "many.jsonl"), read_result_rows(tmp_path / "one.jsonl")
    assert {id: row["answer"] for id, row in many.items()} == {id: row["answer"] for id, row in one.items()}
    assert many["11"]["error"] == one["11"]["error"] == "RuntimeError: the server hung up"
    assert list(many) != sorted(many, key=int)  # written as they finish
    again = run_batch(asked, tmp_path / "many.jsonl", SERVER, app=SlowServerApp(), concurrency=4)
    assert again.skipped == 11 and again.answered == 0  # the same resume as --workers


@pytest.mark.parametrize(
    "settings, concurrency, workers, message",
    [
        (Settings(), 4, 1, "ORCH_LLM_BACKEND=openai"),
        (SERVER, 4, 2, "not both"),
        (SERVER, 0, 1, "at least 1"),
    ],
)
def test_concurrency_that_cannot_help_is_refused(settings, concurrency, workers, message):
    with pytest.raises(ConfigError, match=message):
        check_concurrency(settings, concurrency, workers)


def test_the_cli_refuses_concurrency_with_the_in_process_model_before_building_the_app(tmp_path, monkeypatch):
    from orchestrator.cli.batch import register

    monkeypatch.chdir(tmp_path)
    (tmp_path / "q.txt").write_text("Say hello.\n")
    monkeypatch.setattr("orchestrator.cli.batch.resolved_settings", lambda model, collection=None: Settings())

    def no_app(settings):
        raise AssertionError("the app was built")

    monkeypatch.setattr("orchestrator.cli.batch.build_cli_app", no_app)
    cli = typer.Typer()
    register(cli)
    result = CliRunner().invoke(cli, ["batch", "q.txt", "--concurrency", "4"])
    assert result.exit_code == 1, result.output
    assert "ORCH_LLM_BACKEND=openai" in result.output and "--workers" in result.output
    assert not (tmp_path / "q.txt.answers.jsonl").exists()
