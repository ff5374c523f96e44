"""Perplexity and KL divergence of a model on a text.

They follow llama.cpp's `llama-perplexity` tool (examples/perplexity/perplexity.cpp, now
tools/perplexity/perplexity.cpp), so numbers are comparable with what that tool prints for the same
text, context size and model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.bench.llama_access import load_llama, tokenize_text, window_logits
from orchestrator.errors import ConfigError

DEFAULT_PPL_CTX = 512  # llama-perplexity's default context


def log_softmax(logits):
    """Row-wise log-softmax in float64 (max-subtracted, as llama.cpp's log_softmax)."""
    import numpy as np

    rows = np.asarray(logits, dtype=np.float64)
    shifted = rows - rows.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def perplexity_windows(n_tokens: int, n_ctx: int, max_chunks: int | None = None) -> list[tuple[int, int]]:
    """Non-overlapping windows [start, end) of n_ctx tokens, as llama-perplexity's chunks.

    llama.cpp uses n_chunk = n_tokens // n_ctx and drops the remainder. It also refuses texts of fewer
    than 2*n_ctx tokens; we accept one full window, which gives the same per-window numbers.
    """
    if n_ctx < 8 or n_ctx % 2:
        raise ConfigError(f"The perplexity context must be an even number of tokens >= 8, not {n_ctx}.")
    n_chunks = n_tokens // n_ctx
    if max_chunks is not None:
        n_chunks = min(n_chunks, max_chunks)
    return [(index * n_ctx, (index + 1) * n_ctx) for index in range(n_chunks)]


def first_scored_position(n_ctx: int) -> int:
    """Only the second half of each window is scored, so every prediction has >= n_ctx/2 tokens of context."""
    return n_ctx // 2


def window_target_logprobs(window_logits, window_tokens) -> tuple[Any, Any]:
    """Log-probs of the scored positions of one window and the tokens they must predict.

    Logits at position j predict token j+1; llama.cpp scores positions first .. n_ctx-2, i.e.
    n_ctx - 1 - n_ctx/2 predictions per window (process_logits in perplexity.cpp).
    """
    import numpy as np

    n_ctx = len(window_tokens)
    first = first_scored_position(n_ctx)
    logprobs = log_softmax(np.asarray(window_logits)[first : n_ctx - 1])
    targets = np.asarray(window_tokens[first + 1 : n_ctx], dtype=np.int64)
    return logprobs, targets


def negative_log_likelihoods(logprobs, targets):
    """-log p(target) per scored position."""
    import numpy as np

    return -logprobs[np.arange(len(targets)), targets]


def kl_divergences(base_logprobs, logprobs):
    """Per-position KL(P_base || P_model) = sum_v p_base (log p_base - log p_model), as llama.cpp's --kl-divergence.

    llama.cpp stores the base log-probs quantised to 16 bits and skips p_base < e^-16; we keep them in
    float32 and sum over the whole vocabulary, so values can differ from its output in the 4th digit.
    """
    import numpy as np

    base = np.asarray(base_logprobs, dtype=np.float64)
    probs = np.exp(base)
    kld = (probs * (base - np.asarray(logprobs, dtype=np.float64))).sum(axis=-1)
    return np.maximum(kld, 0.0)  # rounding can give -1e-17 for identical rows


def same_top_token(base_logprobs, logprobs):
    """True where both distributions have the same most likely token."""
    import numpy as np

    return np.argmax(base_logprobs, axis=-1) == np.argmax(logprobs, axis=-1)


@dataclass
class QualityResult:
    """Perplexity on the text and, when a base was given, divergence from the base model."""

    perplexity: float
    perplexity_stderr: float  # llama.cpp's "PPL = x +/- y": ppl * stderr of the mean NLL
    n_windows: int
    n_ctx: int
    n_scored_tokens: int
    kld_mean: float | None = None
    kld_p99: float | None = None
    kld_median: float | None = None
    same_top_fraction: float | None = None


def summarize_quality(nlls, klds=None, same_top=None, n_windows: int = 0, n_ctx: int = 0) -> QualityResult:
    """Aggregate per-token values the way llama-perplexity prints its final estimate and KLD statistics."""
    import numpy as np

    nll = np.asarray(nlls, dtype=np.float64)
    mean = float(nll.mean())
    stderr = float(nll.std(ddof=1) / np.sqrt(len(nll))) if len(nll) > 1 else 0.0
    ppl = float(np.exp(mean))
    result = QualityResult(ppl, ppl * stderr, n_windows, n_ctx, int(len(nll)))
    if klds is not None:
        values = np.asarray(klds, dtype=np.float64)
        result.kld_mean = float(values.mean())
        result.kld_p99 = float(np.percentile(values, 99))  # linear interpolation, as llama.cpp's percentile()
        result.kld_median = float(np.median(values))
        result.same_top_fraction = float(np.mean(same_top))
    return result


def measure_quality(
    path: str | Path,
    text: str,
    n_ctx: int = DEFAULT_PPL_CTX,
    max_chunks: int | None = None,
    n_threads: int = 1,
    base_logprobs_dir: str | Path | None = None,
    save_logprobs_dir: str | Path | None = None,
) -> QualityResult:
    """Perplexity of the model on `text` (llama-perplexity's method) and KLD against saved base log-probs.

    Method (tools/perplexity/perplexity.cpp, `perplexity()` and `kl_divergence()` in llama.cpp):
    the text is tokenized once, cut into non-overlapping windows of n_ctx tokens (the tail shorter than a
    window is dropped), each window is evaluated from an empty KV cache with its first token replaced by
    BOS when the model adds BOS, and only the second half of each window is scored: the logits at
    positions n_ctx/2 .. n_ctx-2 predict tokens n_ctx/2+1 .. n_ctx-1. Perplexity = exp(mean NLL).
    KLD compares the same positions with a base model's distributions (saved by its own run with
    `save_logprobs_dir`): mean, 99th percentile, and the share of positions whose top token agrees.
    """
    import numpy as np

    llm = load_llama(path, n_ctx=n_ctx, n_threads=n_threads, logits_all=True)
    tokens = tokenize_text(llm, text)
    windows = perplexity_windows(len(tokens), n_ctx, max_chunks)
    if not windows:
        raise ConfigError(
            f"The evaluation text has {len(tokens)} tokens for {Path(path).name}, fewer than one window of "
            f"{n_ctx}: give a longer --text or a smaller --ctx."
        )
    nlls, klds, same = [], [], []
    for index, (start, end) in enumerate(windows):
        logprobs, targets = window_target_logprobs(window_logits(llm, tokens[start:end]), tokens[start:end])
        nlls.append(negative_log_likelihoods(logprobs, targets))
        if save_logprobs_dir is not None:
            np.save(Path(save_logprobs_dir) / f"window{index:04d}.npy", logprobs.astype(np.float32))
            np.save(Path(save_logprobs_dir) / f"targets{index:04d}.npy", targets)
        if base_logprobs_dir is not None:
            base, base_targets = _load_base_window(Path(base_logprobs_dir), index, logprobs.shape)
            if not np.array_equal(base_targets, targets):
                raise ConfigError(
                    f"{Path(path).name} tokenizes the text differently from the base model, so KL divergence "
                    "is undefined: compare only variants of one model, or pick another --base."
                )
            # Compare at the precision the base was stored in, so a model against itself gives exactly 0.
            stored = logprobs.astype(np.float32)
            klds.append(kl_divergences(base, stored))
            same.append(same_top_token(base, stored))
    return summarize_quality(
        np.concatenate(nlls),
        np.concatenate(klds) if klds else None,
        np.concatenate(same) if same else None,
        n_windows=len(windows),
        n_ctx=n_ctx,
    )


def _load_base_window(folder: Path, index: int, shape: tuple[int, ...]):
    import numpy as np

    window_file = folder / f"window{index:04d}.npy"
    if not window_file.is_file():
        raise ConfigError(
            "The base model covers fewer windows of the text than this model (different tokenizer?): "
            "compare only variants of one model, or pick another --base."
        )
    base = np.load(window_file, mmap_mode="r")
    if base.shape != shape:
        raise ConfigError(
            f"The base model's vocabulary ({base.shape[-1]} tokens) differs from this model's ({shape[-1]}): "
            "KL divergence needs variants of one model."
        )
    return base, np.load(folder / f"targets{index:04d}.npy")
