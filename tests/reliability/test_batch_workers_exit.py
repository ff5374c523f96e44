"""`batch --workers 2` SIGKILLed: its worker processes exit too instead of living on under PID 1 (issue 14, item 5)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

RUNNER = "import typer; from orchestrator.cli.batch import register; app = typer.Typer(); register(app); app()"


def descendants(pid: int) -> set[int]:
    """Every living process below pid (Linux /proc)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def rows(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the process tree from Linux /proc")
def test_workers_exit_when_the_batch_process_is_killed(tmp_path):
    questions, output = tmp_path / "q.txt", tmp_path / "out.jsonl"
    questions.write_text("".join(f"What is {i} * 7?\n" for i in range(5000)))
    command = [
        sys.executable,
        "-c",
        RUNNER,
        "batch",
        str(questions),
        "-o",
        str(output),
        "--route",
        "math",
        "--workers",
        "2",
    ]
    log = tmp_path / "stderr.txt"
    with log.open("wb") as stderr:
        batch = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while rows(output) < 20 and batch.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert rows(output) >= 20, (
            f"the batch never got going (exit code {batch.poll()}, {rows(output)} rows); its stderr:\n"
            + log.read_text(errors="replace")[-3000:]
        )
        workers = descendants(batch.pid)
        assert len(workers) >= 2
        os.kill(batch.pid, signal.SIGKILL)  # the parent only, as the OOM killer or `kill -9 PID` would
        batch.wait()
        deadline = time.monotonic() + 20
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [pid for pid in workers if alive(pid)]
        assert left == [], f"processes of the killed batch still running: {left}"
    finally:
        for pid in workers | {batch.pid}:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
