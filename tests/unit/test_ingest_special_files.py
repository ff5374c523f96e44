"""Ingest never blocks on a FIFO and reports special files and broken links instead of ignoring them (issue 14)."""

import os
import threading

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from orchestrator.config import Settings
from orchestrator.knowledge.ingest import discover_files, ingest_paths
from orchestrator.knowledge.store import EmbeddingModelId, open_store


def finishes_within(seconds, function, *args):
    """Run function in a daemon thread; its result, or pytest.fail when it blocks."""
    result = {}

    def run():
        try:
            result["value"] = function(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"{function.__name__} blocked for more than {seconds} s")
    if "error" in result:
        raise result["error"]
    return result["value"]


@pytest.fixture
def folder(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ok.txt").write_text("A regular document about pools. " * 5)
    os.mkfifo(docs / "pipe.txt")
    os.symlink(docs / "gone.txt", docs / "dangling.txt")
    os.symlink(docs / "loop-b.txt", docs / "loop-a.txt")
    os.symlink(docs / "loop-a.txt", docs / "loop-b.txt")
    return docs


def test_a_fifo_given_directly_is_skipped_not_opened(folder):
    files, skipped = finishes_within(10, discover_files, [folder / "pipe.txt"])
    assert files == [] and [s.reason for s in skipped] == ["not a regular file (a named pipe (FIFO))"]


def test_folder_walk_lists_special_files_and_broken_links(folder):
    files, skipped = finishes_within(10, discover_files, [folder])
    assert [p.name for p in files] == ["ok.txt"]
    reasons = {os.path.basename(s.path): s.reason for s in skipped}
    assert reasons == {
        "pipe.txt": "not a regular file (a named pipe (FIFO))",
        "dangling.txt": "dangling symlink (its target does not exist)",
        "loop-a.txt": "symlink loop",
        "loop-b.txt": "symlink loop",
    }


def test_ingest_with_a_fifo_finishes_and_reports_it(folder, tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    store = open_store(
        settings, DeterministicFakeEmbedding(size=8), EmbeddingModelId("fake", "f" * 64, 1, 8), "special"
    )
    summary = finishes_within(30, ingest_paths, [folder / "pipe.txt", folder / "ok.txt"], store, settings)
    assert summary.files_ingested == 1 and summary.files_skipped == 1 and store.count() > 0


def test_a_file_swapped_for_a_fifo_after_discovery_is_not_opened_blocking(tmp_path):
    from orchestrator.knowledge.ingest import read_regular_file

    os.mkfifo(tmp_path / "late.txt")
    with pytest.raises(OSError, match="not a regular file"):
        finishes_within(10, read_regular_file, tmp_path / "late.txt")
