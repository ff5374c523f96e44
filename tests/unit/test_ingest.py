"""Ingest: loaders, splitting, stable ids, re-ingest, changed files, --prune, crash safety, CLI.

A real Chroma in a temp dir; embeddings are langchain-core's deterministic fake (fast, offline).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from orchestrator.config import Settings
from orchestrator.errors import ConfigError
from orchestrator.knowledge.ingest import (
    UnreadableFileError,
    chunk_id,
    discover_files,
    ingest_paths,
    load_file,
)
from orchestrator.knowledge.store import EmbeddingModelId, open_store

DIM = 16
MODEL = EmbeddingModelId("fake", "f" * 64, 1, DIM)
PARAGRAPH = "The {n}th paragraph talks about topic number {n}, with enough words to make a chunk of its own. "


def make_pdf(pages: list[str]) -> bytes:
    """A minimal valid PDF (one Helvetica text line per page), with a correct xref table."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(len(pages)))
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>")
    font_ref = 3 + 2 * len(pages)
    for i, text in enumerate(pages):
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET"
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font_ref} 0 R >> >> >>"
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
    objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "data", chunk_size=200, chunk_overlap=20)


@pytest.fixture
def store(settings):
    return open_store(settings, DeterministicFakeEmbedding(size=DIM), MODEL, "test")


@pytest.fixture
def docs(tmp_path) -> Path:
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "long.txt").write_text("\n\n".join(PARAGRAPH.format(n=n) for n in range(12)))
    (folder / "notes.md").write_text("# Notes\n\nMarkdown text about gardening.\n\n## Tomatoes\n\nWater them daily.")
    (folder / "sub" / "page.html").write_text(
        "<html><head><title>Page</title><style>p {color: red}</style><script>var x = 1;</script></head>"
        "<body><h1>Heading</h1><p>Visible paragraph.</p></body></html>"
    )
    (folder / "sub" / "book.pdf").write_bytes(make_pdf(["First page text", "Second page text"]))
    (folder / "records.json").write_text(
        json.dumps([{"title": "One", "text": "First record"}, {"title": "Two", "n": 2}])
    )
    (folder / "lines.jsonl").write_text('{"text": "line zero"}\n\n{"text": "line two", "tags": ["a", "b"]}\n')
    (folder / "image.png").write_bytes(b"\x89PNG not a document")
    (folder / ".hidden.txt").write_text("hidden")
    return folder


def snapshot(store) -> dict[str, tuple]:
    """What a collection holds, ignoring mtimes: id -> (text, metadata without file_mtime)."""
    texts = store.texts_by_id()
    return {
        chunk: (texts[chunk], {k: v for k, v in meta.items() if k != "file_mtime"})
        for chunk, meta in store.metadata_by_id().items()
    }


# --- loaders ---


def test_text_and_markdown_load_whole(docs):
    assert load_file(docs / "notes.md")[0].text.startswith("# Notes")


def test_html_keeps_visible_text_only(docs):
    text = load_file(docs / "sub" / "page.html")[0].text
    assert "Heading" in text and "Visible paragraph." in text
    assert "var x" not in text and "color: red" not in text


def test_pdf_gives_one_section_per_page(docs):
    sections = load_file(docs / "sub" / "book.pdf")
    assert [(s.page, s.text.strip()) for s in sections] == [(1, "First page text"), (2, "Second page text")]


def test_json_array_gives_one_section_per_record_with_its_strings(docs):
    sections = load_file(docs / "records.json")
    assert [(s.record, s.text) for s in sections] == [(0, "One\n\nFirst record"), (1, "Two")]


def test_jsonl_gives_one_section_per_line(docs):
    sections = load_file(docs / "lines.jsonl")
    assert [(s.record, s.text) for s in sections] == [(0, "line zero"), (2, "line two\n\na\n\nb")]


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("broken.pdf", b"%PDF-1.4\nthis is not really a pdf", "not a readable PDF"),
        ("binary.txt", b"caf\xe9\x00\x01", "not text: it holds NUL bytes"),
        ("bad.json", b'{"text": ', "invalid JSON"),
        ("bad.jsonl", b'{"text": "ok"}\n{oops}\n', "invalid JSON on line 2"),
    ],
)
def test_unreadable_files_raise_with_a_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UnreadableFileError, match=reason):
        load_file(path)


# --- finding files ---


def test_folders_recurse_and_skip_hidden_and_unsupported(docs):
    files, skipped = discover_files([docs])
    assert sorted(p.name for p in files) == [
        "book.pdf",
        "lines.jsonl",
        "long.txt",
        "notes.md",
        "page.html",
        "records.json",
    ]
    assert skipped == []


