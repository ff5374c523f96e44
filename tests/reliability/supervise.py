"""Run the GGUF checker in child processes with a memory cap and a per-file deadline.

A file that makes the child hang or die is recorded ("hang", "died") and the child is restarted on
the next file, so one bad input cannot hide the verdict on the others.
"""

from __future__ import annotations

import json
import queue
import resource
import subprocess
import sys
import threading
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MEMORY_CAP_BYTES = 1 << 30  # the validator needs far less; a runaway allocation fails instead of swapping


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP_BYTES, MEMORY_CAP_BYTES))


def _lines(stream, sink: queue.Queue) -> None:
    for line in stream:
        sink.put(line)
    sink.put(None)


def check_folder(folder: Path, per_file_s: float = 10.0, startup_s: float = 60.0) -> dict[str, dict]:
    """{file name: {"status": ModelFileError | accepted | <exception> | hang | died, ...}} for every .gguf in folder."""
    names = sorted(path.name for path in folder.glob("*.gguf"))
    results: dict[str, dict] = {}
    while len(results) < len(names):
        first = len(results)
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.check_gguf_files", str(folder), str(first)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            preexec_fn=_cap_memory,
            cwd=PROJECT_ROOT,
        )
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=_lines, args=(child.stdout, lines), daemon=True).start()
        current, deadline = None, startup_s
        while True:
            try:
                line = lines.get(timeout=deadline)
            except queue.Empty:  # the current file has run past its deadline
                child.kill()
                results[current or names[first]] = {"status": "hang"}
                break
            if line is None:  # the child exited
                if current is not None:
                    results[current] = {"status": "died", "returncode": child.wait()}
                break
            row = json.loads(line)
            if row["status"] == "started":
                current, deadline = row["file"], per_file_s
            else:
                results[row["file"]], current = row, None
        child.wait()
    return results
