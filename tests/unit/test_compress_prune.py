"""Unstructured and structured pruning on a tiny random Llama; the results must still load in llama.cpp."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from gguf import Keys

from orchestrator.compress import llama_backend
from orchestrator.compress.gguf_io import read_model
from orchestrator.compress.prune import (
    choose_blocks_to_drop,
    kept_ffn_width,
    magnitude_prune,
    prunable_weights,
    prune_gguf,
    wanda_prune,
)
from orchestrator.errors import ConfigError, ModelFileError
from orchestrator.gguf_file import inspect_gguf
from tests.helpers.tiny_llama import write_tiny_llama

FAST = {"n_chunks": 2, "chunk_len": 64}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return write_tiny_llama(tmp_path_factory.mktemp("tiny") / "tiny.gguf", n_layers=4)


def _generates(path: Path) -> bool:
    with llama_backend.load(path, n_ctx=64) as llm:
        return isinstance(llm("the cat", max_tokens=4, temperature=0)["choices"][0]["text"], str)


def test_magnitude_prune_zeros_the_smallest_weights():
    weight = np.array([[0.1, -3.0, 0.2, 4.0], [-0.05, 1.0, 2.0, -0.3]], dtype=np.float32)
    pruned = magnitude_prune(weight, 0.5)
    np.testing.assert_array_equal(pruned, [[0, -3.0, 0, 4.0], [0, 1.0, 2.0, 0]])


def test_wanda_uses_input_norms_per_output_row():
    weight = np.array([[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]], dtype=np.float32)
    input_norm = np.array([100.0, 1.0, 1.0, 0.01], dtype=np.float32)  # feature 0 is loud, 3 nearly silent
    pruned = wanda_prune(weight, input_norm, 0.5)
    # Scores row 0: 100, 2, 3, 0.04 -> keep columns 0 and 2; row 1: 400, 3, 2, 0.01 -> keep 0 and 1.
    np.testing.assert_array_equal(pruned, [[1.0, 0, 3.0, 0], [4.0, 3.0, 0, 0]])
    assert (magnitude_prune(weight, 0.5)[:, 0] == [0, 4.0]).all()  # magnitude alone would cut the loud input


@pytest.mark.parametrize("method", ["magnitude", "wanda"])
def test_unstructured_pruning_reaches_the_sparsity_and_keeps_the_size(tiny, tmp_path, method):
    report = prune_gguf(tiny, tmp_path / "p.gguf", method, sparsity=0.5, **FAST)
    pruned, original = read_model(report.path), read_model(tiny)
    for name in prunable_weights(pruned):
        assert abs((pruned.tensors[name] == 0).mean() - 0.5) < 0.02, name
    np.testing.assert_array_equal(
        pruned.tensors["token_embd.weight"], original.tensors["token_embd.weight"].astype(np.float16)
    )
    info = inspect_gguf(report.path)
    assert info.provenance["method"] == f"prune-{method}"
    assert json.loads(info.provenance["parameters"])["sparsity"] == 0.5
    assert _generates(report.path)


def test_layer_pruning_by_block_influence_renumbers_blocks(tiny, tmp_path):
    report = prune_gguf(tiny, tmp_path / "l.gguf", "layers", drop=2, **FAST)
    pruned, original = read_model(report.path), read_model(tiny)
    assert pruned.n_layers == 2
    assert {n.split(".")[1] for n in pruned.tensors if n.startswith("blk.")} == {"0", "1"}
    kept = [b for b in range(4) if b not in report.details["dropped blocks"]]
    np.testing.assert_array_equal(
        pruned.tensors["blk.0.ffn_up.weight"], original.tensors[f"blk.{kept[0]}.ffn_up.weight"].astype(np.float16)
    )
    assert _generates(report.path)


def test_naive_layer_pruning_drops_the_last_blocks(tiny, tmp_path):
    report = prune_gguf(tiny, tmp_path / "n.gguf", "layers", drop=1, naive=True)
    assert report.details["dropped blocks"] == [3]
    assert read_model(report.path).n_layers == 3


def test_block_influence_choice():
    assert choose_blocks_to_drop({0: 0.9, 1: 0.05, 2: 0.2, 3: 0.01}, 2) == [1, 3]


def test_ffn_pruning_shrinks_shapes_and_file(tiny, tmp_path):
    report = prune_gguf(tiny, tmp_path / "f.gguf", "ffn", ratio=0.25, **FAST)
    pruned = read_model(report.path)
    assert pruned.hparam(Keys.LLM.FEED_FORWARD_LENGTH) == 96
    for block in range(pruned.n_layers):
        assert pruned.tensors[f"blk.{block}.ffn_gate.weight"].shape == (96, 64)
        assert pruned.tensors[f"blk.{block}.ffn_up.weight"].shape == (96, 64)
        assert pruned.tensors[f"blk.{block}.ffn_down.weight"].shape == (64, 96)
    dense = prune_gguf(tiny, tmp_path / "dense.gguf", "magnitude", sparsity=0.0)
    assert report.path.stat().st_size < dense.path.stat().st_size
    assert _generates(report.path)


def test_ffn_width_stays_block_aligned():
    assert kept_ffn_width(1536, 0.25) == 1152
    assert kept_ffn_width(128, 0.9) == 32


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "magnitude", "sparsity": 1.0}, "outside \\[0, 1\\)"),
        ({"method": "wanda", "sparsity": -0.1}, "outside \\[0, 1\\)"),
        ({"method": "wanda"}, "needs --sparsity"),
        ({"method": "layers", "drop": 4}, "the model has 4"),
        ({"method": "layers", "drop": 9}, "the model has 4"),
        ({"method": "ffn", "ratio": 1.0}, "outside \\[0, 1\\)"),
        ({"method": "svd", "sparsity": 0.5}, "Unknown pruning method"),
    ],
)
def test_bad_arguments_give_clear_errors_and_no_file(tiny, tmp_path, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        prune_gguf(tiny, tmp_path / "out.gguf", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_missing_source(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        prune_gguf(tmp_path / "missing.gguf", tmp_path / "out.gguf", "magnitude", sparsity=0.5)
