"""Load time, prompt processing and generation speed of a model, as llama-bench measures them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from orchestrator.bench.llama_access import (
    argmax_last_logits,
    load_llama,
    tokenize_text,
)
from orchestrator.bench.machine import current_rss_bytes, peak_rss_bytes
from orchestrator.errors import ConfigError

DEFAULT_PROMPT_TOKENS = 512  # llama-bench's pp512
DEFAULT_GENERATED_TOKENS = 128  # llama-bench's tg128


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
    next_token = argmax_last_logits(llm)
    first_token_at = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(n_generate):
        llm.eval([next_token])
        next_token = argmax_last_logits(llm)
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
