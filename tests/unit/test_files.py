"""orchestrator.files: streaming sha256 and writing through a temporary name."""

import hashlib

import pytest

from orchestrator.files import atomic_output, sha256_of


def test_sha256_of_streams_and_reports_progress(tmp_path):
    data = bytes(range(256)) * 9000  # a little over 2 MiB: three blocks
    path = tmp_path / "blob"
    path.write_bytes(data)
    seen = []
    assert (
        sha256_of(path, lambda stage, done, total: seen.append((stage, done, total)))
        == hashlib.sha256(data).hexdigest()
    )
    assert [done for _, done, _ in seen] == [1 << 20, 2 << 20, len(data)]
    assert {total for _, _, total in seen} == {len(data)}


def test_atomic_output_replaces_only_on_success(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_output(target) as partial:
        partial.write_text("first")
        assert not target.exists()
    assert target.read_text() == "first"
    with pytest.raises(RuntimeError), atomic_output(target) as partial:
        partial.write_text("half")
        raise RuntimeError("crash")
    assert target.read_text() == "first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


def test_atomic_output_writes_folders_and_fsyncs_files(tmp_path):
    with atomic_output(tmp_path / "index") as partial:
        partial.mkdir()
        (partial / "ids.json").write_text("[]")
    assert (tmp_path / "index" / "ids.json").read_text() == "[]"
    with atomic_output(tmp_path / "rows.jsonl", fsync=True) as partial:
        partial.write_text("{}\n")
    assert (tmp_path / "rows.jsonl").read_text() == "{}\n"
