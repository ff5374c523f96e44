"""Chroma server mode: the real `chroma run` on 127.0.0.1, ingest, query, re-ingest (idempotent), stop."""

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from orchestrator import Settings
from orchestrator.errors import OrchestratorError
from orchestrator.knowledge.ingest import ingest_paths
from orchestrator.knowledge.retrieval import HybridRetriever
from orchestrator.knowledge.store import EmbeddingModelId, list_collections, open_store

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    port = free_port()
    process = subprocess.Popen(
        [
            chroma,
            "run",
            "--path",
            str(tmp_path_factory.mktemp("chroma-server")),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import chromadb

    deadline = time.monotonic() + 60
    while True:
        try:
            chromadb.HttpClient(host="127.0.0.1", port=port).heartbeat()
            break
        except Exception:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail("chroma run did not start")
            time.sleep(0.5)
    yield port
    process.terminate()
    process.wait(timeout=30)


def server_settings(tmp_path, port) -> Settings:
    return Settings(
        data_dir=tmp_path / "data", chroma_host="127.0.0.1", chroma_port=port, chunk_size=200, chunk_overlap=20
    )


def test_ingest_query_and_reingest_through_the_server(chroma_server, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "library.txt").write_text("The Lark Island library opens at 09:30. Members borrow up to 7 items.\n" * 3)
    (docs / "water.md").write_text("# Water\nGreenfield Water sends bills every three months.\n")
    settings = server_settings(tmp_path, chroma_server)
    embeddings = DeterministicFakeEmbedding(size=32)
    model_id = EmbeddingModelId("fake", "0" * 64, 1, 32)

    store = open_store(settings, embeddings, model_id, collection="server-test")
    first = ingest_paths([docs], store, settings)
    assert first.chunks_added > 0 and first.files_ingested == 2
    again = ingest_paths([docs], open_store(settings, embeddings, model_id, collection="server-test"), settings)
    assert again.chunks_added == 0 and again.chunks_unchanged == first.chunks_added  # idempotent

    hits = HybridRetriever.from_settings(store, settings).retrieve_with_scores("When does Greenfield Water send bills?")
    assert any(Path(d.metadata["source"]).name == "water.md" for d in hits)
    counts = {c.name: c.count for c in list_collections(settings)}
    assert counts["server-test"] == first.chunks_added


def test_unreachable_server_gives_a_clear_error(tmp_path):
    settings = Settings(data_dir=tmp_path, chroma_host="127.0.0.1", chroma_port=free_port())
    with pytest.raises(OrchestratorError, match="not reachable.*chroma run"):
        list_collections(settings)


def test_a_write_from_another_machine_reaches_this_machines_keyword_index(chroma_server, tmp_path, monkeypatch):
    # The keyword index lives in each machine's data folder; the write stamp in the server's collection metadata.
    from orchestrator.knowledge.keyword_index import IndexWrite, KeywordIndex

    embeddings = DeterministicFakeEmbedding(size=32)
    model_id = EmbeddingModelId("fake", "0" * 64, 1, 32)
    here, there = server_settings(tmp_path / "here", chroma_server), server_settings(tmp_path / "there", chroma_server)
    (tmp_path / "ferry.txt").write_text("The Osterwick ferry leaves at 07:40 on weekdays.")
    (tmp_path / "mill.txt").write_text("The Quenby mill grinds rye on Thursdays.")
    ingest_paths([tmp_path / "ferry.txt"], open_store(here, embeddings, model_id, "two-machines"), here)

    def search(term):
        store = open_store(here, embeddings, model_id, "two-machines")
        return [Path(d.metadata["source"]).name for d in HybridRetriever(store=store, k=1, mode="bm25").invoke(term)]

    rebuilds: list = []
    original = IndexWrite.replace_all
    monkeypatch.setattr(IndexWrite, "replace_all", lambda self, rows: rebuilds.append(1) or original(self, rows))
    assert search("Osterwick") == ["ferry.txt"] and rebuilds == []  # kept in step by the write itself
    ingest_paths([tmp_path / "mill.txt"], open_store(there, embeddings, model_id, "two-machines"), there)
    assert search("Quenby") == ["mill.txt"] and rebuilds == [1]  # the other machine's write changed the stamp
    assert search("Osterwick") == ["ferry.txt"] and rebuilds == [1]  # and then it is current again
    store = open_store(here, embeddings, model_id, "two-machines")
    assert KeywordIndex.open(store.keyword_index_dir).stamp == store.write_stamp()
