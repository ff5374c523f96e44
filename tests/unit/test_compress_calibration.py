"""The numpy forward pass used for calibration statistics agrees with llama.cpp; the corpora are disjoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from orchestrator.compress import llama_backend
from orchestrator.compress.calibration import DEFAULT_CALIBRATION_FILE, DEFAULT_EVALUATION_FILE, calibrate, token_chunks
from orchestrator.compress.gguf_io import read_model
from orchestrator.compress.llama_numpy import ActivationStats, forward
from orchestrator.errors import ConfigError
from tests.helpers.tiny_llama import write_tiny_llama


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return write_tiny_llama(tmp_path_factory.mktemp("tiny") / "tiny.gguf", n_layers=3)


def test_numpy_forward_matches_llama_cpp(tiny):
    tokens = llama_backend.tokenize(tiny, DEFAULT_EVALUATION_FILE.read_text()[:1500], add_bos=True)[:160]
    reference = llama_backend.logits(tiny, tokens)
    ours = forward(read_model(tiny), tokens)
    assert (reference.argmax(1) == ours.argmax(1)).mean() >= 0.99
    assert np.abs(reference - ours).max() < 0.05


def test_statistics_are_mean_squared_inputs(tiny):
    model = read_model(tiny)
    tokens = [1, 300, 301, 302, 303]
    stats = ActivationStats()
    forward(model, tokens, stats)
    assert stats.n_tokens == 5
    # Block 0's q/k/v input is the RMS-normed token embedding times attn_norm: recompute it directly.
    embeddings = model.tensors["token_embd.weight"][tokens]
    normed = (
        embeddings
        / np.sqrt((embeddings**2).mean(axis=1, keepdims=True) + 1e-5)
        * model.tensors["blk.0.attn_norm.weight"]
    )
    np.testing.assert_allclose(stats.mean_sq("blk.0.attn_q.weight"), (normed**2).mean(axis=0), rtol=1e-4)
    np.testing.assert_allclose(stats.sum_sq["blk.0.attn_k.weight"], stats.sum_sq["blk.0.attn_q.weight"])
    assert set(stats.block_influence()) == {0, 1, 2}
    assert all(0.0 <= bi <= 2.0 for bi in stats.block_influence().values())


def test_calibrate_uses_the_requested_chunks(tiny):
    stats = calibrate(read_model(tiny), None, n_chunks=3, chunk_len=32)
    assert stats.n_tokens == 96
    chunks = token_chunks(tiny, DEFAULT_CALIBRATION_FILE.read_text(), 2, 16)
    assert all(chunk[0] == 1 and len(chunk) == 16 for chunk in chunks)


def test_missing_or_tiny_calibration_text(tiny, tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        calibrate(read_model(tiny), tmp_path / "none.txt")
    short = tmp_path / "short.txt"
    short.write_text("too short")
    with pytest.raises(ConfigError, match="too short"):
        calibrate(read_model(tiny), short)


def test_calibration_and_evaluation_text_never_overlap():
    def lines(path: Path) -> set[str]:
        return {line.strip() for line in path.read_text(encoding="utf-8").splitlines() if len(line.strip()) > 30}

    calibration, evaluation = lines(DEFAULT_CALIBRATION_FILE), lines(DEFAULT_EVALUATION_FILE)
    assert calibration and evaluation
    assert not calibration & evaluation
    assert DEFAULT_CALIBRATION_FILE.stat().st_size + DEFAULT_EVALUATION_FILE.stat().st_size < 1_000_000
