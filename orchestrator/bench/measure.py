"""Measurements for `orchestrator bench`, the REPL's /stats and `orchestrator models`: one implementation.

Quality (perplexity, KL divergence) follows llama.cpp's `llama-perplexity` tool
(examples/perplexity/perplexity.cpp, now tools/perplexity/perplexity.cpp), so numbers are comparable
with what that tool prints for the same text, context size and model.

This module is the benchmark's only llama_cpp importer (the app's is orchestrator/llm.py): it needs
per-position logits and raw decode timing, which the chat wrapper does not expose. llama_cpp is
imported inside the functions that use it so that `import orchestrator.bench.measure` stays cheap.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TypeVar

from orchestrator.errors import ConfigError, OrchestratorError

T = TypeVar("T")
DEFAULT_PROMPT_TOKENS = 512  # llama-bench's pp512
DEFAULT_GENERATED_TOKENS = 128  # llama-bench's tg128
DEFAULT_PPL_CTX = 512  # llama-perplexity's default context


# --------------------------------------------------------------------------- REPL / models helpers


@dataclass
class ModelFootprint:
    """Size facts from the GGUF header: what `orchestrator models` and the bench table show."""

    size_bytes: int
    n_params: int
    bits_per_weight: float
    file_type: str
    quant_mix: dict[str, int]  # tensor type -> number of tensors


def model_footprint(info: Any) -> ModelFootprint:
    """Footprint from an orchestrator.gguf_file.GGUFInfo (file bits per parameter, as llama.cpp's BPW)."""
    bpw = info.size_bytes * 8 / info.n_params if info.n_params else 0.0
    mix = dict(sorted(info.tensor_types.items(), key=lambda item: (-item[1], item[0])))
    return ModelFootprint(info.size_bytes, info.n_params, bpw, info.file_type, mix)


def format_quant_mix(mix: dict[str, int]) -> str:
    """'Q4_1×169 F32×61 Q6_K×1': tensor counts per type, commonest first."""
    return " ".join(f"{name}×{count}" for name, count in mix.items())


# --------------------------------------------------------------------------- statistics


@dataclass
class Spread:
    """Median and range of repeated measurements."""

    median: float
    low: float
    high: float
    samples: list[float] = field(default_factory=list)

    @classmethod
    def of(cls, samples: list[float]) -> "Spread":
        if not samples:
            raise ValueError("no samples")
        return cls(statistics.median(samples), min(samples), max(samples), list(samples))

    @property
    def relative_spread(self) -> float:
        """(max - min) / median: how noisy the repeats were."""
        return (self.high - self.low) / self.median if self.median else 0.0


# --------------------------------------------------------------------------- perplexity and KLD (numpy)


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


# --------------------------------------------------------------------------- llama.cpp access


def load_llama(path: str | Path, n_ctx: int, n_threads: int, logits_all: bool = False, n_batch: int = 512):
    """A llama_cpp.Llama on `path`, quiet, with the given context; raise OrchestratorError if it fails."""
    try:
        from orchestrator.llm import import_llama_cpp

        llama_cpp = import_llama_cpp()
    except ImportError as exc:
        raise OrchestratorError(
            f"llama-cpp-python is not importable ({exc}); install the project with `pip install -e .`."
        ) from None
    try:
        return llama_cpp.Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_batch=min(n_batch, n_ctx),
            n_ubatch=min(n_batch, n_ctx),
            n_threads=n_threads,
            n_threads_batch=n_threads,
            logits_all=logits_all,
            verbose=False,
        )
    except (ValueError, RuntimeError) as exc:
        raise OrchestratorError(f"llama.cpp could not load {path}: {exc}") from None


def llama_version() -> str:
    try:
        from orchestrator.llm import import_llama_cpp

        llama_cpp = import_llama_cpp()
    except ImportError:
        return "not installed"
    return getattr(llama_cpp, "__version__", "unknown")


def tokenize_text(llm, text: str) -> list[int]:
    """Tokens of the whole text with the model's own BOS rule, as common_tokenize(ctx, text, true)."""
    return llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)


def window_logits(llm, window_tokens: list[int]):
    """Logits (n_ctx x n_vocab) for one window from a fresh KV cache.

    As perplexity.cpp, the window's first token is replaced by BOS when the vocabulary adds BOS,
    so each window starts like a document.
    """
    from orchestrator.llm import import_llama_cpp

    llama_cpp = import_llama_cpp()
    import numpy as np

    tokens = list(window_tokens)
    if llama_cpp.llama_vocab_get_add_bos(llama_cpp.llama_model_get_vocab(llm.model)):
        tokens[0] = llm.token_bos()
    llm.reset()
    llm.eval(tokens)
    return np.array(llm.scores[: len(tokens)], dtype=np.float32)


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


@dataclass
class SpeedSample:
    """One load + prompt + generation run of a model, in its own process."""

    load_seconds: float
    prompt_tokens: int
    prompt_seconds: float
    generated_tokens: int
    generation_seconds: float
    time_to_first_token: float
    peak_rss_bytes: int
    rss_before_load_bytes: int

    @property
    def prompt_tokens_per_second(self) -> float:
        return self.prompt_tokens / self.prompt_seconds

    @property
    def generation_tokens_per_second(self) -> float:
        return self.generated_tokens / self.generation_seconds


