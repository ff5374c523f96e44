"""No space left and no permission are named as such, and an unwritable knowledge base does not stop other questions
(issue 14, item 4). Real mounts are in tests/reliability/test_disk_faults.py."""

import errno
import sqlite3

import pytest

from orchestrator import Settings, build_app
from orchestrator import app as app_module
from orchestrator.errors import os_error_message
from orchestrator.knowledge.store import KnowledgeStoreError, KnowledgeStoreUnwritable, _chroma_errors
from tests.helpers.word_hash import WordHashEmbeddings


def test_sqlite_disk_full_is_named_not_called_damage(tmp_path):
    with pytest.raises(KnowledgeStoreUnwritable, match="No space left on the disk holding") as caught:
        with _chroma_errors(tmp_path, "add chunks"):
            raise sqlite3.OperationalError("database or disk is full")
    assert "damaged" not in str(caught.value)


def test_a_nearly_full_disk_explains_a_vague_chroma_failure(tmp_path, monkeypatch):
    from chromadb.errors import InternalError

    monkeypatch.setattr("orchestrator.knowledge.store.LOW_SPACE_BYTES", 1 << 62)  # every disk is "nearly full"
    with pytest.raises(KnowledgeStoreUnwritable, match="No space left"):
        with _chroma_errors(tmp_path, "add chunks"):
            raise InternalError("Error in compaction: Failed to apply logs to the metadata segment")


def test_other_chroma_failures_still_point_at_repair(tmp_path):
    from chromadb.errors import InternalError

    with pytest.raises(KnowledgeStoreError, match="collections --check --repair") as caught:
        with _chroma_errors(tmp_path, "search"):
            raise InternalError("Error getting embedding")
    assert not isinstance(caught.value, KnowledgeStoreUnwritable)


@pytest.mark.parametrize(
    "code, expected",
    [
        (errno.ENOSPC, "No space left on the disk holding"),
        (errno.EROFS, "the file system is read-only"),
        (errno.EACCES, "permission denied"),
        (errno.ENOTDIR, "is a file, not a folder"),
    ],
)
def test_os_errors_become_one_sentence_naming_the_path(tmp_path, code, expected):
    (tmp_path / "file").write_text("x")
    path = tmp_path / "file" / "out.jsonl"
    message = os_error_message(OSError(code, "x", str(path)), path)
    assert expected in message and str(tmp_path) in message


def test_an_unwritable_knowledge_base_leaves_other_routes_working(tmp_path, monkeypatch):
    app = build_app(Settings(data_dir=tmp_path), embeddings=WordHashEmbeddings())

    def unwritable(*args, **kwargs):
        raise KnowledgeStoreUnwritable(
            "The knowledge base at X could not be opened: Cannot write X: the file system is read-only."
        )

    monkeypatch.setattr(app_module, "open_retriever", unwritable)
    math = app.invoke({"question": "What is 2+2?"})
    assert math.error is None and "4" in math.answer
    docs = app.invoke({"question": "What do my notes say about pools?", "route": "docs"})
    assert docs.error and "read-only" in docs.error


def test_ingest_on_a_full_disk_says_how_much_space_the_rest_needs(tmp_path, monkeypatch):
    from langchain_core.embeddings import DeterministicFakeEmbedding

    from orchestrator.knowledge.ingest import ingest_paths
    from orchestrator.knowledge.store import EmbeddingModelId, KnowledgeStore, open_store

    settings = Settings(data_dir=tmp_path / "data")
    store = open_store(settings, DeterministicFakeEmbedding(size=8), EmbeddingModelId("fake", "f" * 64, 1, 8), "full")
    (tmp_path / "a.txt").write_text("A paragraph about disks that fill up. " * 200)

    def full(self, texts, metadatas, ids, vectors=None):
        with _chroma_errors(tmp_path, "add chunks"):
            raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(KnowledgeStore, "add", full)
    with pytest.raises(
        KnowledgeStoreUnwritable, match=r"No space left .* more is needed to finish.* chunks were still to add"
    ) as raised:
        ingest_paths([tmp_path / "a.txt"], store, settings)
    assert "a few hundred MB" not in str(raised.value)  # one estimate, the ingest's own
