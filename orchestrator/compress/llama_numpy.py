"""A Llama forward pass in numpy over GGUF-layout weights, recording calibration statistics.

Why hand-written: pruning and the importance matrix need the *inputs* of every weight matrix and
the hidden state around every block, in the tensor names and layouts of the GGUF file, and they must
work without torch (the `[compress]` extra is only needed for distillation). The pass follows
llama.cpp's `llm_build_llama` graph: RMSNorm, rotary embeddings of type NORM (adjacent pairs;
convert_hf_to_gguf.py permutes q/k so this matches Hugging Face's rotate_half), grouped-query causal
attention, SwiGLU FFN, tied output when `output.weight` is absent. Its logits are checked against
llama.cpp's in tests/unit/test_compress_calibration.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
from gguf import Keys

from orchestrator.compress.gguf_io import GGUFModel
from orchestrator.progress import CALIBRATING, Progress


@dataclass
class ActivationStats:
    """Sums over calibration tokens: squared inputs per weight column, and block cosine similarity.

    `sum_sq[name][j] / n_tokens` is llama.cpp's importance-matrix value for column j of weight `name`
    (tools/imatrix: the mean of x_j² over all tokens); `sqrt(sum_sq)` is Wanda's ‖X_j‖₂.
    """

    n_tokens: int = 0
    sum_sq: dict[str, np.ndarray] = field(default_factory=dict)
    block_cos_sum: dict[int, float] = field(default_factory=dict)

    def add_input(self, weight_name: str, x: np.ndarray) -> None:
        squares = np.einsum("ij,ij->j", x, x, dtype=np.float64)
        if weight_name in self.sum_sq:
            self.sum_sq[weight_name] += squares
        else:
            self.sum_sq[weight_name] = squares

    def add_block(self, block: int, h_in: np.ndarray, h_out: np.ndarray) -> None:
        cos = np.einsum("ij,ij->i", h_in, h_out) / (
            np.linalg.norm(h_in, axis=1) * np.linalg.norm(h_out, axis=1) + 1e-12
        )
        self.block_cos_sum[block] = self.block_cos_sum.get(block, 0.0) + float(cos.sum())

    def mean_sq(self, weight_name: str) -> np.ndarray:
        return (self.sum_sq[weight_name] / max(self.n_tokens, 1)).astype(np.float32)

    def block_influence(self) -> dict[int, float]:
        """ShortGPT's Block Influence: 1 − mean cosine(hidden in, hidden out) per block."""
        return {block: 1.0 - total / max(self.n_tokens, 1) for block, total in sorted(self.block_cos_sum.items())}


def rms_norm(x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def rope_norm(x: np.ndarray, positions: np.ndarray, base: float, n_rot: int) -> np.ndarray:
    """Rotary embedding of llama.cpp's type NORM: rotate (x[2i], x[2i+1]) by pos·base^(−2i/n_rot).

    x has shape (tokens, heads, head_dim); only the first n_rot dimensions rotate.
    """
    half = n_rot // 2
    theta = positions[:, None] * base ** (-np.arange(half, dtype=np.float64) * 2.0 / n_rot)
    cos = np.cos(theta).astype(np.float32)[:, None, :]
    sin = np.sin(theta).astype(np.float32)[:, None, :]
    out = x.copy()
    even, odd = x[..., 0:n_rot:2], x[..., 1:n_rot:2]
    out[..., 0:n_rot:2] = even * cos - odd * sin
    out[..., 1:n_rot:2] = even * sin + odd * cos
    return out


def silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


def _attention(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Causal grouped-query attention; q (T, H, D), k/v (T, H_kv, D) -> (T, H·D)."""
    n_tokens, n_head, head_dim = q.shape
    group = n_head // k.shape[1]
    k = np.repeat(k, group, axis=1)
    v = np.repeat(v, group, axis=1)
    scores = np.einsum("thd,shd->hts", q, k) / np.sqrt(head_dim)
    scores += np.triu(np.full((n_tokens, n_tokens), -np.inf, dtype=np.float32), k=1)
    scores -= scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    weights /= weights.sum(axis=-1, keepdims=True)
    return np.einsum("hts,shd->thd", weights, v).reshape(n_tokens, n_head * head_dim)


def forward(model: GGUFModel, tokens: list[int], stats: ActivationStats | None = None) -> np.ndarray:
    """Logits (tokens × vocab) for one sequence; record statistics into `stats` when given."""
    n_head = int(model.hparam(Keys.Attention.HEAD_COUNT))
    n_head_kv = int(model.hparam(Keys.Attention.HEAD_COUNT_KV, n_head))
    n_embd = int(model.hparam(Keys.LLM.EMBEDDING_LENGTH))
    head_dim = n_embd // n_head
    n_rot = int(model.hparam(Keys.Rope.DIMENSION_COUNT, head_dim))
    eps = float(model.hparam(Keys.Attention.LAYERNORM_RMS_EPS, 1e-5))
    base = float(model.hparam(Keys.Rope.FREQ_BASE, 10000.0))
    positions = np.arange(len(tokens), dtype=np.float64)
    weights = model.tensors
    h = weights["token_embd.weight"][np.asarray(tokens)]
    if stats is not None:
        stats.n_tokens += len(tokens)

    def linear(name: str, x: np.ndarray) -> np.ndarray:
        if stats is not None:
            stats.add_input(name, x)
        return x @ weights[name].T

    for block in range(model.n_layers):
        p = f"blk.{block}."
        h_in = h
        x = rms_norm(h, weights[p + "attn_norm.weight"], eps)
        q = linear(p + "attn_q.weight", x).reshape(len(tokens), n_head, head_dim)
        k = linear(p + "attn_k.weight", x).reshape(len(tokens), n_head_kv, head_dim)
        v = linear(p + "attn_v.weight", x).reshape(len(tokens), n_head_kv, head_dim)
        q = rope_norm(q, positions, base, n_rot)
        k = rope_norm(k, positions, base, n_rot)
        h = h + linear(p + "attn_output.weight", _attention(q, k, v))
        x = rms_norm(h, weights[p + "ffn_norm.weight"], eps)
        gated = silu(linear(p + "ffn_gate.weight", x)) * linear(p + "ffn_up.weight", x)
        h = h + linear(p + "ffn_down.weight", gated)
        if stats is not None:
            stats.add_block(block, h_in, h)
    x = rms_norm(h, weights["output_norm.weight"], eps)
    output = "output.weight" if "output.weight" in weights else "token_embd.weight"
    if stats is not None:  # a tied output matmul is recorded under token_embd.weight, as llama-imatrix does
        stats.add_input(output, x)
    return x @ weights[output].T


def collect_stats(
    model: GGUFModel, chunks: Iterable[list[int]], progress: Progress | None = None, total: int = 0
) -> ActivationStats:
    """Run every token chunk through the model and return the accumulated statistics.

    Progress counts tokens (`total` is the number of tokens in all chunks, 0 if unknown).
    """
    stats = ActivationStats()
    done = 0
    if progress:
        progress(CALIBRATING, 0, total)
    for chunk in chunks:
        forward(model, chunk, stats)
        done += len(chunk)
        if progress:
            progress(CALIBRATING, done, total)
    return stats