def measure_speed(
    path: str | Path,
    text: str,
    n_prompt: int = DEFAULT_PROMPT_TOKENS,
    n_generate: int = DEFAULT_GENERATED_TOKENS,
    n_threads: int = 1,
) -> SpeedSample:
    """Load time, prompt processing (n_prompt tokens in one batch) and greedy generation of n_generate tokens.

    Like llama-bench's pp512/tg128, but generation continues after the prompt (so it attends to a real
    context) and includes picking the argmax token, as a chat turn does. Generation never stops at EOS,
    so every model decodes exactly n_generate tokens.
    """
    rss_before = current_rss_bytes()
    started = time.perf_counter()
    llm = load_llama(path, n_ctx=n_prompt + n_generate + 8, n_threads=n_threads, n_batch=n_prompt)
    load_seconds = time.perf_counter() - started
    prompt = _prompt_tokens(tokenize_text(llm, text), n_prompt)
    llm.eval(prompt[:16])  # warm-up: first-call allocations are not prompt processing
    llm.reset()
    started = time.perf_counter()
    llm.eval(prompt)
    prompt_seconds = time.perf_counter() - started
    next_token = _argmax_last_logits(llm)
    first_token_at = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(n_generate):
        llm.eval([next_token])
        next_token = _argmax_last_logits(llm)
    generation_seconds = time.perf_counter() - started
    return SpeedSample(
        load_seconds=load_seconds,
        prompt_tokens=len(prompt),
        prompt_seconds=prompt_seconds,
        generated_tokens=n_generate,
        generation_seconds=generation_seconds,
        time_to_first_token=first_token_at,
        peak_rss_bytes=peak_rss_bytes(),
        rss_before_load_bytes=rss_before,
    )


def _prompt_tokens(tokens: list[int], n_prompt: int) -> list[int]:
    if len(tokens) < 2:
        raise ConfigError("The benchmark text tokenizes to fewer than 2 tokens; give a longer --text.")
    return (tokens * (n_prompt // len(tokens) + 1))[:n_prompt]  # a short text is repeated to fill the prompt


def _argmax_last_logits(llm) -> int:
    """Greedy pick from the last decoded position's logits (llama_get_logits_ith(ctx, -1))."""
    from orchestrator.llm import import_llama_cpp

    llama_cpp = import_llama_cpp()
    import numpy as np

    pointer = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
    return int(np.argmax(np.ctypeslib.as_array(pointer, shape=(llm.n_vocab(),))))


# --------------------------------------------------------------------------- process and machine


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (getrusage: KiB on Linux, bytes on macOS)."""
    try:
        import resource
    except ImportError:  # Windows: psutil's peak working set
        import psutil

        return int(getattr(psutil.Process().memory_info(), "peak_wset", psutil.Process().memory_info().rss))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def current_rss_bytes() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def run_in_child(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run function(*args) in a fresh spawned process, so its peak RSS and allocations are its own.

    Exceptions raised in the child (OrchestratorError included) are re-raised here.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        try:
            return pool.submit(function, *args, **kwargs).result()
        except BrokenProcessPool:
            raise OrchestratorError(
                f"The benchmark process for {function.__name__} crashed (out of memory, or llama.cpp aborted "
                "on the model file). Run it alone with ORCH_LLAMA_VERBOSE=1 to see llama.cpp's log."
            ) from None


@dataclass
class BandwidthResult:
    """Memory bandwidth from streaming over arrays much larger than the CPU caches."""

    read_gb_per_s: float  # sum over an array: bytes read / s
    copy_gb_per_s: float  # copy between arrays: (bytes read + bytes written) / s
    array_bytes: int
    threads: int


def measure_memory_bandwidth(array_bytes: int = 256 << 20, threads: int = 1, repeats: int = 5) -> BandwidthResult:
    """A STREAM-like numpy benchmark, best of `repeats` as STREAM reports.

    Hand-written because no maintained pip package measures bandwidth; the arrays are split across
    `threads` threads (numpy releases the GIL in reductions and copies), as llama.cpp spreads a
    matrix-vector product over its threads. Decode speed is bounded by reading the weights once per
    token, so the read figure is the physical limit that the bench compares generation against.
    """
    import numpy as np
    from concurrent.futures import ThreadPoolExecutor

    threads = max(1, threads)
    n = array_bytes // 8
    source = np.ones(n, dtype=np.float64)
    target = np.empty_like(source)
    bounds = [(n * index // threads, n * (index + 1) // threads) for index in range(threads)]

    def best_rate(work: Callable[[int, int], object], bytes_moved: int) -> float:
        best = float("inf")
        with ThreadPoolExecutor(threads) as pool:
            for _ in range(repeats):
                started = time.perf_counter()
                list(pool.map(lambda bound: work(*bound), bounds))
                best = min(best, time.perf_counter() - started)
        return bytes_moved / best / 1e9

    target[:] = source  # touch every page before timing
    read = best_rate(lambda lo, hi: source[lo:hi].sum(), source.nbytes)
    copy = best_rate(lambda lo, hi: np.copyto(target[lo:hi], source[lo:hi]), 2 * source.nbytes)
    return BandwidthResult(read, copy, source.nbytes, threads)


def machine_info() -> dict[str, Any]:
    """CPU model, cores, RAM and versions, for the report header."""
    import psutil

    return {
        "cpu": cpu_model(),
        "physical_cores": psutil.cpu_count(logical=False),
        "logical_cores": psutil.cpu_count(logical=True),
        "ram_bytes": int(psutil.virtual_memory().total),
        "os": platform.platform(),
        "python": platform.python_version(),
        "llama_cpp_python": llama_version(),
        "numpy": _version_of("numpy"),
        # Other work on the machine slows every model alike but makes the absolute numbers low and noisy.
        "load_average_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def cpu_model() -> str:
    """The CPU's marketing name: /proc/cpuinfo on Linux, platform.processor() elsewhere."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _version_of(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"
