"""The ingest pipeline: a reader thread parses and splits while the caller embeds and stores.

Order, errors, Ctrl-C and progress (the chunk count of a large file, the estimated total, the CLI's
rate line). A real Chroma in a temp dir with langchain-core's deterministic fake embeddings.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from orchestrator.config import Settings
from orchestrator.knowledge import ingest
from orchestrator.knowledge.ingest import discover_files, ingest_paths, load_file, split_file
from orchestrator.knowledge.store import EmbeddingModelId, KnowledgeStore, open_store
from orchestrator.progress import EMBEDDING_CHUNKS, rate_text, split_stage, stage_unit

DIM = 8
MODEL = EmbeddingModelId("fake", "f" * 64, 1, DIM)
LINE = "Line {n} of the {name} handbook says the pump in room {n} is serviced every {n} weeks.\n\n"


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "data", chunk_size=120, chunk_overlap=0)


@pytest.fixture
def store(settings) -> KnowledgeStore:
    return open_store(settings, DeterministicFakeEmbedding(size=DIM), MODEL, "pipeline")


@pytest.fixture
def library(tmp_path) -> Path:
    folder = tmp_path / "library"
    folder.mkdir()
    for index, name in enumerate(["alder", "birch", "cedar", "damson", "elm"]):
        (folder / f"{index}-{name}.txt").write_text("".join(LINE.format(n=n, name=name) for n in range(3 + 2 * index)))
    return folder


def _reader_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "ingest-reader"]


def _recording_adds(monkeypatch) -> tuple[list[str], list[int]]:
    added: list[str] = []
    sizes: list[int] = []
    real_add = KnowledgeStore.add

    def add(self, texts, metadatas, ids, vectors=None):
        assert vectors is not None  # embedded beforehand, in EMBED_BATCH calls
        added.extend(ids)
        sizes.append(len(ids))
        real_add(self, texts, metadatas, ids, vectors)

    monkeypatch.setattr(KnowledgeStore, "add", add)
    return added, sizes


def test_chunks_are_added_in_file_order_batch_after_batch(library, store, settings, monkeypatch):
    monkeypatch.setattr(ingest, "EMBED_BATCH", 3)  # batches that straddle files
    monkeypatch.setattr(ingest, "STORE_BATCH", 5)  # writes that straddle embedding batches
    monkeypatch.setattr(ingest, "READ_AHEAD_BATCHES", 2)  # the reader waits for the embedder
    added, write_sizes = _recording_adds(monkeypatch)
    summary = ingest_paths([library], store, settings)

    files, _ = discover_files([library])
    expected = [
        chunk.id for path in files for chunk in split_file(path, load_file(path), {"source": str(path)}, settings)
    ]
    assert len(expected) == summary.chunks_added == store.count() >= 20
    # Ids hash source and text, so the same split gives the same ids: equal lists mean the same order.
    assert added == expected
    assert all(size >= 5 for size in write_sizes[:-1])  # Chroma writes gather several embedding calls
    assert len(write_sizes) <= -(-len(expected) // 5)
    assert not _reader_threads()


def test_an_error_in_the_reader_is_raised_in_the_caller_and_stops_the_reader(library, store, settings, monkeypatch):
    real_split = ingest.split_file

    def split_failing_on_cedar(path, sections, metadata, settings_):
        if "cedar" in path.name:
            raise RuntimeError("splitter bug on cedar")
        return real_split(path, sections, metadata, settings_)

    monkeypatch.setattr(ingest, "split_file", split_failing_on_cedar)
    with pytest.raises(RuntimeError, match="splitter bug on cedar"):
        ingest_paths([library], store, settings)
    assert not _reader_threads()
    monkeypatch.undo()
    assert ingest_paths([library], store, settings).files_ingested == 5  # the lock was released


def test_ctrl_c_while_embedding_stops_the_reader_and_a_rerun_converges(library, store, settings, monkeypatch):
    monkeypatch.setattr(ingest, "EMBED_BATCH", 2)
    monkeypatch.setattr(ingest, "STORE_BATCH", 2)
    monkeypatch.setattr(ingest, "READ_AHEAD_BATCHES", 1)  # the reader is blocked on a full queue when Ctrl-C comes
    calls = {"n": 0}
    real_add = KnowledgeStore.add

    def add_then_interrupt(self, texts, metadatas, ids, vectors=None):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        real_add(self, texts, metadatas, ids, vectors)

    monkeypatch.setattr(KnowledgeStore, "add", add_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        ingest_paths([library], store, settings)
    assert not _reader_threads()
    assert store.count() == 4  # the two batches written before the interrupt, whole

    monkeypatch.undo()
    ingest_paths([library], store, settings)
    clean = open_store(settings, DeterministicFakeEmbedding(size=DIM), MODEL, "clean")
    ingest_paths([library], clean, settings)
    assert store.metadata_by_id() == clean.metadata_by_id()


def test_a_large_file_says_how_many_chunks_it_makes_before_they_are_embedded(tmp_path, store, settings, monkeypatch):
    monkeypatch.setattr(ingest, "LARGE_FILE_CHUNKS", 10)
    monkeypatch.setattr(ingest, "EMBED_BATCH", 4)
    big = tmp_path / "big.txt"
    big.write_text("".join(LINE.format(n=n, name="fig") for n in range(30)))
    (tmp_path / "small.txt").write_text(LINE.format(n=1, name="ash"))
    calls: list[tuple[str, int, int]] = []
    summary = ingest_paths([big, tmp_path / "small.txt"], store, settings, progress=lambda *c: calls.append(c))

    big_chunks = summary.chunks_added - 1
    announced = calls.index((split_stage("big.txt"), big_chunks, big_chunks))
    first_embedded = next(i for i, (stage, done, _) in enumerate(calls) if stage == EMBEDDING_CHUNKS and done > 0)
    assert announced < first_embedded
    assert not any(stage == split_stage("small.txt") for stage, _, _ in calls)  # small files are not announced
    embedding = [(done, total) for stage, done, total in calls if stage == EMBEDDING_CHUNKS]
    assert embedding[-1] == (summary.chunks_added, summary.chunks_added)
    assert all(done <= total for done, total in embedding[1:])


def test_the_estimated_total_scales_the_chunks_read_so_far_by_the_bytes_left(tmp_path, settings):
    files = []
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text("x" * 1000)
        files.append(tmp_path / name)
    reader = ingest.ChunkReader(files, {}, settings, ingest._Plan(), ingest.IngestSummary("c"), ingest.StageClock())
    assert reader.estimated_total() == 0  # nothing read yet: unknown
    reader.read_bytes, reader.planned_chunks = 1000, 7
    assert reader.estimated_total() == 14
    reader.finished, reader.planned_chunks, reader.read_bytes = True, 9, 2000
    assert reader.estimated_total() == 9  # every file read: exact


def test_the_summary_says_where_the_time_went(library, store, settings):
    summary = ingest_paths([library], store, settings)
    for stage in ("parse", "split", "embed", "store", "refresh and delete"):
        assert summary.stage_seconds[stage] >= 0.0
    assert summary.stage_seconds["embed"] + summary.stage_seconds["store"] <= summary.seconds


def test_chunk_stages_show_a_rate_and_the_time_left():
    assert stage_unit(EMBEDDING_CHUNKS) == stage_unit(split_stage("big.txt")) == "chunks"
    assert stage_unit("Reading files") is None
    assert rate_text(300, 1200, 60.0, "chunks") == "300/1,200 chunks, 5.0 chunks/s, about 3 min 00 s left"
    assert rate_text(1200, 1200, 40.0, "chunks") == "1,200/1,200 chunks, 30 chunks/s, done in 40 s"


def test_the_progress_bar_column_shows_chunks_and_chunks_per_second():
    from types import SimpleNamespace

    from orchestrator.cli.common import _AmountColumn

    column = _AmountColumn()
    starting = SimpleNamespace(description=EMBEDDING_CHUNKS, completed=0, total=None, speed=None)
    assert column.render(starting).plain == "0 chunks"  # the total is not known yet
    running = SimpleNamespace(description=EMBEDDING_CHUNKS, completed=300, total=1200, speed=12.5)
    assert column.render(running).plain == "300/1,200 chunks, 12.5 chunks/s"
    announced = SimpleNamespace(description=split_stage("big.txt"), completed=46123, total=46123, speed=None)
    assert column.render(announced).plain == "46,123/46,123 chunks"


def test_cli_ingest_prints_the_chunk_count_of_a_large_file_and_the_embedding_rate(tmp_path, monkeypatch):
    import typer
    from typer.testing import CliRunner

    from orchestrator.cli import knowledge

    def fake_open(settings, collection=None, reset=False, progress=None, fresh=False):
        return open_store(settings, DeterministicFakeEmbedding(size=DIM), MODEL, collection, reset, fresh)

    monkeypatch.setattr("orchestrator.app.open_knowledge_store", fake_open)
    monkeypatch.setattr(ingest, "LARGE_FILE_CHUNKS", 5)
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ORCH_CHUNK_SIZE", "120")
    monkeypatch.setenv("ORCH_CHUNK_OVERLAP", "0")
    manual = tmp_path / "pump manual [v2].txt"  # markup-like brackets in a file name are shown as they are
    manual.write_text("".join(LINE.format(n=n, name="pump") for n in range(12)))
    app = typer.Typer()
    knowledge.register(app)
    result = CliRunner().invoke(app, ["ingest", str(manual), "--collection", "manuals"])
    assert result.exit_code == 0, result.output
    added = int(next(line for line in result.output.splitlines() if "Chunks added" in line).split()[-2])
    assert added >= 5
    assert f"Split pump manual [v2].txt: {added} chunks" in result.output
    rate_line = next(line for line in result.output.splitlines() if line.startswith(f"{EMBEDDING_CHUNKS}: "))
    assert rate_line.startswith(f"{EMBEDDING_CHUNKS}: {added}/{added} chunks, ") and "chunks/s, done in" in rate_line
