"""A damaged knowledge base gives one clear line with the repair command, and `collections --check --repair`
rebuilds it from the source files (issue 14, item 3).

A real Chroma in a temp dir with 1,310 chunks (above Chroma's HNSW sync threshold, so the vector index is
on disk); embeddings are langchain-core's deterministic fake, so each chunk's text embeds to its stored vector.
"""

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from typer.testing import CliRunner

from orchestrator.config import Settings
from tests.reliability.gguf_corpus import write_base_gguf
from tests.reliability.supervise import PROJECT_ROOT

DIM = 16
# The embedding model is a stand-in: a valid GGUF file (ORCH_EMBEDDING_MODEL) identifies it, the fake embeds.
FAKE_OPEN = """
from pathlib import Path
from langchain_core.embeddings import DeterministicFakeEmbedding
import orchestrator.app as app_module
from orchestrator.knowledge.store import embedding_model_id, open_store

def fake_open(settings, collection=None, reset=False, progress=None, **options):
    fake = DeterministicFakeEmbedding(size=16)
    return open_store(settings, fake, embedding_model_id(Path(settings.embedding_model), fake), collection, reset, **options)

app_module.open_knowledge_store = fake_open
"""
CLI_IN_CHILD = FAKE_OPEN + "\nfrom orchestrator.cli import app\napp()\n"
# One question through the whole app (Python API); only the model and the embedder are stand-ins.
ASK_IN_CHILD = """
import json
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from orchestrator import build_app, llm
# The configured embedding model (ORCH_EMBEDDING_MODEL) loads as the fake, so the collection is
# checked against the model file it was built with, as in real use.
llm.embeddings_model = lambda settings, *args, **kwargs: DeterministicFakeEmbedding(size=16)
app = build_app(chat_model=FakeListChatModel(responses=["chat"]))
print(json.dumps({"error": app.invoke({"question": "What does item 3005 note?", "route": "docs"}).error}))
"""


def model_id(embedder_file: Path):
    from orchestrator.knowledge.store import embedding_model_id

    return embedding_model_id(embedder_file, DeterministicFakeEmbedding(size=DIM))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(data dir, docs dir, embedder file) of an intact knowledge base, built once; tests damage copies of it."""
    from orchestrator.knowledge.ingest import ingest_paths
    from orchestrator.knowledge.store import open_store

    root = tmp_path_factory.mktemp("kb")
    docs = root / "docs"
    docs.mkdir()
    for f in range(10):
        (docs / f"d{f}.txt").write_text(
            "\n\n".join(
                f"Paragraph {f}-{c}: the archive notes item {f * 1000 + c} in some detail, with enough further words "
                "to fill about one hundred and fifty characters."
                for c in range(131)
            )
        )
    embedder = write_base_gguf(root / "embedder.gguf")
    settings = Settings(data_dir=root / "data", chunk_size=200, chunk_overlap=0)
    store = open_store(settings, DeterministicFakeEmbedding(size=DIM), model_id(embedder), "default")
    assert ingest_paths([docs], store, settings).chunks_total == 1310
    return root / "data", docs, embedder


@pytest.fixture
def copy(built, tmp_path, monkeypatch):
    data, _, embedder = built
    shutil.copytree(data, tmp_path / "data")
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ORCH_EMBEDDING_MODEL", str(embedder))
    monkeypatch.setenv("ORCH_CHUNK_SIZE", "200")
    monkeypatch.setenv("ORCH_CHUNK_OVERLAP", "0")
    return tmp_path / "data"


def truncate_index(data: Path) -> None:
    (index,) = data.glob("chroma/*/data_level0.bin")
    os.truncate(index, index.stat().st_size // 2)


def overwrite_pages(data: Path) -> None:
    db = data / "chroma" / "chroma.sqlite3"
    raw = bytearray(db.read_bytes())
    random.seed(14)
    for page in range(4, len(raw) // 4096, 7):  # every 7th page from the 5th on: random bytes
        raw[page * 4096 : (page + 1) * 4096] = random.randbytes(4096)
    db.write_bytes(bytes(raw))


def empty_database(data: Path) -> None:
    (data / "chroma" / "chroma.sqlite3").write_bytes(b"")  # `: > chroma.sqlite3`


def missing_database(data: Path) -> None:
    (data / "chroma" / "chroma.sqlite3").unlink()


DAMAGES = [truncate_index, overwrite_pages, empty_database, missing_database]


def run_child(script: str, data: Path, *args: str) -> subprocess.CompletedProcess:
    """The script in a child process (a Rust panic must not take the test down), with the copy's settings."""
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=PROJECT_ROOT,
        env={**os.environ, "COLUMNS": "400"},
    )


def run_cli(data: Path, *args: str) -> subprocess.CompletedProcess:
    return run_child(CLI_IN_CHILD, data, *args)


def every_chunk_found_by_its_text(data: Path, embedder: Path) -> tuple[int, int]:
    from orchestrator.knowledge.store import open_store

    embeddings = DeterministicFakeEmbedding(size=DIM)
    store = open_store(Settings(data_dir=data), embeddings, model_id(embedder), "default", fresh=True)
    texts = store.texts_by_id()
    found = sum(
        store.vector_search(embeddings.embed_query(text), k=1)[0][0].id == chunk_id for chunk_id, text in texts.items()
    )
    return found, len(texts)


@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("command", [["collections"], ["ingest", "DOCS"], ["ask"]])
def test_every_command_on_a_damaged_knowledge_base_says_how_to_repair(copy, built, damage, command):
    damage(copy)
    before = sorted(p.name for p in (copy / "chroma").iterdir())
    if damage is truncate_index and command == ["collections"]:
        pytest.skip("listing reads only the database, which is intact; --check finds the index damage")
    if command == ["ask"]:  # through the Python API: the error is the answer's, one sentence
        result = run_child(ASK_IN_CHILD, copy)
        assert result.returncode == 0, result.stderr[-3000:]
        result.returncode = 1 if json.loads(result.stdout.splitlines()[-1])["error"] else 0
    else:
        result = run_cli(copy, *[str(built[1]) if arg == "DOCS" else arg for arg in command])
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "panicked" not in output and "PanicException" not in output, output[-3000:]
    assert "orchestrator collections --check --repair" in " ".join(output.split()), output[-3000:]
    assert "the knowledge base is empty" not in output, output[-3000:]
    assert result.returncode == 1
    assert sorted(p.name for p in (copy / "chroma").iterdir()) == before  # nothing rebuilt behind the user's back


@pytest.mark.parametrize("damage", DAMAGES)
def test_check_reports_and_repair_rebuilds_from_the_sources(copy, built, damage):
    damage(copy)
    checked = run_cli(copy, "collections", "--check")
    assert checked.returncode == 1 and "damaged" in checked.stdout + checked.stderr
    assert "--repair" in checked.stderr
    repaired = run_cli(copy, "collections", "--check", "--repair")
    assert repaired.returncode == 0, repaired.stderr[-3000:]
    assert "Rebuilt 'default' from 10 files: 1310 chunks." in repaired.stdout
    assert every_chunk_found_by_its_text(copy, built[2]) == (1310, 1310)
    again = run_cli(copy, "collections", "--check")
    assert again.returncode == 0 and "The knowledge base is sound." in again.stdout


def test_an_intact_knowledge_base_checks_sound(copy):
    result = CliRunner().invoke(__import__("orchestrator.cli", fromlist=["app"]).app, ["collections", "--check"])
    assert result.exit_code == 0 and "sound" in result.output
