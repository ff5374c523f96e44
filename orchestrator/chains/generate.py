"""Stream an LCEL chain's text into an Answer, counting tokens and timing the first one."""

from __future__ import annotations

import time
from contextvars import ContextVar
from typing import Callable, Iterator

from orchestrator.errors import OrchestratorError
from orchestrator.result import Answer


class GenerationStopped(OrchestratorError):
    """A generation was ended early by its caller: the client left, or the server's time limit passed."""


# A hook the server sets for one request (serve/lanes.py): called after every chunk a model generates, on
# every route and with every chat model, so a draft that is checked before it is shown (docs, web, math)
# stops as promptly as a streamed chat answer. It raises GenerationStopped to end the generation there.
after_each_chunk: ContextVar[Callable[[], None] | None] = ContextVar("after_each_chunk", default=None)


def stream_into(answer: Answer, chunks, started: float) -> Iterator[str]:
    """Yield each non-empty text chunk; record tokens, first-token time and finish reason on `answer`."""
    check = after_each_chunk.get()
    try:
        for chunk in chunks:
            if check is not None:
                check()
            metadata = getattr(chunk, "response_metadata", None) or {}
            answer._finish_reason = metadata.get("finish_reason") or answer._finish_reason
            text = chunk.content if isinstance(getattr(chunk, "content", None), str) else ""
            if not text:
                continue
            if answer._first_token_s is None:
                answer._first_token_s = time.perf_counter() - started
            answer.completion_tokens += 1
            yield text
    finally:
        # A llama.cpp stream holds its model's lock until it is closed: close it now, not when collected.
        getattr(chunks, "close", lambda: None)()


def collect(answer: Answer, chunks, started: float) -> str:
    """Run a chain to the end without streaming its text to the user (the text is checked first)."""
    return "".join(stream_into(answer, chunks, started)).strip()
