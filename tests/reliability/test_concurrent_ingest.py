"""Two ingests into one collection at once: every chunk is still found by its own text (issue 14, item 2).

Real Chroma in a temp dir, two real processes; embeddings are langchain-core's deterministic fake, so
a chunk's text always embeds to the vector stored for it and its own search must return it first.
"""

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

INGEST_IN_CHILD = """
import sys, time
from pathlib import Path
from langchain_core.embeddings import DeterministicFakeEmbedding
from orchestrator.config import Settings
from orchestrator.knowledge.ingest import ingest_paths
from orchestrator.knowledge.store import EmbeddingModelId, open_store
data_dir, docs, start = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
settings = Settings(data_dir=data_dir, chunk_size=200, chunk_overlap=0)
while not start.exists():
    time.sleep(0.001)
store = open_store(settings, DeterministicFakeEmbedding(size=16), EmbeddingModelId("fake", "f" * 64, 1, 16), "shared")
for path in sorted(docs.iterdir()):  # one ingest call per file: many short write phases to interleave
    ingest_paths([path], store, settings, progress=lambda stage, done, total: print(stage, flush=True) if stage.startswith("Waiting") else None)
"""


def write_docs(folder: Path, tag: str, files: int = 8, chunks: int = 12) -> None:
    folder.mkdir()
    for f in range(files):
        text = "\n\n".join(f"Chunk {tag}-{f}-{c}: the {tag} archive notes item {f * 100 + c} in some detail." for c in range(chunks))
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
        subprocess.Popen([sys.executable, "-c", INGEST_IN_CHILD, str(tmp_path / "data"), str(tmp_path / name), str(start)],
                         cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name in ("a", "b")
    ]
    time.sleep(3)  # both have imported chromadb and wait for the start signal
    start.touch()
    outputs = [child.communicate(timeout=300) for child in children]
    assert [child.returncode for child in children] == [0, 0], [err[-2000:] for _, err in outputs]
    misses, total = self_retrieval_misses(tmp_path / "data")
    assert total == 2 * 8 * 12
    assert misses == 0, f"{misses} of {total} chunks not found by their own text"
