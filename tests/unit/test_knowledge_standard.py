"""langchain-tests' standard suites against the components this project configures and writes.

* VectorStoreIntegrationTests: the langchain_chroma.Chroma exactly as `open_store` configures it
  (persistent client, cosine space, no Chroma embedding function, model identity metadata).
* RetrieversIntegrationTests: HybridRetriever over a small ingested collection.

Both use deterministic fake embeddings (as the suites recommend) and a real Chroma in a temp dir.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import pytest
from langchain_core.vectorstores import VectorStore
from langchain_tests.integration_tests import RetrieversIntegrationTests, VectorStoreIntegrationTests

from orchestrator.config import Settings
from orchestrator.knowledge.ingest import ingest_paths
from orchestrator.knowledge.retrieval import HybridRetriever
from orchestrator.knowledge.store import EmbeddingModelId, KnowledgeStore, open_store

SUITE_DIMENSION = 6  # langchain_tests' EMBEDDING_SIZE for get_embeddings()


# langchain-tests assumes pytest-asyncio's `asyncio_mode = "auto"`; this project runs the default
# strict mode, where unmarked async tests would not run at all. Marking the module runs them (the
# suites forbid overriding their tests); pytest-asyncio then warns about the sync ones, harmlessly.
pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.filterwarnings("ignore:The test <Function .*> is marked with '@pytest.mark.asyncio'"),
]


class TestConfiguredChroma(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self, tmp_path: Path) -> Generator[VectorStore, None, None]:  # type: ignore[override]
        settings = Settings(data_dir=tmp_path / "data")
        identity = EmbeddingModelId("suite-fake", "0" * 64, 0, SUITE_DIMENSION)
        store = open_store(settings, self.get_embeddings(), identity, "standard-suite")
        yield store.vectorstore
        store.vectorstore.delete_collection()


class TestHybridRetriever(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def knowledge_store(self, tmp_path: Path) -> None:
        settings = Settings(data_dir=tmp_path / "data", chunk_size=80, chunk_overlap=0)
        folder = tmp_path / "docs"
        folder.mkdir()
        for n in range(6):
            (folder / f"doc{n}.txt").write_text(f"Document number {n} mentions the example query word banana {n}.")
        identity = EmbeddingModelId("suite-fake", "0" * 64, 0, SUITE_DIMENSION)
        self.store: KnowledgeStore = open_store(
            settings, VectorStoreIntegrationTests.get_embeddings(), identity, "standard-retriever"
        )
        ingest_paths([folder], self.store, settings)

    @property
    def retriever_constructor(self) -> type[HybridRetriever]:
        return HybridRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"store": self.store, "k": 2}

    @property
    def retriever_query_example(self) -> str:
        return "banana"
