"""Two ingests into one collection at once: every chunk is still found by its own text (issue 14, item 2).

Real Chroma in a temp dir, two real processes; embeddings are langchain-core's deterministic fake, so
a chunk's text always embeds to the vector stored for it and its own search must return it first.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from orchestrator.config import Settings
from tests.reliability.supervise import PROJECT_ROOT

DIM = 16
COLLECTION = "shared"

# `orchestrator ingest FILE` once per file (many short write phases to interleave), in a child process;
# only the embedding model is a stand-in (a fake with the same interface, recorded as model "fake").
INGEST_IN_CHILD = """
import os, sys, time
from pathlib import Path
from langchain_core.embeddings import DeterministicFakeEmbedding
import orchestrator.app as app_module
from orchestrator.knowledge.store import EmbeddingModelId, open_store

def fake_open(settings, collection=None, reset=False, progress=None, **options):
    return open_store(settings, DeterministicFakeEmbedding(size=16), EmbeddingModelId("fake", "f" * 64, 1, 16),
                      collection, reset, **options)

app_module.open_knowledge_store = fake_open
from orchestrator.cli import app
docs, start = Path(sys.argv[1]), Path(sys.argv[2])
while not start.exists():
    time.sleep(0.001)
for path in sorted(docs.iterdir()):
    try:
        app(["ingest", str(path), "--collection", "shared"])
    except SystemExit as exc:
        if exc.code:
            raise
"""


def write_docs(folder: Path, tag: str, files: int = 8, chunks: int = 90) -> None:
    folder.mkdir()
    for f in range(files):
        # ~150 characters per paragraph with chunk_size 200: every paragraph is one chunk
        text = "\n\n".join(
            f"Chunk {tag}-{f}-{c}: the {tag} archive notes item {f * 100 + c} in some detail, with enough "
            f"further words to fill about one hundred and fifty characters."
            for c in range(chunks)
        )
        (folder / f"{tag}{f}.txt").write_text(text)


def self_retrieval_misses(data_dir: Path) -> tuple[int, int]:
    """(chunks not found first by their own text, chunks in the collection)."""
    from orchestrator.knowledge.store import EmbeddingModelId, open_store

    embeddings = DeterministicFakeEmbedding(size=DIM)
    store = open_store(Settings(data_dir=data_dir), embeddings, EmbeddingModelId("fake", "f" * 64, 1, DIM), COLLECTION)
    texts = store.texts_by_id()
    misses = 0
    for chunk_id, text in texts.items():
        hits = store.vector_search(embeddings.embed_query(text), k=1)
        misses += not hits or hits[0][0].id != chunk_id
    return misses, len(texts)


@pytest.mark.parametrize("attempt", range(2))
def test_two_concurrent_ingests_lose_no_vector(tmp_path, attempt):
    write_docs(tmp_path / "a", "alpha")
    write_docs(tmp_path / "b", "beta")
    start = tmp_path / "start"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", INGEST_IN_CHILD, str(tmp_path / name), str(start)],
            cwd=PROJECT_ROOT,
            env={
                **os.environ,
                "ORCH_DATA_DIR": str(tmp_path / "data"),
                "ORCH_CHUNK_SIZE": "200",
                "ORCH_CHUNK_OVERLAP": "0",
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    time.sleep(3)  # both have imported chromadb and wait for the start signal
    start.touch()
    outputs = [child.communicate(timeout=300) for child in children]
    assert [child.returncode for child in children] == [0, 0], [err[-2000:] for _, err in outputs]
    misses, total = self_retrieval_misses(tmp_path / "data")
    assert total == 2 * 8 * 90  # above Chroma's default HNSW sync threshold (1000), so the index is persisted
    assert misses == 0, f"{misses} of {total} chunks not found by their own text"
    assert_keyword_index_in_step(tmp_path / "data", total)


def assert_keyword_index_in_step(data_dir: Path, total: int) -> None:
    """Both writers kept the keyword index in step: current without a rebuild, and holding every chunk once."""
    from orchestrator.knowledge.keyword_index import KeywordIndex
    from orchestrator.knowledge.store import EmbeddingModelId, open_store

    embeddings = DeterministicFakeEmbedding(size=DIM)
    store = open_store(Settings(data_dir=data_dir), embeddings, EmbeddingModelId("fake", "f" * 64, 1, DIM), COLLECTION)
    index = KeywordIndex.open(store.keyword_index_dir)
    assert index.stamp == store.write_stamp() and len(index) == total
    assert len(index.search("alpha", total)) == total // 2  # the chunks of one writer
