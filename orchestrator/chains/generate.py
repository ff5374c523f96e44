"""Stream an LCEL chain's text into an Answer, counting tokens and timing the first one."""

from __future__ import annotations

import time
from typing import Iterator

from orchestrator.result import Answer


def stream_into(answer: Answer, chunks, started: float) -> Iterator[str]:
    """Yield each non-empty text chunk; record tokens, first-token time and finish reason on `answer`."""
    for chunk in chunks:
        metadata = getattr(chunk, "response_metadata", None) or {}
        answer._finish_reason = metadata.get("finish_reason") or answer._finish_reason
        text = chunk.content if isinstance(getattr(chunk, "content", None), str) else ""
        if not text:
            continue
        if answer._first_token_s is None:
            answer._first_token_s = time.perf_counter() - started
        answer.completion_tokens += 1
        yield text


def collect(answer: Answer, chunks, started: float) -> str:
    """Run a chain to the end without streaming its text to the user (the text is checked first)."""
    return "".join(stream_into(answer, chunks, started)).strip()
