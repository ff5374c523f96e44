"""Keyword index costs at a given collection size: cold check, one query, one changed file, the full rebuild.

    python benchmarks/keyword_index.py --chunks 1000 10000

Builds a collection of synthetic ledger paragraphs (40 one-paragraph chunks per file) in a temporary data
folder with a deterministic fake embedder (16 dimensions): the embedder is not what is measured. For each size:

* cold: a new process opens the store, checks the keyword index against the write stamp (O(1)) and runs one
  BM25 query and one near-spelling check; the check and the query are timed inside that process;
* query: median of 20 BM25 searches in a warm process;
* one changed file: re-ingest of one edited file (40 chunks, 1 changed), and the part of it spent in the index;
* rebuild: the one whole-collection pass that is kept (an index behind Chroma after a crash, or a new version);
* before: what the previous design paid on every cold start (the fingerprint scan of every chunk id).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHUNKS_PER_FILE = 40
PLACES = ["harbour", "mill", "quarry", "orchard", "foundry", "ferry", "granary", "tannery", "brewery", "kiln"]

COLD = """
import json, sys, time
started = time.perf_counter()
from langchain_core.embeddings import DeterministicFakeEmbedding
from orchestrator.config import Settings
from orchestrator.knowledge.store import EmbeddingModelId, open_store
settings = Settings(data_dir=sys.argv[1], chunk_size=110, chunk_overlap=0)
store = open_store(settings, DeterministicFakeEmbedding(size=16), EmbeddingModelId("fake", "f" * 64, 1, 16), "ledgers")
opened = time.perf_counter()
index = store.keyword_index()
checked = time.perf_counter()
hits = index.search("Which ledger names Odalys17 at the quarry?", 20)
searched = time.perf_counter()
unseen = index.unseen(["brackwatter", "zephyrine"])
spelled = time.perf_counter()
print(json.dumps({"open_store_s": opened - started, "check_s": checked - opened, "query_s": searched - checked,
                  "near_spelling_s": spelled - searched, "hits": len(hits), "unseen": unseen}))
"""


def paragraph(f: int, c: int) -> str:
    place = PLACES[(f + c) % len(PLACES)]
    return f"Ledger {f}-{c} of the {place} at Brackwater lists item{f * 100 + c} and its keeper Odalys{f}."


def measure(chunks: int) -> dict:
    from langchain_core.embeddings import DeterministicFakeEmbedding

    from orchestrator.config import Settings
    from orchestrator.knowledge import ingest
    from orchestrator.knowledge.ingest import ingest_paths
    from orchestrator.knowledge.keyword_index import IndexWrite
    from orchestrator.knowledge.store import EmbeddingModelId, open_store

    root = Path(tempfile.mkdtemp(prefix="keyword-index-bench-"))
    docs = root / "docs"
    docs.mkdir()
    for f in range(chunks // CHUNKS_PER_FILE):
        (docs / f"ledger{f:04d}.txt").write_text("\n\n".join(paragraph(f, c) for c in range(CHUNKS_PER_FILE)))
    settings = Settings(data_dir=root / "data", chunk_size=110, chunk_overlap=0)

    def store():
        return open_store(
            settings, DeterministicFakeEmbedding(size=16), EmbeddingModelId("fake", "f" * 64, 1, 16), "ledgers"
        )

    ingest.EMBED_BATCH = 2500  # fewer writes: the build is not what is measured
    started = time.perf_counter()
    ingest_paths([docs], store(), settings)
    result: dict = {"chunks": chunks, "build_s": time.perf_counter() - started}
    ingest.EMBED_BATCH = 32

    cold = subprocess.run(
        [sys.executable, "-c", COLD, str(settings.data_dir)], capture_output=True, text=True, check=True
    )
    result["cold"] = json.loads(cold.stdout)

    warm = store()
    index = warm.keyword_index()
    times = []
    for _ in range(20):
        started = time.perf_counter()
        index.search("Which ledger names Odalys17 at the quarry?", 20)
        times.append(time.perf_counter() - started)
    result["query_p50_s"] = statistics.median(times)

    changed = docs / "ledger0007.txt"
    changed.write_text(changed.read_text().replace("Ledger 7-3 of", "Ledger 7-3, rewritten, of"))
    in_index = [0.0]
    for name in ("put", "remove"):
        original = getattr(IndexWrite, name)

        def timed(self, *args, _original=original):
            started = time.perf_counter()
            try:
                return _original(self, *args)
            finally:
                in_index[0] += time.perf_counter() - started

        setattr(IndexWrite, name, timed)
    started = time.perf_counter()
    ingest_paths([changed], warm, settings)
    result["one_file_reingest_s"] = time.perf_counter() - started
    result["one_file_index_s"] = in_index[0]

    started = time.perf_counter()
    warm._rebuild_keyword_index(index.__class__.in_memory())
    result["rebuild_s"] = time.perf_counter() - started
    started = time.perf_counter()
    warm.fingerprint()
    result["before_fingerprint_scan_s"] = time.perf_counter() - started
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, nargs="+", default=[1000, 10000])
    for chunks in parser.parse_args().chunks:
        print(json.dumps(measure(chunks)))


if __name__ == "__main__":
    main()
