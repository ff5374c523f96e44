"""`orchestrator compress prune SRC OUT --method magnitude|wanda|layers|ffn ...`.

- magnitude: zero the smallest |W| of each weight matrix (the per-layer baseline of the Wanda paper).
- wanda: zero, in each output row, the weights with the smallest |W_ij|·‖X_j‖₂, where ‖X_j‖₂ is the
  norm of input feature j over the calibration tokens (Sun et al. 2023, "A Simple and Effective
  Pruning Approach for Large Language Models", eq. 1 and its per-output comparison group).
- layers: remove whole blocks. By default the N blocks of lowest Block Influence,
  BI_i = 1 − E_t[cos(x_i,t, x_i+1,t)] on calibration text (Men et al. 2024, "ShortGPT", eq. 1);
  `naive=True` removes the last N blocks instead.
- ffn: remove FFN channels (rows of ffn_gate/ffn_up, columns of ffn_down) with the smallest
  activation-aware importance ‖h_j‖₂·‖W_down[:, j]‖₂, where h is the input of ffn_down (the
  channel's contribution to the block output, in the spirit of Wanda's structured variant).

Unstructured sparsity does not make a GGUF smaller or faster: llama.cpp stores and multiplies zeros
like any other value. Only the structured methods (layers, ffn) change the shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from gguf import Keys

from orchestrator.compress.gguf_io import (
    GGUFModel,
    check_distinct,
    provenance,
    read_model,
    renumber_blocks,
    write_model,
)
from orchestrator.compress.llama_numpy import ActivationStats
from orchestrator.errors import ConfigError
from orchestrator.progress import Progress

METHODS = ("magnitude", "wanda", "layers", "ffn")
PRUNABLE = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")
# Kept FFN widths are a multiple of this so that every llama.cpp block size (32 for Q4_0..Q8_0) still fits.
FFN_ALIGN = 32


@dataclass
class PruneReport:
    """What a pruning step did."""

    path: Path
    method: str
    details: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        return "\n".join(f"{key}: {value}" for key, value in self.details.items())


def prunable_weights(model: GGUFModel) -> list[str]:
    """Names of the block weight matrices that unstructured pruning touches (not embeddings or norms)."""
    return [
        name
        for name in model.tensors
        if name.startswith("blk.") and name.split(".")[2] in PRUNABLE and model.tensors[name].ndim == 2
    ]


def magnitude_prune(weight: np.ndarray, sparsity: float) -> np.ndarray:
    """Zero the `sparsity` fraction of entries with the smallest magnitude (whole matrix)."""
    n_zero = int(weight.size * sparsity)
    if n_zero == 0:
        return weight
    threshold_index = np.argpartition(np.abs(weight).ravel(), n_zero - 1)[:n_zero]
    pruned = weight.copy().ravel()
    pruned[threshold_index] = 0.0
    return pruned.reshape(weight.shape)


def wanda_prune(weight: np.ndarray, input_norm: np.ndarray, sparsity: float) -> np.ndarray:
    """Zero, per output row, the `sparsity` fraction with the smallest |W_ij|·‖X_j‖₂ (Wanda)."""
    n_zero = int(weight.shape[1] * sparsity)
    if n_zero == 0:
        return weight
    scores = np.abs(weight) * input_norm[None, :]
    drop = np.argpartition(scores, n_zero - 1, axis=1)[:, :n_zero]
    pruned = weight.copy()
    np.put_along_axis(pruned, drop, 0.0, axis=1)
    return pruned


def choose_blocks_to_drop(influence: dict[int, float], n_drop: int) -> list[int]:
    """The `n_drop` blocks with the lowest Block Influence."""
    return sorted(sorted(influence, key=lambda block: influence[block])[:n_drop])


def ffn_channel_importance(down_weight: np.ndarray, down_input_sum_sq: np.ndarray) -> np.ndarray:
    """‖h_j‖₂ · ‖W_down[:, j]‖₂ for every FFN channel j."""
    return np.sqrt(down_input_sum_sq) * np.linalg.norm(down_weight, axis=0)


def kept_ffn_width(n_ff: int, ratio: float) -> int:
    keep = int((n_ff * (1.0 - ratio)) // FFN_ALIGN * FFN_ALIGN)
    return max(FFN_ALIGN, min(keep, n_ff))


def _check_arguments(method: str, sparsity, drop, ratio, n_layers: int | None = None) -> None:
    """Refuse bad options; without `n_layers` (before the model is read) --drop is checked only for ≥ 1."""
    if method not in METHODS:
        raise ConfigError(f"Unknown pruning method {method!r}; use one of {', '.join(METHODS)}.")
    if method in ("magnitude", "wanda"):
        if sparsity is None:
            raise ConfigError(f"--method {method} needs --sparsity (a fraction in [0, 1), e.g. 0.5).")
        if not 0.0 <= sparsity < 1.0:
            raise ConfigError(f"Sparsity {sparsity} is outside [0, 1): give the fraction of weights to zero, e.g. 0.5.")
    if method == "layers":
        if drop is None or drop < 1:
            raise ConfigError("--method layers needs --drop N with N ≥ 1 blocks to remove.")
        if n_layers is not None and drop >= n_layers:
            raise ConfigError(f"Cannot drop {drop} blocks: the model has {n_layers}; at least one must remain.")
    if method == "ffn":
        if ratio is None:
            raise ConfigError("--method ffn needs --ratio (the fraction of FFN channels to remove, e.g. 0.25).")
        if not 0.0 <= ratio < 1.0:
            raise ConfigError(
                f"FFN ratio {ratio} is outside [0, 1): give the fraction of channels to remove, e.g. 0.25."
            )


def _prune_unstructured(model, method, sparsity, stats, progress) -> dict:
    names = prunable_weights(model)
    zeros = total = 0
    for index, name in enumerate(names):
        weight = model.tensors[name]
        if method == "magnitude":
            weight = magnitude_prune(weight, sparsity)
        else:
            weight = wanda_prune(weight, np.sqrt(stats.sum_sq[name]).astype(np.float32), sparsity)
        model.tensors[name] = weight
        zeros += int((weight == 0).sum())
        total += weight.size
        if progress:
            progress(f"Pruning ({method})", index + 1, len(names))
    return {
        "sparsity of pruned matrices": f"{zeros / total:.3f}",
        "note": "same file size and speed: llama.cpp has no sparse kernels, zeros are stored and multiplied",
    }


def _prune_layers(model, drop, naive, stats) -> dict:
    n_layers = model.n_layers
    if naive:
        dropped = list(range(n_layers - drop, n_layers))
        details: dict[str, Any] = {"selection": "last blocks"}
    else:
        influence = stats.block_influence()
        dropped = choose_blocks_to_drop(influence, drop)
        details = {
            "selection": "lowest Block Influence",
            "block influence": ", ".join(f"{b}:{v:.3f}" for b, v in influence.items()),
        }
    keep = [block for block in range(n_layers) if block not in dropped]
    renumber_blocks(model, keep)
    details.update({"dropped blocks": dropped, "blocks": f"{n_layers} -> {len(keep)}"})
    return details


def _prune_ffn(model, ratio, stats) -> dict:
    n_ff = int(model.hparam(Keys.LLM.FEED_FORWARD_LENGTH))
    keep_n = kept_ffn_width(n_ff, ratio)
    for block in range(model.n_layers):
        p = f"blk.{block}."
        importance = ffn_channel_importance(model.tensors[p + "ffn_down.weight"], stats.sum_sq[p + "ffn_down.weight"])
        keep = np.sort(np.argsort(importance)[::-1][:keep_n])
        model.tensors[p + "ffn_gate.weight"] = model.tensors[p + "ffn_gate.weight"][keep]
        model.tensors[p + "ffn_up.weight"] = model.tensors[p + "ffn_up.weight"][keep]
        model.tensors[p + "ffn_down.weight"] = np.ascontiguousarray(model.tensors[p + "ffn_down.weight"][:, keep])
    model.set_uint32(model.arch_key(Keys.LLM.FEED_FORWARD_LENGTH), keep_n)
    return {"feed_forward_length": f"{n_ff} -> {keep_n}", "removed fraction": f"{1 - keep_n / n_ff:.3f}"}


def prune_gguf(
    src: Path,
    out: Path,
    method: str,
    sparsity: float | None = None,
    drop: int | None = None,
    ratio: float | None = None,
    calibration: Path | None = None,
    naive: bool = False,
    n_chunks: int = 8,
    chunk_len: int = 256,
    out_type: str = "f16",
    progress: Progress | None = None,
    stats: ActivationStats | None = None,
) -> PruneReport:
    """Prune `src` with `method` and write the result to `out`; see the module docstring.

    `stats` (from calibration.calibrate on this same model) lets several prunings share one calibration.
    """
    from orchestrator.compress.gguf_io import check_architecture
    from orchestrator.gguf_file import inspect_gguf

    src, out = Path(src).expanduser(), Path(out).expanduser()
    check_distinct(src, out)
    method = (method or "").lower()
    info = inspect_gguf(src)  # clear errors for missing / non-GGUF files before any work
    check_architecture(src, info.architecture)
    _check_arguments(method, sparsity, drop, ratio)  # before reading every tensor
    model = read_model(src, progress)
    _check_arguments(method, sparsity, drop, ratio, model.n_layers)
    needs_stats = method in ("wanda", "ffn") or (method == "layers" and not naive)
    if needs_stats and stats is None:
        from orchestrator.compress.calibration import calibrate

        stats = calibrate(model, calibration, n_chunks, chunk_len, progress)
    if method in ("magnitude", "wanda"):
        details = _prune_unstructured(model, method, sparsity, stats, progress)
        parameters: dict[str, Any] = {"sparsity": sparsity}
    elif method == "layers":
        details = _prune_layers(model, drop, naive, stats)
        parameters = {
            "drop": drop,
            "selection": "naive-last" if naive else "block-influence",
            "dropped": details["dropped blocks"],
        }
    else:
        details = _prune_ffn(model, ratio, stats)
        parameters = {"ratio": ratio, "feed_forward_length": int(model.hparam(Keys.LLM.FEED_FORWARD_LENGTH))}
    if needs_stats and stats is not None:
        parameters["calibration"] = {
            "text": Path(calibration).name if calibration else "calibration.txt (shipped)",
            "chunks": n_chunks,
            "chunk_len": chunk_len,
            "tokens": stats.n_tokens,
        }
    keys = provenance(model, f"prune-{method}", parameters)
    write_model(model, out, out_type, keys, progress)
    return PruneReport(out, method, details)
