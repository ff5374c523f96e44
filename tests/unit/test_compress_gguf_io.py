"""GGUF read/write, dequantize and quantize on a tiny random Llama written in the test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from orchestrator.compress import llama_backend
from orchestrator.compress.calibration import DEFAULT_CALIBRATION_FILE
from orchestrator.compress.dequantize import dequantize_gguf
from orchestrator.compress.gguf_io import read_model, resolve_output, write_model
from orchestrator.compress.quantize import load_imatrix, quantize_gguf, save_imatrix
from orchestrator.errors import ConfigError, ModelFileError, OrchestratorError
from orchestrator.gguf_file import inspect_gguf
from tests.helpers.tiny_llama import write_tiny_llama


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return write_tiny_llama(tmp_path_factory.mktemp("tiny") / "tiny.gguf")


def _generate(path: Path) -> str:
    with llama_backend.load(path, n_ctx=64) as llm:
        return llm("the cat", max_tokens=6, temperature=0)["choices"][0]["text"]


def test_write_copies_every_metadata_key_and_adds_provenance(tiny, tmp_path):
    model = read_model(tiny)
    out = write_model(model, tmp_path / "copy.gguf", "f32", {"method": "copy", "parameters": "{}"})
    copy = read_model(out)
    for key, entry in model.metadata.items():
        if key != "general.file_type":
            assert copy.metadata[key].value == entry.value, key
    assert copy.get("tokenizer.chat_template") == model.get("tokenizer.chat_template")
    for name, array in model.tensors.items():
        np.testing.assert_array_equal(copy.tensors[name], array)
    assert inspect_gguf(out).provenance["method"] == "copy"


def test_dequantize_then_requantize_round_trip(tiny, tmp_path):
    q8 = quantize_gguf(tiny, tmp_path / "q8.gguf", "Q8_0")
    assert q8.tensor_types["Q8_0"] > 0 and q8.size_bytes < tiny.stat().st_size
    back = dequantize_gguf(q8.path, tmp_path / "back.gguf", "f32")
    original, restored = read_model(tiny), read_model(back)
    assert set(original.tensors) == set(restored.tensors)
    for name, array in original.tensors.items():
        error = np.abs(restored.tensors[name] - array).max() / np.abs(array).max()
        assert error < 0.01, name  # Q8_0: 8-bit blocks, so < 1% of the range
    info = inspect_gguf(back)
    assert info.file_type == "F32"
    assert info.provenance["method"] == "dequantize"
    lineage = json.loads(info.provenance["lineage"])
    assert lineage[-1]["method"] == "quantize" and json.loads(lineage[-1]["parameters"])["type"] == "Q8_0"


@pytest.mark.parametrize("qtype", ["Q8_0", "Q4_K_M", "Q2_K"])
def test_quantized_files_load_and_generate(tiny, tmp_path, qtype):
    report = quantize_gguf(tiny, tmp_path / f"{qtype}.gguf", qtype)
    assert report.mix and "ffn_down" in report.mix
    assert inspect_gguf(report.path).provenance["parent_sha256"]
    assert isinstance(_generate(report.path), str)


def _weighted_error(reference, quantized_path, imatrix, name):
    restored = read_model(quantized_path).tensors[name]
    return float((imatrix[name][None, :] * (restored - reference) ** 2).sum())


def test_calibration_lowers_importance_weighted_error(tiny, tmp_path):
    """The importance matrix reaches llama.cpp's quantizer: it minimises the activation-weighted error."""
    plain = quantize_gguf(tiny, tmp_path / "plain.gguf", "Q4_0")
    calibrated = quantize_gguf(
        tiny,
        tmp_path / "cal.gguf",
        "Q4_0",
        calibration=None,
        n_chunks=2,
        chunk_len=64,
        imatrix_file=_imatrix_file(tiny, tmp_path),
    )
    assert calibrated.calibrated and not plain.calibrated
    imatrix = load_imatrix(tmp_path / "imatrix.gguf")
    reference = read_model(tiny).tensors
    names = [n for n in imatrix if n.startswith("blk.")]
    better = sum(
        _weighted_error(reference[n], calibrated.path, imatrix, n)
        < _weighted_error(reference[n], plain.path, imatrix, n)
        for n in names
    )
    assert better >= 0.8 * len(names)


def _imatrix_file(tiny, tmp_path) -> Path:
    from orchestrator.compress.calibration import calibrate

    stats = calibrate(read_model(tiny), None, n_chunks=2, chunk_len=64)
    return save_imatrix(stats, tmp_path / "imatrix.gguf")


def test_quantize_with_calibration_text_records_it(tiny, tmp_path):
    report = quantize_gguf(
        tiny, tmp_path / "q.gguf", "Q4_0", calibration=DEFAULT_CALIBRATION_FILE, n_chunks=2, chunk_len=64
    )
    parameters = json.loads(inspect_gguf(report.path).provenance["parameters"])
    assert parameters["imatrix"]["tokens"] == 128


def test_missing_and_non_gguf_inputs(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        dequantize_gguf(tmp_path / "nope.gguf", tmp_path / "out.gguf")
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a gguf at all" * 10)
    with pytest.raises(ModelFileError, match="not a GGUF"):
        quantize_gguf(bogus, tmp_path / "out.gguf", "Q8_0")
    assert not (tmp_path / "out.gguf").exists()


def test_unsupported_architecture(tmp_path):
    import gguf

    path = tmp_path / "bert.gguf"
    writer = gguf.GGUFWriter(path, "bert")
    writer.add_tensor("token_embd.weight", np.zeros((4, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(ModelFileError, match="'bert' model"):
        dequantize_gguf(path, tmp_path / "out.gguf")


def test_bad_type_and_failed_quantization_leave_no_file(tiny, tmp_path):
    with pytest.raises(ConfigError, match="Unknown quantization type"):
        quantize_gguf(tiny, tmp_path / "out.gguf", "Q9_X")
    wide = write_tiny_llama(tmp_path / "wide" / "wide.gguf", n_layers=1, n_embd=256, n_ff=256)
    with pytest.raises(OrchestratorError, match="could not quantize"):
        quantize_gguf(wide, tmp_path / "out.gguf", "IQ2_XXS")  # 256-wide rows: IQ2_XXS needs an importance matrix
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wide"]


def test_output_must_differ_from_input(tiny):
    with pytest.raises(ConfigError, match="is the input"):
        dequantize_gguf(tiny, tiny)


def test_resolve_output_bare_name_goes_to_models_dir(tmp_path):
    assert resolve_output("smol-q4", tmp_path) == (tmp_path / "smol-q4.gguf").resolve()
    assert resolve_output("./x/y.gguf", tmp_path) == (Path.cwd() / "x" / "y.gguf").resolve()
