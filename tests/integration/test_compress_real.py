"""Compression steps on the real default model (SmolLM2-135M-Instruct, Q4_1 as shipped)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.compress import llama_backend
from orchestrator.compress.dequantize import dequantize_gguf
from orchestrator.compress.gguf_io import read_model
from orchestrator.compress.prune import prune_gguf
from orchestrator.compress.quantize import quantize_gguf
from orchestrator.config import Settings
from orchestrator.gguf_file import inspect_gguf
from orchestrator.models import resolve_model

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def f16(default_model_path, tmp_path_factory) -> Path:
    return dequantize_gguf(default_model_path, tmp_path_factory.mktemp("real") / "smol-f16.gguf")


def _answer(path: Path) -> str:
    with llama_backend.load(path, n_ctx=128) as llm:
        return llm("The capital of France is", max_tokens=8, temperature=0)["choices"][0]["text"]


def test_dequantized_f16_keeps_tokenizer_and_chat_template(f16, default_model_path):
    info = inspect_gguf(f16)
    assert info.file_type == "F16"
    assert info.provenance["parent_sha256"] == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    original = read_model(default_model_path)
    copy = read_model(f16)
    for key in (
        "tokenizer.ggml.tokens",
        "tokenizer.ggml.merges",
        "tokenizer.chat_template",
        "tokenizer.ggml.eos_token_id",
    ):
        assert copy.metadata[key].value == original.metadata[key].value
    assert "Paris" in _answer(f16)


def test_q4_k_m_reports_the_fallback_mix_and_loads_by_name(f16):
    settings = Settings()
    out = settings.resolved_models_dir / "smol-q4km.gguf"
    report = quantize_gguf(f16, out, "Q4_K_M")
    # Width 576 is not a multiple of 256: llama.cpp falls back to 32-wide blocks for most matrices.
    assert "Q5_0" in report.mix["attn_q"]
    assert 95e6 < report.size_bytes < 115e6
    assert resolve_model("smol-q4km", settings) == out.resolve()
    assert "Paris" in _answer(out)


def test_layer_dropping_changes_block_count_and_still_answers(f16, tmp_path):
    report = prune_gguf(f16, tmp_path / "drop2.gguf", "layers", drop=2, naive=True)
    pruned = read_model(report.path)
    assert pruned.n_layers == 28 and not any(name.startswith("blk.28.") for name in pruned.tensors)
    assert isinstance(_answer(report.path), str)


def test_torch_model_agrees_with_llama_cpp(f16):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from orchestrator.compress.calibration import DEFAULT_EVALUATION_FILE
    from orchestrator.compress.distill import build_torch_model, check_agreement

    tokens = llama_backend.tokenize(f16, DEFAULT_EVALUATION_FILE.read_text()[:4000], add_bos=True)[:256]
    agreement, max_diff = check_agreement(build_torch_model(read_model(f16)).eval(), f16, tokens, threads=None)
    assert agreement >= 0.99, (agreement, max_diff)


def test_the_bert_embedder_quantizes_to_q8_0_and_embeds_like_f16(embedding_model_path, tmp_path):
    import numpy as np

    report = quantize_gguf(embedding_model_path, tmp_path / "minilm.Q8_0.gguf", "Q8_0")
    assert report.tensor_types.get("Q8_0", 0) > 0 and report.size_bytes < embedding_model_path.stat().st_size * 0.6
    texts = ["The pump in room four is serviced every six weeks.", "Tomatoes need water every day in summer."]
    vectors = {}
    for name, path in (("f16", embedding_model_path), ("q8", report.path)):
        from orchestrator.llm import embedding_load_options, import_llama_cpp

        llama = import_llama_cpp().Llama(str(path), **embedding_load_options(2), verbose=False)
        vectors[name] = np.asarray(llama.embed(texts, normalize=True))
        llama.close()
    assert np.sum(vectors["f16"] * vectors["q8"], axis=1).min() > 0.99


def test_calibrating_a_bert_model_is_refused(embedding_model_path, tmp_path):
    from orchestrator.errors import ModelFileError

    calibration = tmp_path / "calibration.txt"
    calibration.write_text("Some calibration text about pumps and tomatoes. " * 20)
    with pytest.raises(ModelFileError, match="'bert' model"):
        quantize_gguf(embedding_model_path, tmp_path / "out.gguf", "Q4_K_M", calibration=calibration)