def test_an_explicit_unsupported_file_is_reported(docs):
    files, skipped = discover_files([docs / "image.png", docs / "notes.md", docs / "notes.md"])
    assert [p.name for p in files] == ["notes.md"]
    assert "unsupported file type .png" in skipped[0].reason


def test_a_missing_path_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        discover_files([tmp_path / "nope"])


# --- ingest ---


def test_ingest_everything_with_metadata(docs, store, settings):
    summary = ingest_paths([docs], store, settings)
    assert (summary.files_seen, summary.files_ingested, summary.files_skipped) == (6, 6, 0)
    assert summary.chunks_added == summary.chunks_total == store.count() > 6
    metas = list(store.metadata_by_id().values())
    pdf = sorted((m["page"], m["chunk_index"]) for m in metas if m["file_name"] == "book.pdf")
    assert pdf == [(1, 0), (2, 1)]
    long = [m for m in metas if m["file_name"] == "long.txt"]
    assert sorted(m["chunk_index"] for m in long) == list(range(len(long)))
    assert all(m["chunk_count"] == len(long) and "page" not in m for m in long)
    one = long[0]
    assert one["source"] == str((docs / "long.txt").resolve())
    assert one["file_sha256"] and one["file_mtime"] > 0 and one["splitter"] == "structured-v1:200:20+clean1"


def test_chunk_ids_hash_source_and_content(docs, store, settings):
    ingest_paths([docs / "notes.md"], store, settings)
    texts = store.texts_by_id()
    headings = {chunk: meta.get("heading_path") or "" for chunk, meta in store.metadata_by_id().items()}
    source = str((docs / "notes.md").resolve())
    assert all(chunk == chunk_id(source, text, headings=headings[chunk]) for chunk, text in texts.items())


def test_reingest_adds_nothing(docs, store, settings):
    first = ingest_paths([docs], store, settings)
    before = snapshot(store)
    second = ingest_paths([docs], store, settings)
    assert (second.chunks_added, second.chunks_removed) == (0, 0)
    assert second.chunks_unchanged == first.chunks_added
    assert second.files_unchanged == 6
    assert snapshot(store) == before


def test_changed_file_replaces_only_its_changed_chunks(docs, store, settings, tmp_path):
    ingest_paths([docs], store, settings)
    long = docs / "long.txt"
    paragraphs = [PARAGRAPH.format(n=n) for n in range(12)]
    paragraphs[5] = "A completely rewritten fifth paragraph about something else entirely, long enough."
    long.write_text("\n\n".join(paragraphs[:-1]))  # one paragraph changed, the last one dropped
    summary = ingest_paths([docs], store, settings)
    assert summary.chunks_added >= 1 and summary.chunks_removed >= 2
    assert summary.chunks_unchanged > 0

    clean = open_store(settings, DeterministicFakeEmbedding(size=DIM), MODEL, "clean")
    ingest_paths([docs], clean, settings)
    assert snapshot(store) == snapshot(clean)


def test_changed_chunk_settings_resplit_files(docs, store, settings):
    ingest_paths([docs / "long.txt"], store, settings)
    bigger = settings.model_copy(update={"chunk_size": 400, "chunk_overlap": 40})
    summary = ingest_paths([docs / "long.txt"], store, bigger)
    assert summary.chunks_added > 0 and summary.chunks_removed > 0
    assert {m["splitter"] for m in store.metadata_by_id().values()} == {"structured-v1:400:40+clean1"}


def test_prune_removes_chunks_of_deleted_files(docs, store, settings):
    ingest_paths([docs], store, settings)
    notes = [m for m in store.metadata_by_id().values() if m["file_name"] == "notes.md"]
    (docs / "notes.md").unlink()
    kept = ingest_paths([docs], store, settings)
    assert kept.chunks_removed == 0
    assert any(m["file_name"] == "notes.md" for m in store.metadata_by_id().values())
    pruned = ingest_paths([docs], store, settings, prune=True)
    assert pruned.chunks_removed == len(notes)
    assert not any(m["file_name"] == "notes.md" for m in store.metadata_by_id().values())


