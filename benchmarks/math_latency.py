"""Latency of the math route without any LLM: detect_math + solve, after the SymPy worker is warm.

    python benchmarks/math_latency.py [--rounds 20] [--questions ../shared/eval/dev/questions.jsonl]

Prints the worker start-up time, then p50/p95/max per group of questions and overall.
The issue's goal: p50 < 100 ms for plain expressions after load.
With --questions (JSON lines with `kind`, `question`, `answers`), also scores the `math` questions
with `equivalent` and counts other questions wrongly detected as math.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator.math_equivalence import equivalent  # noqa: E402
from orchestrator.tools.math import detect_math, shutdown_worker, solve, warm_up  # noqa: E402

# Templates get fresh random operands every round, so SymPy's cache cannot answer from memory.
GROUPS: dict[str, list[str]] = {
    "arithmetic": [
        "What is {big} / {small}?",
        "What is {big} divided by {small}?",
        "What is {small} times {big}?",
        "What is {big} plus {big2}?",
        "What is {small} minus {big}?",
        "What is 2**{small}?",
        "{a}^{b}",
        "What is {a}% of {big}?",
        "What is the square root of {big}?",
        "What is {a} factorial?",
    ],
    "symbolic": [
        "Solve x**2 - {a}*x + {b} = 0 for x.",
        "Differentiate x**{a} * sin({b}*x) with respect to x",
        "Simplify (x**2 - {a2})/(x - {a}).",
        "factor x^2-{a2}",
        "limit of sin({a}*x)/x as x approaches 0",
    ],
    "integral": ["Integrate x**{a}*exp(x) with respect to x.", "integrate x^{a} from 0 to {b}"],
}


def fill(template: str, rng: random.Random) -> str:
    a = rng.randint(2, 9)
    return template.format(
        a=a,
        a2=a * a,
        b=rng.randint(2, 9),
        small=rng.randint(2, 999),
        big=rng.randint(1000, 99999),
        big2=rng.randint(1000, 99999),
    )


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation), in the same unit as the values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


def time_question(question: str) -> tuple[float, float]:
    """Seconds for detect_math alone and for detect_math + solve."""
    started = time.perf_counter()
    problem = detect_math(question)
    detected = time.perf_counter()
    if problem is None:
        raise SystemExit(f"not detected as math: {question!r}")
    result = solve(problem)
    finished = time.perf_counter()
    if result.error:
        raise SystemExit(f"{question!r} failed: {result.error}")
    return detected - started, finished - started


def score_questions(path: Path) -> None:
    """Exact-answer rate on `math` questions and false detections on every other kind."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    math_rows = [row for row in rows if row["kind"] == "math"]
    right = 0
    for row in math_rows:
        problem = detect_math(row["question"])
        answer = solve(problem).answer if problem else ""
        if problem and equivalent(answer, row["answers"]):
            right += 1
        else:
            print(f"  wrong: {row['question']!r} -> {answer!r} (gold {row['answers']})")
    false_positives = [row for row in rows if row["kind"] != "math" and detect_math(row["question"])]
    for row in false_positives:
        print(f"  detected as math: {row['question']!r} ({row['kind']})")
    others = len(rows) - len(math_rows)
    print(f"math questions exactly right: {right}/{len(math_rows)} ({100 * right / max(1, len(math_rows)):.1f}%)")
    print(f"other questions detected as math: {len(false_positives)}/{others}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="Timed passes over every question.")
    parser.add_argument("--questions", type=Path, help="Also score a questions.jsonl file (see above).")
    args = parser.parse_args()

    started = time.perf_counter()
    warm_up()
    startup_s = time.perf_counter() - started
    rng = random.Random(0)
    for templates in GROUPS.values():  # untimed pass: SymPy's lazy imports
        for template in templates:
            time_question(fill(template, rng))

    print(f"worker start-up (import SymPy in the worker): {startup_s * 1000:.0f} ms")
    print(f"{'group':<12}{'n':>6}{'detect p50':>12}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}")
    everything: list[float] = []
    plain: list[float] = []
    for group, templates in GROUPS.items():
        detect_times, total_times = [], []
        for _ in range(args.rounds):
            for template in templates:
                detect_s, total_s = time_question(fill(template, rng))
                detect_times.append(detect_s * 1000)
                total_times.append(total_s * 1000)
        everything += total_times
        if group == "arithmetic":
            plain = total_times
        print(
            f"{group:<12}{len(total_times):>6}{statistics.median(detect_times):>12.2f}"
            f"{statistics.median(total_times):>10.1f}{percentile(total_times, 0.95):>10.1f}"
            f"{max(total_times):>10.1f}"
        )
    print(
        f"{'all':<12}{len(everything):>6}{'':>12}{statistics.median(everything):>10.1f}"
        f"{percentile(everything, 0.95):>10.1f}{max(everything):>10.1f}"
    )
    goal = "met" if statistics.median(plain) < 100 else "NOT met"
    print(f"goal p50 < 100 ms for plain expressions: {goal} ({statistics.median(plain):.1f} ms)")
    if args.questions:
        score_questions(args.questions)
    shutdown_worker()


if __name__ == "__main__":
    main()
