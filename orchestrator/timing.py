"""Timing: of one answer (tokens, seconds, first token), used by the Answer, the REPL's /stats and the bench;
and of one command's stages (`orchestrator ask --timings`: where a cold start's seconds go)."""

from __future__ import annotations

import time
from contextlib import contextmanager
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


# --- where one command's wall time goes (`orchestrator ask --timings`) ---------------------------------


@dataclass
class Stage:
    """One timed stage, in seconds since the process started; `depth` > 0 when inside another stage."""

    name: str
    start: float
    end: float
    depth: int

    @property
    def seconds(self) -> float:
        return self.end - self.start


class StageLog:
    """The stages of one command, timed while it runs: a cold start's seconds, stage by stage.

    Stages are marked in the code with `with stage("load the chat model"): ...`; they cost nothing
    while no log is recording. Times are measured from the process's start (Linux /proc), so the
    interpreter's start and the imports before the command ran appear as the first stage.
    """

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        import threading

        self._clock = clock
        age = seconds_since_process_start()
        self.origin = clock() - (age if age is not None else 0.0)
        self.stages: list[Stage] = []
        self.marks: list[tuple[str, float]] = []
        self._lock = threading.Lock()
        self._depth = threading.local()
        if age is not None:
            self.stages.append(Stage("start Python, import the command line and settings", 0.0, age, 0))

    def now(self) -> float:
        return self._clock() - self.origin

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Record the enclosed block as a stage, nested under the stage this thread is in."""
        depth = getattr(self._depth, "value", 0)
        self._depth.value = depth + 1
        start = self.now()
        try:
            yield
        finally:
            self._depth.value = depth
            with self._lock:
                self.stages.append(Stage(name, start, self.now(), depth))

    def mark(self, name: str) -> None:
        """A moment rather than a span (the first token)."""
        with self._lock:
            self.marks.append((name, self.now()))

    def lines(self) -> list[str]:
        """The stages and marks in the order they began: 'start-end  name (seconds)'."""
        rows = [
            (s.start, f"{s.start:6.2f}–{s.end:5.2f}  {'  ' * s.depth}{s.name} ({s.seconds:.2f} s)") for s in self.stages
        ]
        rows += [(at, f"{at:6.2f}        {name}") for name, at in self.marks]
        return [text for _, text in sorted(rows, key=lambda row: row[0])]


_recording: StageLog | None = None


def record_stages() -> StageLog:
    """Start recording this process's stages (the CLI's --timings); returns the log."""
    global _recording
    _recording = StageLog()
    return _recording


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time a stage of the running command when --timings is recording; otherwise do nothing."""
    log = _recording
    if log is None:
        yield
        return
    with log.timed(name):
        yield


def mark(name: str) -> None:
    """Note a moment of the running command (see stage)."""
    if _recording is not None:
        _recording.mark(name)


def seconds_since_process_start() -> float | None:
    """How long ago this process started (Linux: /proc/self/stat and /proc/uptime, 10 ms steps), else None."""
    import os

    try:
        with open("/proc/self/stat") as stat, open("/proc/uptime") as uptime:
            # Field 22 (starttime, in clock ticks since boot); the name in field 2 may hold spaces: split after ")".
            started_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
            up = float(uptime.read().split()[0])
        return max(0.0, up - started_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


class StageClock:
    """Seconds spent in each named stage of a pipeline, summed over calls and threads (ingest's breakdown).

    Stages running in different threads overlap, so their seconds may add up to more than the wall time.
    """

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        import threading

        self._clock = clock
        self._lock = threading.Lock()
        self.seconds: dict[str, float] = {}

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        start = self._clock()
        try:
            yield
        finally:
            self.add(name, self._clock() - start)

    def add(self, name: str, seconds: float) -> None:
        with self._lock:
            self.seconds[name] = self.seconds.get(name, 0.0) + seconds
