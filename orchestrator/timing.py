"""Timing of one answer (tokens, seconds, first token): used by the Answer, the REPL's /stats and the bench."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")


@dataclass
class GenerationStats:
    """Timing of one answer: what the REPL's /stats shows."""

    tokens: int
    seconds: float
    time_to_first_token: float | None = None
    prompt_tokens: int | None = None

    @property
    def tokens_per_second(self) -> float:
        """Decode speed: tokens after the first over the time after the first, as the bench's gen tok/s.

        Without a first-token time (or with one token) it falls back to tokens / seconds; 0 when untimed.
        """
        if self.time_to_first_token is not None and self.tokens > 1:
            span = self.seconds - self.time_to_first_token
            if span > 0:
                return (self.tokens - 1) / span
        return self.tokens / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        """One line for the terminal, e.g. '128 tokens in 1.02 s (125.5 tok/s, first token 0.12 s)'."""
        text = f"{self.tokens} tokens in {self.seconds:.2f} s ({self.tokens_per_second:.1f} tok/s"
        if self.time_to_first_token is not None:
            text += f", first token {self.time_to_first_token:.2f} s"
        return text + ")"


class GenerationTimer:
    """Wrap a token/chunk stream and time it: `for chunk in timer.wrap(stream): ...; timer.stats`.

    Each item of the stream counts as one token, which is what llama-cpp-python's streaming yields;
    pass `tokens=` to `stats_with` when the backend reports an exact count (its `usage`).
    """

    def __init__(self, clock: Callable[[], float] = time.perf_counter):
        self._clock = clock
        self._start: float | None = None
        self._first: float | None = None
        self._end: float | None = None
        self._count = 0

    def wrap(self, stream: Iterable[T]) -> Iterator[T]:
        self._start = self._clock()
        for item in stream:
            if self._first is None:
                self._first = self._clock()
            self._count += 1
            yield item
        self._end = self._clock()

    @property
    def stats(self) -> GenerationStats:
        return self.stats_with()

    def stats_with(self, tokens: int | None = None, prompt_tokens: int | None = None) -> GenerationStats:
        if self._start is None:
            return GenerationStats(tokens=0, seconds=0.0)
        end = self._end if self._end is not None else self._clock()
        first = None if self._first is None else self._first - self._start
        return GenerationStats(
            tokens=self._count if tokens is None else tokens,
            seconds=end - self._start,
            time_to_first_token=first,
            prompt_tokens=prompt_tokens,
        )
