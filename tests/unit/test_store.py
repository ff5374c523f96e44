"""The Chroma store: a real persistent Chroma in a temp dir, with fast deterministic fake embeddings."""

from __future__ import annotations

import numpy as np
import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from orchestrator.config import Settings
from orchestrator.errors import ConfigError
from orchestrator.knowledge.ingest import ingest_paths
from orchestrator.knowledge.retrieval import HybridRetriever
from orchestrator.knowledge.store import (
    EmbeddingModelId,
    KnowledgeStoreError,
    chroma_dir,
    delete_collection,
    embedding_model_id,
    list_collections,
    open_store,
)

DIM = 16
MODEL_A = EmbeddingModelId("fake-a", "a" * 64, 100, DIM)
MODEL_B = EmbeddingModelId("fake-b", "b" * 64, 100, DIM)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def embeddings() -> DeterministicFakeEmbedding:
    return DeterministicFakeEmbedding(size=DIM)


@pytest.fixture
def docs_dir(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Alpha centauri is the closest star system to the Sun.\n\nIt has three stars.")
    (folder / "b.md").write_text("# Beta\n\nBeta testing happens before a release.")
    return folder


def test_store_adds_searches_and_counts(settings, embeddings):
    store = open_store(settings, embeddings, MODEL_A, "notes")
    store.add(["one text", "another text"], [{"source": "x", "page": None}, {"source": "y", "page": 3}], ["id1", "id2"])
    assert store.count() == 2
    assert store.metadata_by_id()["id2"]["page"] == 3
    assert "page" not in store.metadata_by_id()["id1"]  # None is stored as absent; retrieval restores None
    assert store.texts_by_id() == {"id1": "one text", "id2": "another text"}
    assert [doc.id for doc in store.documents(["id2", "missing", "id1"])] == ["id2", "id1"]


def test_vector_search_returns_cosine_similarity(settings, embeddings):
    store = open_store(settings, embeddings, MODEL_A, "notes")
    texts = ["red apples", "green pears", "blue sky"]
    store.add(texts, [{"source": t} for t in texts], ["r", "g", "b"])
    query = embeddings.embed_query("apples")
    hits = store.vector_search(query, k=3)
    for doc, cosine in hits:
        vector = np.array(embeddings.embed_query(doc.page_content))
        expected = float(np.dot(query, vector) / (np.linalg.norm(query) * np.linalg.norm(vector)))
        assert cosine == pytest.approx(expected, abs=1e-4)
    assert [c for _, c in hits] == sorted((c for _, c in hits), reverse=True)


def test_collection_records_the_embedding_model(settings, embeddings):
    store = open_store(settings, embeddings, MODEL_A, "notes")
    assert EmbeddingModelId.from_metadata(store.vectorstore._collection.metadata) == MODEL_A


def test_opening_with_another_embedding_model_is_refused(settings, embeddings):
    open_store(settings, embeddings, MODEL_A, "notes").add(["t"], [{"source": "s"}], ["i"])
    with pytest.raises(KnowledgeStoreError) as excinfo:
        open_store(settings, embeddings, MODEL_B, "notes")
    message = str(excinfo.value)
    assert "fake-a" in message and "fake-b" in message
    assert "orchestrator ingest --collection notes --reset" in message


def test_another_dimension_is_another_model(settings, embeddings):
    open_store(settings, embeddings, MODEL_A, "notes")
    wider = EmbeddingModelId("fake-a", MODEL_A.sha256, MODEL_A.size, DIM * 2)
    with pytest.raises(KnowledgeStoreError, match="--reset"):
        open_store(settings, DeterministicFakeEmbedding(size=DIM * 2), wider, "notes")


def test_reset_switches_the_embedding_model(settings, embeddings):
    open_store(settings, embeddings, MODEL_A, "notes").add(["t"], [{"source": "s"}], ["i"])
    store = open_store(settings, embeddings, MODEL_B, "notes", reset=True)
    assert store.count() == 0
    assert EmbeddingModelId.from_metadata(store.vectorstore._collection.metadata) == MODEL_B


def test_same_weights_under_another_file_name_are_accepted(settings, embeddings):
    open_store(settings, embeddings, MODEL_A, "notes")
    renamed = EmbeddingModelId("renamed-copy", MODEL_A.sha256, MODEL_A.size, MODEL_A.dimension)
    assert open_store(settings, embeddings, renamed, "notes").count() == 0


def test_list_collections(settings, embeddings):
    assert list_collections(settings) == []
    open_store(settings, embeddings, MODEL_A, "notes").add(["a", "b"], [{"source": "s"}] * 2, ["1", "2"])
    open_store(settings, embeddings, MODEL_B, "other")
    rows = list_collections(settings)
    assert [(r.name, r.count) for r in rows] == [("notes", 2), ("other", 0)]
    assert rows[0].embedding_model.startswith("fake-a (dim 16")
    assert delete_collection(settings, "other") is True
    assert [r.name for r in list_collections(settings)] == ["notes"]
    assert delete_collection(settings, "other") is False


@pytest.mark.parametrize("name", ["x", "has space", "-dash-first", "a..b", "ümlaut"])
def test_bad_collection_names_say_what_to_change(settings, embeddings, name):
    with pytest.raises(ConfigError, match="--collection"):
        open_store(settings, embeddings, MODEL_A, name)


def test_damaged_store_gives_recovery_instructions_and_keeps_the_files(settings, embeddings):
    folder = chroma_dir(settings)
    folder.mkdir(parents=True)
    (folder / "chroma.sqlite3").write_bytes(b"this is not an sqlite database" * 200)
    for attempt in (lambda: list_collections(settings), lambda: open_store(settings, embeddings, MODEL_A, "notes")):
        with pytest.raises(KnowledgeStoreError) as excinfo:
            attempt()
        assert f"mv {folder} {folder}.broken" in str(excinfo.value)
        assert "orchestrator ingest" in str(excinfo.value)
    assert (folder / "chroma.sqlite3").read_bytes().startswith(b"this is not")  # never rebuilt silently


def test_embedding_model_id_hashes_the_file(tmp_path, embeddings):
    model = tmp_path / "tiny.F16.gguf"
    model.write_bytes(b"GGUF" + bytes(100))
    identity = embedding_model_id(model, embeddings)
    assert identity.name == "tiny.F16"
    assert identity.size == 104
    assert identity.dimension == DIM
    assert identity.sha256 == __import__("hashlib").sha256(b"GGUF" + bytes(100)).hexdigest()


def _guard_chroma_default_embedding(monkeypatch):
    """Make any use of Chroma's own default embedding function (an ONNX download) fail loudly."""
    from chromadb.utils.embedding_functions import DefaultEmbeddingFunction
    from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2

    def forbidden(self, input):  # chromadb checks that __call__ has exactly this signature
        raise AssertionError("Chroma's default embedding function was invoked")

    def forbidden_download(self, *args, **kwargs):
        raise AssertionError("Chroma's default embedding model download was attempted")

    monkeypatch.setattr(DefaultEmbeddingFunction, "__call__", forbidden)
    monkeypatch.setattr(ONNXMiniLM_L6_V2, "__call__", forbidden)
    monkeypatch.setattr(ONNXMiniLM_L6_V2, "_download_model_if_not_exists", forbidden_download)


def test_the_guard_catches_chromas_default_embedding_function(settings, monkeypatch):
    """The guard below would notice: plain chromadb embeds documents with its default function."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    _guard_chroma_default_embedding(monkeypatch)
    client = chromadb.PersistentClient(
        path=str(settings.data_dir / "plain"), settings=ChromaSettings(anonymized_telemetry=False)
    )
    with pytest.raises(AssertionError, match="default embedding function was invoked"):
        client.get_or_create_collection("plain").add(ids=["1"], documents=["text without a vector"])


def test_chromas_default_embedding_function_is_never_invoked(settings, embeddings, docs_dir, monkeypatch):
    _guard_chroma_default_embedding(monkeypatch)
    store = open_store(settings, embeddings, MODEL_A, "notes")
    summary = ingest_paths([docs_dir], store, settings)
    assert summary.chunks_added > 0
    retriever = HybridRetriever(store=store, k=2)
    assert len(retriever.invoke("alpha stars")) == 2
    store.delete([next(iter(store.metadata_by_id()))])
    assert list_collections(settings)[0].count == summary.chunks_added - 1
    assert open_store(settings, embeddings, MODEL_A, "notes").count() == summary.chunks_added - 1
