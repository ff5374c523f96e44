"""How many threads llama.cpp gets, decided from what the machine offers right now (issue 17).

The policy, and why (measured with benchmarks/speed.py; 2 cores, SmolLM2-135M Q4_1, tokens/s):

* This llama-cpp-python build runs ggml's threads under OpenMP, whose wait policy (OMP_WAIT_POLICY,
  GOMP_SPINCOUNT) is read once, when the library starts: it cannot follow the machine's load.
  `n_threads` can: llama.cpp takes it per context and `llama_set_n_threads` changes it between calls.
* On a quiet machine spinning threads win by far: 2 threads with OpenMP's default wait (spin, then
  sleep) gave ~95-100 tok/s, the same 2 threads with OMP_WAIT_POLICY=PASSIVE (the old fixed choice)
  ~55, and a single thread ~62. A bounded spin (GOMP_SPINCOUNT=10000) was no better quiet and worse
  busy (13-23), so it is not used.
* With another process busy on the cores, 2 spinning threads collapse (24-39 tok/s: each barrier
  waits for a thread the OS has descheduled), while ONE thread, which has no barrier to wait at,
  kept ~58-60, better than any 2-thread setting.
* With the cores oversubscribed (load average 5-6 on 2 cores, measured here with speed.py), spinning
  is hopeless (2 threads: 2-18 tok/s, GOMP_SPINCOUNT=10000: 4-5) and 2 PASSIVE threads beat one
  thread (45-58 vs 16-38): the scheduler shares CPU time per runnable thread, and a thread that
  sleeps at barriers wastes none of its share.

So, when the process starts (before llama.cpp, hence OpenMP, loads), OpenMP keeps its default wait
policy unless other processes already fill every core, in which case OMP_WAIT_POLICY=PASSIVE is set;
"fill" is judged by the smaller of the 1-minute load average (which lags by a minute) and the runnable
count in /proc/loadavg (a snapshot), so neither a past burst nor a passing one decides alone. Then
before every load and every generation the thread count is re-chosen: all physical cores when nothing
else is running; otherwise the cores the other processes leave free (at least one), or every core for
PASSIVE threads on oversubscribed cores.
What "others" use is measured from /proc/stat (busy time of the CPUs this process may run on) minus
this process's own CPU time over the interval since the last decision, so our own spinning never
counts as load; where /proc/stat is missing the 1-minute load average stands in. An explicit
ORCH_N_THREADS fixes the count, and the user's own OMP_WAIT_POLICY / GOMP_SPINCOUNT are never
overridden.

A build with ggml's own thread pool (CMAKE_ARGS="-DGGML_OPENMP=OFF") polls briefly then sleeps and
could make the wait policy adaptive too; docs/speed.md says what that build costs and whether it
was measured.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass

# Another process using less than this many cores counts as noise: the cores are still "free".
QUIET_MARGIN_CORES = 0.5
# Below this interval a CPU-time sample is too coarse (jiffies are 10 ms): the last figure is reused
# (the first decision waits instead).
MIN_SAMPLE_S = 0.05
# During a long streamed generation, the thread count is re-checked every this many tokens.
RECHECK_EVERY_TOKENS = 16
_USER_WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


@dataclass(frozen=True)
class CpuSample:
    """Busy and total CPU time of the usable CPUs (seconds), this process's CPU time, and when."""

    busy_s: float
    total_s: float
    own_s: float
    wall_s: float


def choose_threads(physical_cores: int, logical_cores: int, others_busy: float, passive: bool = False) -> int:
    """Threads for llama.cpp given the cores, how many cores other processes keep busy, and the wait policy.

    Quiet (others below QUIET_MARGIN_CORES): every physical core (hyperthreads share a core's
    arithmetic units and only add barrier waits). Busy: the cores left free, rounded, at least one,
    except that sleeping (PASSIVE) threads on oversubscribed cores take every core: the scheduler
    shares CPU time per runnable thread, so two threads that sleep at barriers get more of it than one.
    """
    physical_cores = max(1, physical_cores)
    if others_busy < QUIET_MARGIN_CORES:
        return physical_cores
    if passive and others_busy >= logical_cores - QUIET_MARGIN_CORES:
        return physical_cores
    free = max(0.0, logical_cores - others_busy)
    return max(1, min(physical_cores, int(free + 0.5)))


def choose_wait_policy(logical_cores: int, others_busy: float) -> str | None:
    """OMP_WAIT_POLICY for a process starting now: PASSIVE when others already fill every core, else
    None (OpenMP's default: spin, then sleep)."""
    return "PASSIVE" if others_busy >= logical_cores else None


def apply_wait_policy(environ, logical_cores: int, load_1min: float, llama_loaded: bool) -> str | None:
    """Set OMP_WAIT_POLICY in `environ` from the load at start-up, unless the user chose OpenMP's
    waiting themselves or llama.cpp (and so OpenMP) has already started. Returns what was set."""
    if llama_loaded or any(environ.get(name) for name in _USER_WAIT_VARIABLES):
        return None
    policy = choose_wait_policy(logical_cores, others_from_load_average(load_1min))
    if policy:
        environ["OMP_WAIT_POLICY"] = policy
    return policy


