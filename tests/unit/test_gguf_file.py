"""The validator must turn every unusable file into a ModelFileError that names the file."""

from pathlib import Path

import numpy as np
import pytest

from orchestrator.errors import ModelFileError
from orchestrator.gguf_file import GGUFInfoCache, inspect_gguf


def write_small_gguf(path: Path) -> Path:
    import gguf

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny")
    writer.add_context_length(64)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tensor("token_embd.weight", np.arange(64, dtype=np.float32).reshape(8, 8))
    writer.add_tensor("output_norm.weight", np.ones(8, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_valid_file_is_described(tmp_path):
    info = inspect_gguf(write_small_gguf(tmp_path / "ok.gguf"))
    assert info.architecture == "llama"
    assert info.n_params == 72
    assert info.n_tensors == 2
    assert info.file_type == "F32"
    assert info.tensor_types == {"F32": 2}


@pytest.mark.parametrize("keep_fraction", [0.0, 0.01, 0.2, 0.5, 0.9, 0.99])
def test_truncated_file_is_rejected(tmp_path, keep_fraction):
    data = write_small_gguf(tmp_path / "ok.gguf").read_bytes()
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(data[: int(len(data) * keep_fraction)])
    with pytest.raises(ModelFileError, match="broken.gguf"):
        inspect_gguf(broken)


def test_text_file_renamed_gguf_is_rejected(tmp_path):
    fake = tmp_path / "notes.gguf"
    fake.write_text("these are my notes, not a model\n" * 10)
    with pytest.raises(ModelFileError, match="not a GGUF file"):
        inspect_gguf(fake)


def test_missing_file_is_rejected(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        inspect_gguf(tmp_path / "absent.gguf")


def test_absurd_counts_are_rejected_before_parsing(tmp_path):
    data = bytearray(write_small_gguf(tmp_path / "ok.gguf").read_bytes())
    data[8:16] = (2**62).to_bytes(8, "little")  # tensor count
    absurd = tmp_path / "absurd.gguf"
    absurd.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="claims"):
        inspect_gguf(absurd)


def test_cache_is_used_until_the_file_changes(tmp_path):
    path = write_small_gguf(tmp_path / "ok.gguf")
    cache = GGUFInfoCache(tmp_path / "cache.json")
    first = inspect_gguf(path, cache)
    assert cache.get(path.resolve()) == first
    path.write_text("replaced by garbage")
    with pytest.raises(ModelFileError):
        inspect_gguf(path, cache)
