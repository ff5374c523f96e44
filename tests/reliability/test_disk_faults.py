"""A full disk and a read-only data dir are named as such, never as a damaged database (issue 14, item 4).

Real mounts: a 2 MB tmpfs for "disk full", a read-only bind mount for "read-only". Both need mount
permission (root in a container); elsewhere the tests skip, and the unit tests simulate ENOSPC instead.
"""

import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.reliability.supervise import PROJECT_ROOT
from tests.reliability.test_damaged_knowledge_base import CLI_IN_CHILD, built  # noqa: F401 - fixture


def mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@contextmanager
def mounted(target: Path, *args: str):
    target.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None or not mount(*args, str(target)):
        pytest.skip("needs permission to mount (root)")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def run(script: str, *args: str, env: dict, stdin: str = "") -> str:
    result = subprocess.run(
        [sys.executable, "-c", script, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=PROJECT_ROOT,
        env={**os.environ, **env, "COLUMNS": "400"},
    )
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output[-3000:]
    assert "may be damaged" not in output and "--repair" not in output, output
    return f"exit {result.returncode}\n{output}"


def test_ingest_onto_a_full_disk_says_no_space_left(tmp_path, built):  # noqa: F811
    _, docs, embedder = built
    with mounted(tmp_path / "small", "-t", "tmpfs", "-o", "size=2m", "tmpfs") as small:
        env = {
            "ORCH_DATA_DIR": str(small / "data"),
            "ORCH_EMBEDDING_MODEL": str(embedder),
            "ORCH_CHUNK_SIZE": "200",
            "ORCH_CHUNK_OVERLAP": "0",
        }
        output = run(CLI_IN_CHILD, "ingest", str(docs), env=env)
        assert output.startswith("exit 1") and "No space left on the disk holding" in output, output


def test_batch_onto_a_full_disk_says_no_space_left(tmp_path, model_env):
    questions = tmp_path / "q.txt"
    questions.write_text("".join(f"What is {i} * 7?\n" for i in range(2000)))
    runner = "import typer; from orchestrator.cli.batch import register; app = typer.Typer(); register(app); app()"
    with mounted(tmp_path / "small", "-t", "tmpfs", "-o", "size=64k", "tmpfs") as small:
        output = run(
            runner,
            "batch",
            str(questions),
            "-o",
            str(small / "out.jsonl"),
            "--route",
            "math",
            env={"ORCH_DATA_DIR": str(tmp_path / "data")},
        )
        assert output.startswith("exit 1") and "No space left on the disk holding" in output, output
        assert "more is needed to finish" in output, output
        rows = (small / "out.jsonl").read_bytes()
        assert rows.endswith(b"\n")  # no torn row left behind


@pytest.fixture
def read_only_data(tmp_path, built):  # noqa: F811
    data, _, _ = built
    shutil.copytree(data, tmp_path / "data")
    with mounted(tmp_path / "data", "--bind", str(tmp_path / "data")):
        if not mount("-o", "remount,bind,ro", str(tmp_path / "data")):
            pytest.skip("cannot remount read-only")
        yield tmp_path / "data"


def test_read_only_data_dir(read_only_data, built, model_env):  # noqa: F811
    _, docs, embedder = built
    env = {"ORCH_DATA_DIR": str(read_only_data), "ORCH_EMBEDDING_MODEL": str(embedder)}
    chat = run(CLI_IN_CHILD, "chat", env=env, stdin="What is 2+2?\n/docs What does item 3005 note?\n")
    assert chat.startswith("exit 0") and "2 + 2 = 4" in chat, chat
    assert "the file system is read-only" in chat
    ingest = run(CLI_IN_CHILD, "ingest", str(docs), env=env)
    assert ingest.startswith("exit 1") and "the file system is read-only" in ingest
    listing = run(CLI_IN_CHILD, "collections", env=env)
    assert listing.startswith("exit 1") and "the file system is read-only" in listing


# `ask` through the real CLI; only the models are stand-ins (the chat model file is the embedder's GGUF, never loaded).
ASK_CLI_IN_CHILD = """
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from orchestrator import llm
llm.embeddings_model = lambda settings, *args, **kwargs: DeterministicFakeEmbedding(size=16)
llm.chat_model = lambda settings, *args, **kwargs: FakeListChatModel(responses=["Item 3005 is noted in detail."])
from orchestrator.cli import app
app()
"""


def fill(folder: Path) -> None:
    """Write a file until the file system has no byte left (ENOSPC), the way a full disk looks."""
    with open(folder / "filler", "wb", buffering=0) as handle:
        for block in (1 << 16, 1 << 12, 1 << 9, 1):
            try:
                while True:
                    handle.write(b"\0" * block)
            except OSError:
                continue
    assert shutil.disk_usage(folder).free < 4096


@pytest.fixture
def full_disk_data(tmp_path, built):  # noqa: F811
    data, _, _ = built
    with mounted(tmp_path / "full", "-t", "tmpfs", "-o", "size=8m", "tmpfs") as small:
        shutil.copytree(data, small / "data")
        fill(small)
        yield small / "data"


def test_reads_work_on_a_full_disk(full_disk_data, built):  # noqa: F811
    _, _, embedder = built
    env = {
        "ORCH_DATA_DIR": str(full_disk_data),
        "ORCH_EMBEDDING_MODEL": str(embedder),
        "ORCH_MODEL": str(embedder),
    }
    checked = run(CLI_IN_CHILD, "collections", "--check", env=env)
    assert checked.startswith("exit 0") and "The knowledge base is sound." in checked, checked
    listing = run(CLI_IN_CHILD, "collections", env=env)
    assert listing.startswith("exit 0") and "1310" in listing, listing
    asked = run(ASK_CLI_IN_CHILD, "ask", "--json", "--route", "docs", "What does item 3005 note?", env=env)
    assert asked.startswith("exit 0") and "No space left" not in asked, asked
    row = json.loads(asked.splitlines()[1])
    assert row["error"] is None and "d3.txt" in json.dumps(row["tool_calls"]), row  # the documents were searched
    for _ in range(2):  # the router's cache of example vectors cannot be written: no half-written file may stay
        routed = run(ASK_CLI_IN_CHILD, "ask", "Could you say hello?", env=env)
        assert routed.startswith("exit 0") and "Error" not in routed, routed
    written = [p for p in full_disk_data.rglob("*") if p.is_file() and p.parent.name != "locks"]  # lock files are empty
    assert [p.name for p in written if p.stat().st_size == 0] == [], "half-written files stayed behind"
    assert shutil.disk_usage(full_disk_data).free < 4096  # nothing freed space behind the test's back
