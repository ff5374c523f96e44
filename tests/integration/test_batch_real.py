"""`batch` as a real subprocess: SIGKILLed mid-run, then resumed, ends with every id exactly once."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.integration

# The batch commands on a fresh typer app, so the test does not depend on how the main CLI registers them.
RUNNER = "import typer; from orchestrator.cli.batch import register; app = typer.Typer(); register(app); app()"
N_QUESTIONS = 300  # math questions (no LLM): each takes milliseconds, plus an fsync per row


def math_questions(path):
    lines = ["# products, answered by the math route"]
    lines += [f"What is {100 + i} * {7 + i % 13}?" for i in range(N_QUESTIONS)]
    path.write_text("\n".join(lines) + "\n")
    return {str(i + 2): (100 + i) * (7 + i % 13) for i in range(N_QUESTIONS)}  # id = line number


def batch_command(questions, output, *extra):
    return [sys.executable, "-c", RUNNER, "batch", str(questions), "--output", str(output), "--route", "math", *extra]


def count_lines(path):
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def start_and_kill(command, output, after_rows, env):
    """Start the batch, SIGKILL its whole process group once `after_rows` rows are on disk."""
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    deadline = time.monotonic() + 300
    while count_lines(output) < after_rows and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    stderr = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    return count_lines(output), stderr


def check_complete(output, expected):
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)), "an id was written twice"
    assert set(ids) == set(expected), "an id is missing"
    for row in rows:
        assert row["error"] is None and row["route"] == "math", row
        assert str(expected[row["id"]]) in row["answer"], row


@pytest.mark.parametrize("workers", [1, 2])
def test_sigkill_then_resume_gives_every_id_exactly_once(tmp_path, model_env, workers):
    questions, output = tmp_path / "q.txt", tmp_path / "out.jsonl"
    expected = math_questions(questions)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = batch_command(questions, output, "--workers", str(workers))

    written, stderr = start_and_kill(command, output, after_rows=20, env=env)
    assert 20 <= written < N_QUESTIONS, f"the kill must land mid-run (rows on disk: {written}); stderr: {stderr[-500:]}"
    # The kill may or may not have torn the last line; a torn tail of a write is simulated on top.
    with output.open("ab") as handle:
        handle.write(b'{"id": "999", "question": "What is 1')

    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    skipped = re.search(r"already answered \(skipped\)\D*(\d+)", resumed.stdout)
    assert skipped and int(skipped.group(1)) == written, resumed.stdout
    check_complete(output, expected)

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and output.read_text().count("\n") == N_QUESTIONS  # nothing left to do


def test_unusable_input_exits_non_zero(tmp_path, model_env):
    questions = tmp_path / "q.csv"
    questions.write_text("id,text\n1,What is 2+2?\n")
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, "batch", str(questions)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1 and "no `question` column" in result.stderr


def test_chat_batch_with_the_real_model_writes_rows_and_summary(tmp_path, model_env, monkeypatch):
    import typer
    from typer.testing import CliRunner

    from orchestrator.cli.batch import register

    monkeypatch.setenv("ORCH_TEMPERATURE", "0")
    monkeypatch.setenv("ORCH_MAX_TOKENS", "24")
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": "greet", "question": "Say hello.", "lang": "en"}\n{"question": "What is 6 * 7?"}\n')
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, ["batch", str(questions), "--output", str(tmp_path / "out.csv")])
    assert result.exit_code == 0, result.output
    import csv

    rows = {r["id"]: r for r in csv.DictReader((tmp_path / "out.csv").open(newline=""))}
    assert set(rows) == {"greet", "2"}
    assert rows["greet"]["lang"] == "en" and rows["greet"]["answer"] and rows["greet"]["error"] == ""
    assert rows["2"]["route"] == "math" and "42" in rows["2"]["answer"]
    assert "questions/minute" in result.output
