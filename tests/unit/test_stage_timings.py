"""The stage timer behind `orchestrator ask --timings` (orchestrator/timing.py)."""

from __future__ import annotations

import threading

import pytest

from orchestrator import timing


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def log(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(timing, "seconds_since_process_start", lambda: 0.5)
    recorder = timing.StageLog(clock)
    monkeypatch.setattr(timing, "_recording", recorder)
    return recorder, clock


def test_stages_nest_and_are_listed_in_the_order_they_began(log):
    recorder, clock = log
    with timing.stage("answer"):
        clock.now += 0.25
        with timing.stage("route the question"):
            clock.now += 0.5
        timing.mark("first token shown")
        clock.now += 0.25
    assert recorder.lines() == [
        "  0.00– 0.50  start Python, import the command line and settings (0.50 s)",
        "  0.50– 1.50  answer (1.00 s)",
        "  0.75– 1.25    route the question (0.50 s)",
        "  1.25        first token shown",
    ]


def test_a_stage_that_raises_is_still_recorded(log):
    recorder, clock = log
    with pytest.raises(ValueError), timing.stage("load the chat model"):
        clock.now += 1
        raise ValueError("bad file")
    assert [(s.name, s.seconds) for s in recorder.stages[1:]] == [("load the chat model", 1.0)]


def test_stages_in_another_thread_start_at_the_top_level(log):
    recorder, _ = log

    def embed() -> None:
        with timing.stage("embed"):
            pass

    with timing.stage("answer"):
        worker = threading.Thread(target=embed)
        worker.start()
        worker.join()
    assert {s.name: s.depth for s in recorder.stages} == {
        "start Python, import the command line and settings": 0,
        "embed": 0,
        "answer": 0,
    }


def test_nothing_is_recorded_unless_a_command_asked_for_it(monkeypatch):
    monkeypatch.setattr(timing, "_recording", None)
    with timing.stage("load the chat model"):
        timing.mark("first token shown")
    assert timing._recording is None


def test_the_process_age_is_known_on_linux():
    age = timing.seconds_since_process_start()
    assert age is None or 0 <= age < 24 * 3600
