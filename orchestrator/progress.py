"""The progress callback every long step takes: `progress(stage, done, total)` (total 0 = unknown).

Most stages count items (files, chunks, tensors). The stages in TOKEN_STAGES count tokens, so a
display can turn successive calls into a rate and a time left (`rate_text`).
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


def counts_tokens(stage: str) -> bool:
    """True when `stage`'s done/total are tokens (a stage name may carry a suffix, e.g. "Calibrating tiny.gguf")."""
    return stage.startswith(TOKEN_STAGES)


def rate_text(done: int, total: int, elapsed_s: float) -> str:
    """`1,024/8,192 tokens, 310 tokens/s, about 24 s left` from one stage's counts and its elapsed time."""
    amount = f"{done:,}/{total:,} tokens" if total else f"{done:,} tokens"
    if done <= 0 or elapsed_s <= 0:
        return amount
    rate = done / elapsed_s
    parts = [amount, f"{rate:,.0f} tokens/s"]
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
