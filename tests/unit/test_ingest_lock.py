"""A second ingest into a collection waits for the first, and says so (issue 14, item 2)."""

import subprocess
import sys
import threading
import time

from langchain_core.embeddings import DeterministicFakeEmbedding

from orchestrator.config import Settings
from orchestrator.knowledge.ingest import collection_lock, collection_lock_path, ingest_paths
from orchestrator.knowledge.store import EmbeddingModelId, open_store

HOLD_LOCK = "import fcntl, sys, time; f = open(sys.argv[1], 'a+b'); fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)"


def test_an_ingest_waits_for_another_process_holding_the_collection(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    lock = collection_lock_path(settings, "notes")
    lock.parent.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        (tmp_path / "a.txt").write_text("A short document about locks. " * 5)
        store = open_store(
            settings, DeterministicFakeEmbedding(size=8), EmbeddingModelId("fake", "f" * 64, 1, 8), "notes"
        )
        stages, done = [], threading.Event()
        worker = threading.Thread(
            target=lambda: (
                ingest_paths([tmp_path / "a.txt"], store, settings, progress=lambda s, d, t: stages.append(s)),
                done.set(),
            )
        )
        worker.start()
        time.sleep(1.0)
        assert not done.is_set() and stages == ["Waiting for another ingest into collection 'notes' to finish"]
    finally:
        holder.kill()
        holder.wait()
    worker.join(30)
    assert done.is_set() and store.count() > 0


def test_the_lock_is_reentrant_within_a_thread(tmp_path):
    settings = Settings(data_dir=tmp_path)
    with collection_lock(settings, "notes"), collection_lock(settings, "notes"):
        pass
    with collection_lock(settings, "notes"):  # released: can be taken again
        pass
