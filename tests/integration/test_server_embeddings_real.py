"""embeddings_backend=openai against a real /v1/embeddings server on 127.0.0.1: llama-cpp-python's, with the default embedder."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from orchestrator.config import Settings
from orchestrator.knowledge.store import list_collections
from tests.helpers.parallel_servers import start_llama_server

pytestmark = pytest.mark.integration

ALIAS = "minilm-on-loopback"
CLI = [sys.executable, "-c", "from orchestrator.cli import app; app()"]
# Facts of our own, one per file, so a docs answer can only come from the ingested text.
DOCUMENTS = {
    "harbour.txt": "The Quillmere harbour ferry leaves every 40 minutes from pier 7, starting at 06:10.",
    "orchard.md": "# Orchard\n\nThe Tessaly orchard grows a pear variety called Brindlewick, picked in late September.",
    "observatory.txt": "The Ardenhollow observatory opens its telescope dome to visitors on the second Thursday of each month.",
}


@pytest.fixture(scope="module")
def embedding_server(embedding_model_path, tmp_path_factory):
    log = tmp_path_factory.mktemp("embedding_server") / "server.log"
    with start_llama_server(embedding_model_path, ALIAS, log, threads=2, embedding=True) as url:
        yield url


@pytest.fixture
def server_env(model_env, embedding_server, monkeypatch, tmp_path):
    monkeypatch.setenv("ORCH_EMBEDDINGS_BACKEND", "openai")
    monkeypatch.setenv("ORCH_EMBEDDINGS_BASE_URL", embedding_server)
    monkeypatch.setenv("ORCH_EMBEDDINGS_SERVER_MODEL", ALIAS)
    monkeypatch.setenv("ORCH_MAX_TOKENS", "48")
    monkeypatch.setenv("ORCH_TEMPERATURE", "0")
    import os

    return dict(os.environ)


@pytest.fixture
def documents(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in DOCUMENTS.items():
        (folder / name).write_text(text + "\n")
    return folder


def run_cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=300)


def test_server_vectors_are_the_local_embedders_normalised(embedding_server, embedding_model_path, tmp_path):
    from orchestrator.llm import embeddings_model

    texts = ["A ferry leaves the harbour every forty minutes.", "Pears are picked in September."]
    served = embeddings_model(
        Settings(embeddings_backend="openai", embeddings_base_url=embedding_server, embeddings_server_model=ALIAS)
    ).embed_documents(texts)
    local = embeddings_model(Settings(data_dir=tmp_path), embedding_model_path).embed_documents(texts)
    for remote_vector, local_vector in zip(served, local):
        assert len(remote_vector) == len(local_vector) == 384
        assert math.isclose(math.fsum(x * x for x in remote_vector), 1.0, rel_tol=1e-5)
        assert math.fsum(a * b for a, b in zip(remote_vector, local_vector)) > 0.999


def test_ingest_then_a_docs_answer_through_the_server(server_env, documents):
    from orchestrator.app import open_knowledge_store
    from orchestrator.knowledge.ingest import ingest_paths

    settings = Settings()  # from server_env: embeddings on the server
    ingest_paths([documents], open_knowledge_store(settings), settings)
    [listed] = list_collections(Settings())
    assert listed.embedding_model.startswith(f"server:{ALIAS} (dim 384") and listed.count == len(DOCUMENTS), listed
    asked = run_cli(server_env, "ask", "--route", "docs", "--json", "Which pear variety does the Tessaly orchard grow?")
    assert asked.returncode == 0, asked.stderr
    row = json.loads(asked.stdout)
    assert row["route"] == "docs" and row["error"] is None, row
    assert any(source["source"].endswith("orchard.md") for source in row["sources"]), row["sources"]
    assert "Brindlewick" in row["answer"], row["answer"]


def test_a_collection_of_another_embedder_is_refused_with_both_names(server_env):
    from langchain_core.embeddings import DeterministicFakeEmbedding

    from orchestrator.app import open_knowledge_store
    from orchestrator.knowledge.store import EmbeddingModelId, KnowledgeStoreError, open_store

    # A collection made by a 16-dimensional embedder: the server's 384-dimensional vectors cannot join it.
    other = open_store(
        Settings(), DeterministicFakeEmbedding(size=16), EmbeddingModelId("tiny-embedder", "b" * 64, 1, 16)
    )
    other.vectorstore.add_texts(["a chunk from another embedder"])
    with pytest.raises(KnowledgeStoreError) as refused:  # what `orchestrator ingest` opens before it reads a file
        open_knowledge_store(Settings())
    refusal = str(refused.value)
    assert "tiny-embedder (dim 16" in refusal and f"server:{ALIAS} (dim 384" in refusal, refusal
    asked = run_cli(server_env, "ask", "--route", "docs", "--json", "Which pear variety does the Tessaly orchard grow?")
    answer = " ".join((asked.stdout + asked.stderr).split())
    assert "tiny-embedder (dim 16" in answer and f"server:{ALIAS} (dim 384" in answer, answer