def test_corrupt_pdf_is_skipped_and_the_rest_goes_in(docs, store, settings):
    (docs / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj garbage")
    summary = ingest_paths([docs], store, settings)
    assert summary.files_ingested == 6
    assert [(Path(s.path).name, "not a readable PDF" in s.reason) for s in summary.skipped] == [("broken.pdf", True)]
    assert summary.files_seen == 7


def test_a_file_that_becomes_unreadable_loses_its_old_chunks(docs, store, settings):
    # Keeping them would let answers cite text the file no longer has (issue 31, item 4).
    ingest_paths([docs / "records.json"], store, settings)
    before = store.count()
    (docs / "records.json").write_text("[{broken")
    summary = ingest_paths([docs / "records.json"], store, settings)
    assert "invalid JSON" in summary.skipped[0].reason
    assert f"its {before} chunks from an earlier version were removed" in summary.skipped[0].reason
    assert store.count() == 0


def test_a_pdf_without_text_is_reported(tmp_path, store, settings):
    (tmp_path / "scan.pdf").write_bytes(make_pdf([""]))
    summary = ingest_paths([tmp_path / "scan.pdf"], store, settings)
    assert "no extractable text" in summary.skipped[0].reason and store.count() == 0


def test_identical_chunks_in_one_file_get_distinct_ids(tmp_path, store, settings):
    (tmp_path / "repeat.txt").write_text(
        "\n\n".join(["Same paragraph repeated, long enough to be a chunk on its own here."] * 6)
    )
    summary = ingest_paths([tmp_path], store, settings)
    assert summary.chunks_added == store.count() >= 3
    assert ingest_paths([tmp_path], store, settings).chunks_added == 0


def test_progress_reports_each_stage_to_completion(docs, store, settings):
    calls = []
    ingest_paths([docs], store, settings, progress=lambda stage, done, total: calls.append((stage, done, total)))
    last = {stage: (done, total) for stage, done, total in calls}
    assert last["Reading files"] == (6, 6)
    done, total = last["Embedding chunks"]
    assert done == total == store.count()


def test_overlap_not_smaller_than_size_is_refused(docs, store, settings):
    with pytest.raises(ConfigError, match="ORCH_CHUNK_OVERLAP"):
        ingest_paths([docs], store, settings.model_copy(update={"chunk_overlap": 200}))


# --- crash safety ---


class CrashingEmbeddings(DeterministicFakeEmbedding):
    """Fails on the n-th embed_documents call, like a process killed in the middle of an ingest."""

    calls: int = 0
    crash_at: int = 1

    def embed_documents(self, texts):
        self.calls += 1
        if self.calls == self.crash_at:
            raise KeyboardInterrupt("simulated crash")
        return super().embed_documents(texts)


def _change_files(docs: Path) -> None:
    (docs / "long.txt").write_text("\n\n".join(PARAGRAPH.format(n=n + 3) for n in range(14)))
    (docs / "notes.md").unlink()
    (docs / "new.txt").write_text("\n\n".join(PARAGRAPH.format(n=n + 100) for n in range(8)))


@pytest.mark.parametrize("crash_at", [1, 2, 5])
def test_rerun_after_a_crash_converges_to_a_clean_ingest(docs, settings, crash_at, monkeypatch):
    monkeypatch.setattr("orchestrator.knowledge.ingest.EMBED_BATCH", 4)  # several batches, so crashes land mid-way
    monkeypatch.setattr("orchestrator.knowledge.ingest.STORE_BATCH", 4)
    store = open_store(settings, DeterministicFakeEmbedding(size=DIM), MODEL, "crashy")
    ingest_paths([docs], store, settings)
    _change_files(docs)
    crashing = open_store(settings, CrashingEmbeddings(size=DIM, crash_at=crash_at), MODEL, "crashy")
    with pytest.raises(KeyboardInterrupt):
        ingest_paths([docs], crashing, settings.model_copy(update={"chunk_size": 120, "chunk_overlap": 0}), prune=True)
    small = settings.model_copy(update={"chunk_size": 120, "chunk_overlap": 0})
    ingest_paths([docs], store, small, prune=True)
    clean = open_store(settings, DeterministicFakeEmbedding(size=DIM), MODEL, "clean")
    ingest_paths([docs], clean, small)
    assert snapshot(store) == snapshot(clean)


def test_crash_between_add_and_delete_converges(docs, settings, monkeypatch):
    store = open_store(settings, DeterministicFakeEmbedding(size=DIM), MODEL, "crashy")
    ingest_paths([docs], store, settings)
    _change_files(docs)

    def killed(ids):
        raise KeyboardInterrupt("killed before deleting")

    monkeypatch.setattr(store, "delete", killed)
    with pytest.raises(KeyboardInterrupt):
        ingest_paths([docs], store, settings, prune=True)
    monkeypatch.undo()
    ingest_paths([docs], store, settings, prune=True)
    clean = open_store(settings, DeterministicFakeEmbedding(size=DIM), MODEL, "clean")
    ingest_paths([docs], clean, settings)
    assert snapshot(store) == snapshot(clean)


_SLOW_INGEST = textwrap.dedent(
    """
    import sys, time
    from langchain_core.embeddings import DeterministicFakeEmbedding
    from orchestrator.config import Settings
    from orchestrator.knowledge import ingest
    from orchestrator.knowledge.ingest import ingest_paths
    from orchestrator.knowledge.store import EmbeddingModelId, open_store

    ingest.EMBED_BATCH = ingest.STORE_BATCH = 4
    class Slow(DeterministicFakeEmbedding):
        def embed_documents(self, texts):
            print("batch", flush=True)
            time.sleep(0.3)
            return super().embed_documents(texts)

    settings = Settings(data_dir=sys.argv[1], chunk_size=60, chunk_overlap=0)
    store = open_store(settings, Slow(size={dim}), EmbeddingModelId("fake", "f" * 64, 1, {dim}), "killed")
    ingest_paths([sys.argv[2]], store, settings, prune=True)
    print("finished", flush=True)
    """
)


def test_sigkill_mid_ingest_then_rerun_matches_a_clean_ingest(docs, tmp_path):
    settings = Settings(data_dir=tmp_path / "data", chunk_size=60, chunk_overlap=0)
    store = open_store(settings, DeterministicFakeEmbedding(size=DIM), MODEL, "killed")
    ingest_paths([docs], store, settings)
    before_ids = set(snapshot(store))
    _change_files(docs)
    script = tmp_path / "slow_ingest.py"
    script.write_text(_SLOW_INGEST.format(dim=DIM))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    process = subprocess.Popen(
        [sys.executable, str(script), str(settings.data_dir), str(docs)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert process.stdout is not None
    seen = 0
    for line in process.stdout:  # wait until batches went in, then kill without warning
        seen += line.strip() == "batch"
        if seen == 3:
            break
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL

    clean = open_store(settings, DeterministicFakeEmbedding(size=DIM), MODEL, "clean")
    ingest_paths([docs], clean, settings)
    interrupted = open_store(settings, DeterministicFakeEmbedding(size=DIM), MODEL, "killed")
    half_done = snapshot(interrupted)
    assert half_done != snapshot(clean)
    assert set(half_done) & (set(snapshot(clean)) - before_ids)  # some new chunks had gone in
    ingest_paths([docs], interrupted, settings, prune=True)
    assert snapshot(interrupted) == snapshot(clean)


# --- CLI ---


def test_cli_ingest_and_collections(docs, tmp_path, monkeypatch):
    import typer
    from typer.testing import CliRunner

    from orchestrator.cli import knowledge

    def fake_open(settings, collection=None, reset=False, progress=None, fresh=False):
        return open_store(settings, DeterministicFakeEmbedding(size=DIM), MODEL, collection, reset, fresh)

    monkeypatch.setattr("orchestrator.app.open_knowledge_store", fake_open)
    (docs / "broken.pdf").write_bytes(b"%PDF-1.7 garbage")
    app = typer.Typer()
    knowledge.register(app)
    runner = CliRunner()

    result = runner.invoke(app, ["ingest", str(docs), "--collection", "mine"])
    assert result.exit_code == 0, result.output
    assert "Chunks added" in result.output and "Files skipped" in result.output
    assert "broken.pdf" in result.output and "not a readable PDF" in result.output

    result = runner.invoke(app, ["collections"])
    assert result.exit_code == 0
    assert "mine" in result.output and "fake (dim 16" in result.output

    result = runner.invoke(app, ["ingest", str(docs / "broken.pdf"), "--collection", "mine"])
    assert result.exit_code == 1  # nothing could be ingested

    result = runner.invoke(app, ["ingest", str(tmp_path / "missing"), "--collection", "mine"])
    assert result.exit_code == 1 and "does not exist" in result.output


def test_the_sample_knowledge_base_ingests_cleanly(store, settings):
    sample = Path(__file__).resolve().parents[2] / "data" / "sample_docs"
    summary = ingest_paths([sample], store, settings)
    assert summary.files_skipped == 0 and summary.files_ingested == 4
    texts = store.texts_by_id().values()
    assert any("IGNORE ALL PREVIOUS INSTRUCTIONS" in text for text in texts)  # the injection test needs it whole
    assert any("17 March 2026" in text for text in texts)
