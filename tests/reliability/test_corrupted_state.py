"""Damaged state on disk gives a clear error saying how to recover, and nothing is rebuilt silently."""

import hashlib
import json
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

# One question through the whole app, in a child process (a damaged store must not take the process
# down); only the model and the embedder are stand-ins.
ASK_IN_CHILD = """
import json, sys
from pathlib import Path
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from orchestrator import Settings, build_app
settings = Settings(data_dir=Path(sys.argv[1]), embedding_model=sys.argv[2])
app = build_app(settings, embeddings=DeterministicFakeEmbedding(size=16), chat_model=FakeListChatModel(responses=["chat"]))
answer = app.invoke({"question": "What does note 3 say about the alpha star over Breccia?"})
print(json.dumps({"error": answer.error, "answer": answer.answer}))
"""


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    """A real Chroma knowledge base, ingested with the fake embeddings the child app is given.

    The collection records the identity an app gives embeddings passed to build_app (class and
    output, not the configured model file), so the intact copy opens and the damaged ones fail.
    """
    from orchestrator.knowledge.ingest import ingest_paths
    from orchestrator.knowledge.store import injected_embeddings_id, open_store

    root = tmp_path_factory.mktemp("kb")
    docs = root / "docs"
    docs.mkdir()
    for i in range(5):
        (docs / f"note{i}.txt").write_text(
            f"Note {i}: the alpha star number {i} shines over the village of Breccia. " * 20
        )
    embedder_file = write_base_gguf(root / "embedder.gguf")  # a valid GGUF stands in for the embedding model
    embeddings = DeterministicFakeEmbedding(size=16)
    settings = Settings(data_dir=root / "data")
    store = open_store(settings, embeddings, injected_embeddings_id(embeddings), "default")
    assert ingest_paths([docs], store, settings).chunks_added > 0
    return root / "data", embedder_file


def damage_truncate(db: Path) -> None:
    db.write_bytes(db.read_bytes()[: db.stat().st_size // 2])


def damage_zero_header(db: Path) -> None:
    db.write_bytes(bytes(100) + db.read_bytes()[100:])


def damage_overwrite_pages(db: Path) -> None:
    data = db.read_bytes()
    db.write_bytes(data[:8192] + b"Z" * 40000 + data[48192:])


@pytest.mark.parametrize("damage", [damage_truncate, damage_zero_header, damage_overwrite_pages])
def test_damaged_chroma_database_gives_recovery_steps_and_is_left_alone(ingested, damage, tmp_path, monkeypatch):
    data_dir, embedder_file = ingested
    copy = tmp_path / "data"
    shutil.copytree(data_dir, copy)
    damage(copy / "chroma" / "chroma.sqlite3")
    before = tree_digest(copy / "chroma")
    result = subprocess.run(
        [sys.executable, "-c", ASK_IN_CHILD, str(copy), str(embedder_file)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=PROJECT_ROOT,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    error = json.loads(result.stdout.splitlines()[-1])["error"]
    assert error and "could not be opened" in error
    assert f"mv {copy / 'chroma'} {copy / 'chroma'}.broken" in error and "orchestrator ingest" in error
    assert tree_digest(copy / "chroma") == before  # never repaired or rebuilt behind the user's back


def test_undamaged_copy_answers(ingested, tmp_path):
    """Control for the test above: the same child answers without error from an intact copy."""
    data_dir, embedder_file = ingested
    shutil.copytree(data_dir, tmp_path / "data")
    result = subprocess.run(
        [sys.executable, "-c", ASK_IN_CHILD, str(tmp_path / "data"), str(embedder_file)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=PROJECT_ROOT,
    )
    assert result.returncode == 0 and json.loads(result.stdout.splitlines()[-1])["error"] is None


@pytest.fixture
def partial_download(tmp_path, default_model_path):
    """A models dir where the default model's file is cut short, as by a download killed half-way."""
    from orchestrator.models import DEFAULT_CHAT_MODEL, REGISTRY, registry_path

    settings = Settings(data_dir=tmp_path / "data", models_dir=tmp_path / "models")
    target = registry_path(REGISTRY[DEFAULT_CHAT_MODEL], settings)
    target.parent.mkdir(parents=True)
    with default_model_path.open("rb") as source:
        target.write_bytes(source.read(default_model_path.stat().st_size // 3))
    leftover = target.parent / "pull-abc123"
    leftover.mkdir()
    (leftover / (target.name + ".partial")).write_bytes(b"GGUF" + bytes(1000))
    return settings, target


def test_partial_download_by_path_says_delete_and_pull_again(partial_download):
    from orchestrator.cli import app

    settings, target = partial_download
    result = CliRunner().invoke(app, ["ask", "--model", str(target), "What is 2+2?"])
    output = "".join(result.output.split())  # rich wraps long lines, even inside a file name
    assert result.exit_code == 1 and target.name in output and "Delete" in output and "orchestratorpull" in output
    assert target.stat().st_size > 0  # left in place for the user to inspect


def test_partial_download_by_name_is_not_trusted(partial_download):
    from orchestrator.errors import ModelNotFoundError
    from orchestrator.models import DEFAULT_CHAT_MODEL, resolve_model

    settings, _ = partial_download
    # No .verified stamp from a completed pull: the file is not used, and the message says how to fix it.
    with pytest.raises(ModelNotFoundError, match=f"orchestrator pull {DEFAULT_CHAT_MODEL}"):
        resolve_model(DEFAULT_CHAT_MODEL, settings, auto_pull=False)


def test_models_listing_survives_the_leftovers(partial_download, monkeypatch):
    from orchestrator.cli import app

    settings, target = partial_download
    monkeypatch.setenv("ORCH_MODELS_DIR", str(settings.resolved_models_dir))
    result = CliRunner().invoke(app, ["models"])
    assert result.exit_code == 0, result.output
