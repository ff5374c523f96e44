"""Odd files in an ingest: skipped and named while the rest goes in; text in other encodings read;
stale chunks of a file that can no longer be read removed (issue 31, items 3 and 4).

A real Chroma in a temp dir; embeddings are langchain-core's deterministic fake.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from typer.testing import CliRunner

from orchestrator.config import Settings
from orchestrator.knowledge.ingest import UnreadableFileError, ingest_paths, load_file
from orchestrator.knowledge.store import EmbeddingModelId, open_store

MODEL = EmbeddingModelId("fake", "f" * 64, 1, 16)
TEXT = "Zoë's café serves crème brûlée — “always” fresh, for 5 €."


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "data", chunk_size=200, chunk_overlap=20)


@pytest.fixture
def store(settings):
    return open_store(settings, DeterministicFakeEmbedding(size=16), MODEL, "test")


def texts_of(store, name: str) -> list[str]:
    ids = [i for i, meta in store.metadata_by_id().items() if Path(meta["source"]).name == name]
    return [doc.page_content for doc in store.documents(ids)]


def nested_json(depth: int) -> str:
    return "[" * depth + '"deep"' + "]" * depth


@pytest.mark.parametrize("depth", [100_000, 2_000])  # json.loads fails / the string walk fails
def test_a_deeply_nested_json_is_skipped_by_name_and_the_rest_goes_in(tmp_path, store, settings, depth):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("The ferry leaves the harbour at seven.")
    (folder / "deep.json").write_text(nested_json(depth))
    (folder / "z.md").write_text("# Tides\n\nHigh tide comes twice a day.")
    summary = ingest_paths([folder], store, settings)
    assert summary.files_ingested == 2 and store.count() == 2
    assert [(Path(s.path).name, s.reason) for s in summary.skipped] == [
        ("deep.json", "nested too deeply to read (deeper than Python's recursion limit)")
    ]


def test_a_loader_failing_in_an_unexpected_way_skips_only_that_file(tmp_path, store, settings, monkeypatch):
    from orchestrator.knowledge import ingest

    def broken_loader(path):
        raise KeyError("/Root")

    monkeypatch.setitem(ingest.LOADERS, ".html", broken_loader)
    (tmp_path / "page.html").write_text("<p>x</p>")
    (tmp_path / "b.txt").write_text("The lock keeper opens the gate at noon.")
    summary = ingest_paths([tmp_path / "page.html", tmp_path / "b.txt"], store, settings)
    assert summary.files_ingested == 1
    assert summary.skipped[0].path.endswith("page.html") and "could not be parsed" in summary.skipped[0].reason


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-be", "utf-32", "cp1252", "latin-1"])
def test_text_in_common_encodings_is_read(tmp_path, encoding):
    text = TEXT if encoding not in ("latin-1",) else TEXT.replace("—", "-").replace("“", '"').replace("”", '"')
    text = text.replace("€", "EUR") if encoding == "latin-1" else text
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    (tmp_path / "note.txt").write_bytes(data)
    assert load_file(tmp_path / "note.txt")[0].text == text


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x00\x01\x02binary\x00", "NUL bytes"),
        ("no BOM".encode("utf-16-le"), "UTF-16 without a byte-order mark"),
        (b"\xff\xfe\x00\xd8", "not valid UTF-16-LE"),  # a BOM, then a lone surrogate
    ],
)
def test_binary_or_broken_text_is_unreadable_with_a_reason(data, reason):
    from orchestrator.knowledge.ingest import decode_text

    with pytest.raises(UnreadableFileError, match=reason):
        decode_text(data)


def test_a_file_resaved_in_latin1_replaces_its_old_text(tmp_path, store, settings):
    note = tmp_path / "menu.txt"
    note.write_text("The café opens at nine.", encoding="utf-8")
    ingest_paths([note], store, settings)
    note.write_bytes("The café opens at ten.".encode("latin-1"))
    summary = ingest_paths([note], store, settings)
    assert summary.skipped == [] and texts_of(store, "menu.txt") == ["The café opens at ten."]


def test_a_file_that_becomes_unreadable_loses_its_old_chunks_and_the_user_is_told(tmp_path, store, settings):
    note = tmp_path / "menu.txt"
    note.write_text("The café opens at nine.")
    (tmp_path / "other.txt").write_text("The bakery opens at six.")
    ingest_paths([tmp_path], store, settings)
    note.write_bytes(b"\x00\x00binary now\x00")
    summary = ingest_paths([tmp_path], store, settings)
    (skipped,) = summary.skipped
    assert skipped.path.endswith("menu.txt") and "its 1 chunks from an earlier version were removed" in skipped.reason
    assert texts_of(store, "menu.txt") == [] and texts_of(store, "other.txt") == ["The bakery opens at six."]
    assert summary.chunks_removed == 1


@pytest.mark.parametrize("content", [b"", b"  \n\n\t "])
def test_an_empty_text_file_is_reported_as_empty_not_as_a_scan(tmp_path, store, settings, content):
    (tmp_path / "blank.txt").write_bytes(content)
    summary = ingest_paths([tmp_path / "blank.txt"], store, settings)
    assert [s.reason for s in summary.skipped] == ["the file is empty"]


def test_the_cli_names_the_skipped_file_and_ingests_the_rest(tmp_path, monkeypatch):
    from orchestrator.cli import app as cli

    def fake_open(settings, collection=None, reset=False, progress=None, **options):
        return open_store(settings, DeterministicFakeEmbedding(size=16), MODEL, collection, reset, **options)

    monkeypatch.setattr("orchestrator.app.open_knowledge_store", fake_open)
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "deep.json").write_text(nested_json(100_000))
    (folder / "empty.txt").write_text("")
    (folder / "ok.txt").write_text("The ferry leaves the harbour at seven.")
    result = CliRunner().invoke(cli, ["ingest", str(folder)])
    assert result.exit_code == 0, result.output
    assert "Skipped" in result.output and "deep.json: nested too deeply" in result.output
    assert "empty.txt: the file is empty" in result.output and "OCR" not in result.output
    assert "RecursionError" not in result.output and "Traceback" not in result.output
