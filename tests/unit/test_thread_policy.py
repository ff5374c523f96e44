"""The thread policy's decisions (orchestrator/threads.py), fed made-up CPU figures."""

from __future__ import annotations

import pytest

from orchestrator.threads import (
    CpuSample,
    apply_wait_policy,
    choose_threads,
    choose_wait_policy,
    others_busy_cores,
    others_from_load_average,
    parse_proc_stat,
    passive_waiting,
    physical_core_count,
    start_up_load,
)


@pytest.mark.parametrize(
    ("physical", "logical", "others", "expected"),
    [
        (2, 2, 0.0, 2),  # quiet: every core, spinning is fastest
        (2, 2, 0.3, 2),  # background noise does not count
        (2, 2, 1.0, 1),  # one busy process on 2 cores: one thread, no barrier to spin at
        (2, 2, 2.5, 1),  # overloaded: still one thread
        (4, 4, 1.0, 3),  # the free cores
        (4, 8, 0.0, 4),  # hyperthreads: physical cores only
        (4, 8, 5.0, 3),
        (1, 1, 0.0, 1),
    ],
)
def test_choose_threads(physical, logical, others, expected):
    assert choose_threads(physical, logical, others) == expected


def test_others_busy_excludes_our_own_cpu_time():
    before = CpuSample(busy_s=100.0, total_s=1000.0, own_s=5.0, wall_s=10.0)
    # 1 s of wall time on 2 cores: 2 s of CPU time, all busy, 1.9 s of it ours (our own spinning threads).
    after = CpuSample(busy_s=102.0, total_s=1002.0, own_s=6.9, wall_s=11.0)
    assert others_busy_cores(before, after, cores=2) == pytest.approx(0.1)


def test_others_busy_sees_a_competing_process():
    before = CpuSample(busy_s=0.0, total_s=0.0, own_s=0.0, wall_s=0.0)
    after = CpuSample(busy_s=1.0, total_s=2.0, own_s=0.0, wall_s=1.0)  # one of two cores busy, not us
    others = others_busy_cores(before, after, cores=2)
    assert others == pytest.approx(1.0)
    assert choose_threads(2, 2, others) == 1


def test_empty_interval_gives_no_figure():
    sample = CpuSample(1.0, 2.0, 0.0, 5.0)
    assert others_busy_cores(sample, sample, cores=2) is None


def test_load_average_counts_ourselves():
    assert others_from_load_average(1.0) == 0.0
    assert others_from_load_average(2.2) == pytest.approx(1.2)
    assert others_from_load_average(0.2) == 0.0


def test_proc_stat_sums_only_usable_cpus():
    text = "cpu  30 0 30 60 0 0 0 0 0 0\ncpu0 10 0 10 80 0 0 0 0 0 0\ncpu1 20 0 20 50 10 0 0 0 0 0\nintr 1 2 3\n"
    busy, total = parse_proc_stat(text, [1], ticks_per_s=100)
    assert (busy, total) == (pytest.approx(0.4), pytest.approx(1.0))  # iowait counts as idle
    assert parse_proc_stat(text, [7], ticks_per_s=100) is None


def test_physical_cores_from_cpuinfo():
    cpuinfo = "".join(
        f"processor\t: {n}\nphysical id\t: 0\ncore id\t\t: {n % 2}\n\n" for n in range(4)
    )  # 4 logical CPUs on 2 cores (hyperthreading)
    assert physical_core_count([0, 1, 2, 3], cpuinfo) == 2
    assert physical_core_count([0], cpuinfo) == 1
    assert physical_core_count([0, 1, 2], "no core ids here") == 3


@pytest.mark.parametrize(
    ("others", "passive", "expected"),
    [
        (0.0, True, 2),  # quiet
        (1.0, True, 1),  # one busy process: one thread beat two sleeping ones (58-60 vs 43-47 tok/s)
        (1.6, True, 2),  # the cores are (nearly) full: sleeping threads get a share each
        (5.0, True, 2),
        (5.0, False, 1),  # spinning threads on oversubscribed cores collapse: one thread
    ],
)
def test_choose_threads_by_wait_policy(others, passive, expected):
    assert choose_threads(2, 2, others, passive=passive) == expected


def test_wait_policy_is_passive_only_when_others_fill_every_core():
    assert choose_wait_policy(2, 0.0) is None
    assert choose_wait_policy(2, 1.0) is None
    assert choose_wait_policy(2, 4.5) == "PASSIVE"


def test_wait_policy_set_at_start_up_unless_the_user_or_llama_cpp_came_first():
    environ: dict[str, str] = {}
    assert apply_wait_policy(environ, 2, load_1min=6.0, llama_loaded=False) == "PASSIVE"
    assert passive_waiting(environ)
    quiet: dict[str, str] = {}
    assert apply_wait_policy(quiet, 2, load_1min=1.0, llama_loaded=False) is None  # the load average counts us
    assert not passive_waiting(quiet)
    user = {"OMP_WAIT_POLICY": "active"}
    apply_wait_policy(user, 2, load_1min=6.0, llama_loaded=False)
    assert user == {"OMP_WAIT_POLICY": "active"}
    spin = {"GOMP_SPINCOUNT": "10000"}
    apply_wait_policy(spin, 2, load_1min=6.0, llama_loaded=False)
    assert "OMP_WAIT_POLICY" not in spin
    late: dict[str, str] = {}
    assert apply_wait_policy(late, 2, load_1min=6.0, llama_loaded=True) is None  # OpenMP has read it already
    assert late == {}


class FakeContext:
    def __init__(self):
        self.calls = []

    def set_n_threads(self, n_threads, n_threads_batch):
        self.calls.append((n_threads, n_threads_batch))


class FakeClient:
    def __init__(self, auto: bool, threads: int):
        self._ctx = FakeContext()
        self._orch_auto_threads = auto
        self._orch_threads = threads


def test_a_model_follows_the_policy_unless_threads_were_set(monkeypatch):
    from orchestrator import llm, threads

    class FixedPolicy:
        def threads(self):
            return 1

    monkeypatch.setattr(threads, "policy", lambda: FixedPolicy())
    auto, fixed = FakeClient(auto=True, threads=2), FakeClient(auto=False, threads=2)
    llm.adapt_threads(auto)
    llm.adapt_threads(fixed)
    assert auto._ctx.calls == [(1, 1)] and auto._orch_threads == 1
    assert fixed._ctx.calls == []  # ORCH_N_THREADS: never changed
    llm.adapt_threads(auto)
    assert auto._ctx.calls == [(1, 1)]  # unchanged choice: no call into llama.cpp
    assert llm.load_threads(3) == 3 and llm.load_threads(None) == 1


def test_start_up_load_needs_both_the_average_and_the_snapshot_to_be_high():
    assert start_up_load("5.10 4.90 4.00 7/512 4242\n") == 5.1  # busy now and for the last minute
    assert start_up_load("5.10 4.90 4.00 1/512 4242\n") == 1.0  # the burst is over: only we run
    assert start_up_load("0.40 0.90 1.00 6/512 4242\n") == 0.4  # a passing burst
    assert start_up_load("garbage") >= 0.0