def start_up_load(loadavg_text: str | None = None) -> float:
    """Runnable threads now, without a sampling window: the smaller of the 1-minute load average
    (which lags by a minute) and the instantaneous runnable count in /proc/loadavg (a snapshot); both
    count this process. 0 when unknown."""
    try:
        if loadavg_text is None:
            with open("/proc/loadavg", encoding="ascii") as handle:
                loadavg_text = handle.read()
        fields = loadavg_text.split()
        return min(float(fields[0]), float(fields[3].split("/")[0]))
    except (OSError, ValueError, IndexError):
        try:
            return os.getloadavg()[0]
        except (AttributeError, OSError):
            return 0.0


def passive_waiting(environ) -> bool:
    """Whether this process's OpenMP threads sleep at barriers (OMP_WAIT_POLICY=PASSIVE)."""
    return environ.get("OMP_WAIT_POLICY", "").strip().upper() == "PASSIVE"


def others_busy_cores(before: CpuSample, after: CpuSample, cores: int) -> float | None:
    """Cores kept busy by other processes between two samples (None when the interval is empty)."""
    total = after.total_s - before.total_s
    wall = after.wall_s - before.wall_s
    if total <= 0 or wall <= 0:
        return None
    busy_cores = cores * (after.busy_s - before.busy_s) / total
    own_cores = (after.own_s - before.own_s) / wall
    return max(0.0, busy_cores - own_cores)


def others_from_load_average(load_1min: float, own_running: int = 1) -> float:
    """Cores other processes use, from the 1-minute load average (which also counts us)."""
    return max(0.0, load_1min - own_running)


def usable_cpus() -> list[int]:
    """The CPU numbers this process may run on."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def physical_core_count(cpus: list[int], cpuinfo_text: str | None = None) -> int:
    """Distinct (package, core) pairs among `cpus`, from /proc/cpuinfo; len(cpus) when unknown."""
    if cpuinfo_text is None:
        try:
            with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
                cpuinfo_text = handle.read()
        except OSError:
            return max(1, len(cpus))
    wanted, cores, current = set(cpus), set(), {}
    for line in [*cpuinfo_text.splitlines(), ""]:
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("processor", "physical id", "core id"):
            current[key] = value.strip()
        elif not line.strip():
            if current.get("processor", "").isdigit() and int(current["processor"]) in wanted and "core id" in current:
                cores.add((current.get("physical id", "0"), current["core id"]))
            current = {}
    return len(cores) if cores else max(1, len(cpus))


def parse_proc_stat(text: str, cpus: list[int], ticks_per_s: float) -> tuple[float, float] | None:
    """(busy seconds, total seconds) summed over the `cpuN` lines of /proc/stat for `cpus`."""
    wanted = {f"cpu{n}" for n in cpus}
    busy = total = 0.0
    found = False
    for line in text.splitlines():
        fields = line.split()
        if not fields or fields[0] not in wanted:
            continue
        values = [float(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
        idle = values[3] + values[4]
        total += sum(values)
        busy += sum(values) - idle
        found = True
    return (busy / ticks_per_s, total / ticks_per_s) if found else None


def read_sample(cpus: list[int]) -> CpuSample | None:
    """A CpuSample now, or None without /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            text = handle.read()
        ticks = float(os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, AttributeError):
        return None
    parsed = parse_proc_stat(text, cpus, ticks)
    if parsed is None:
        return None
    own = os.times()
    return CpuSample(parsed[0], parsed[1], own.user + own.system, time.monotonic())


class ThreadPolicy:
    """Chooses llama.cpp's thread count from the load measured since the previous choice."""

    def __init__(self) -> None:
        self.cpus = usable_cpus()
        self.logical = len(self.cpus)
        self.physical = physical_core_count(self.cpus)
        self._lock = threading.Lock()
        self._last = read_sample(self.cpus)
        self.last_others: float | None = None
        # OpenMP reads its wait policy once, when llama.cpp loads: chosen here, before that.
        apply_wait_policy(os.environ, self.logical, start_up_load(), llama_loaded="llama_cpp" in sys.modules)

    def others_busy(self) -> float:
        with self._lock:
            before = self._last
            if before is not None and time.monotonic() - before.wall_s < MIN_SAMPLE_S:
                if self.last_others is not None:  # calls in quick succession: the figure is still fresh
                    return self.last_others
                time.sleep(MIN_SAMPLE_S - (time.monotonic() - before.wall_s))
            after = read_sample(self.cpus)
            others = others_busy_cores(before, after, self.logical) if before and after else None
            if after is not None:
                self._last = after
        if others is None:
            try:
                others = others_from_load_average(os.getloadavg()[0])
            except (AttributeError, OSError):
                others = 0.0
        self.last_others = others
        return others

    def threads(self) -> int:
        """The thread count to use now."""
        return choose_threads(self.physical, self.logical, self.others_busy(), passive_waiting(os.environ))


_policy: ThreadPolicy | None = None
_policy_lock = threading.Lock()


def policy() -> ThreadPolicy:
    """The process's ThreadPolicy (created on first use, which starts its first CPU-time sample)."""
    global _policy
    with _policy_lock:
        if _policy is None:
            _policy = ThreadPolicy()
        return _policy
