"""The progress callback every long step takes: `progress(stage, done, total)` (total 0 = unknown).

Most stages count items (files, tensors). The stages in TOKEN_STAGES count tokens and those in
CHUNK_STAGES count chunks, so a display can turn successive calls into a rate and a time left
(`rate_text`, with the unit from `stage_unit`).
"""

from __future__ import annotations

from typing import Callable

Progress = Callable[[str, int, int], None]

CALIBRATING = "Calibrating"
CHECKING_AGREEMENT = "Checking torch against llama.cpp"
EVALUATING_BEFORE = "Evaluating before training"
EVALUATING_AFTER = "Evaluating after training"
DISTILLING = "Distilling"
TOKEN_STAGES = (CALIBRATING, CHECKING_AGREEMENT, EVALUATING_BEFORE, EVALUATING_AFTER, DISTILLING)
EMBEDDING_CHUNKS = "Embedding chunks"  # ingest; total is an estimate until every file is read
SPLIT = "Split"  # "Split big.txt": done = total = the chunks a large file makes, reported before they are embedded
CHUNK_STAGES = (EMBEDDING_CHUNKS, SPLIT + " ")


def counts_tokens(stage: str) -> bool:
    """True when `stage`'s done/total are tokens (a stage name may carry a suffix, e.g. "Calibrating tiny.gguf")."""
    return stage.startswith(TOKEN_STAGES)


def stage_unit(stage: str) -> str | None:
    """The unit `stage` counts when it is tokens or chunks (a display then shows a rate), else None."""
    if counts_tokens(stage):
        return "tokens"
    return "chunks" if stage.startswith(CHUNK_STAGES) else None


def split_stage(file_name: str) -> str:
    """The stage that announces how many chunks one large file makes."""
    return f"{SPLIT} {file_name}"


def rate_text(done: int, total: int, elapsed_s: float, unit: str = "tokens") -> str:
    """`1,024/8,192 tokens, 310 tokens/s, about 24 s left` from one stage's counts and its elapsed time."""
    amount = f"{done:,}/{total:,} {unit}" if total else f"{done:,} {unit}"
    if done <= 0 or elapsed_s <= 0:
        return amount
    rate = done / elapsed_s
    parts = [amount, f"{rate:,.1f} {unit}/s" if rate < 10 else f"{rate:,.0f} {unit}/s"]
    if total and done < total:
        parts.append(f"about {_duration((total - done) / rate)} left")
    elif total:
        parts.append(f"done in {_duration(elapsed_s)}")
    return ", ".join(parts)


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
