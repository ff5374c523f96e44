"""The Python API under concurrent callers: wall time of 8 questions (all four routes) run one after
another, from 8 threads, and as 8 gathered coroutines; and how long a math answer takes while a chat
generation holds llama.cpp.

llama.cpp calls take turns (one per process), so concurrency cannot make generation faster; what it
must do is finish every answer, give each the answer it gets alone, and not make LLM-free work wait.

Usage:
    python benchmarks/concurrency.py [--models-dir DIR] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator import Settings, build_app  # noqa: E402

DOC = "The Denver Broncos won Super Bowl 50. Super Bowl 50 was played on February 7, 2016, in Santa Clara, California."
QUESTIONS = [
    {"question": "Say hello in one short sentence.", "route": "chat"},
    {"question": "What is 40366 / 439?"},
    {"question": "Who won Super Bowl 50?", "route": "docs"},
    {"question": "Who is the UN Secretary-General?", "route": "web"},
    {"question": "Name a colour.", "route": "chat"},
    {"question": "What is 15% of 2480?"},
    {"question": "When was Super Bowl 50 played?", "route": "docs"},
    {"question": "What is 2**100?"},
]


def standin_search(query: str) -> list[dict]:
    return [
        {
            "title": "UN",
            "url": "https://www.un.org/sg",
            "snippet": "The Secretary-General of the United Nations is António Guterres.",
        }
    ]


def timed(run) -> tuple[float, list]:
    start = time.perf_counter()
    answers = run()
    return time.perf_counter() - start, answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        docs = Path(folder) / "docs"
        docs.mkdir()
        (docs / "sb50.txt").write_text(DOC)
        settings = Settings(data_dir=Path(folder) / "data", models_dir=args.models_dir, temperature=0.0, max_tokens=64)
        app = build_app(settings, search=standin_search)
        app.ingest([docs])
        alone = [app.invoke(q).answer for q in QUESTIONS]  # warm-up, and the reference answers

        async def gathered():
            return await asyncio.gather(*(app.ainvoke(q) for q in QUESTIONS))

        def threads():
            with ThreadPoolExecutor(max_workers=8) as pool:
                return list(pool.map(app.invoke, QUESTIONS))

        modes = {
            "one after another": lambda: [app.invoke(q) for q in QUESTIONS],
            "8 threads": threads,
            "8 gathered coroutines": lambda: asyncio.run(gathered()),
        }
        print(f"| mode | wall time, median of {args.repeats} (s) | answers equal to alone |")
        print("| --- | --- | --- |")
        for name, run in modes.items():
            times, same = [], True
            for _ in range(args.repeats):
                seconds, answers = timed(run)
                times.append(seconds)
                same &= [a.answer for a in answers] == alone and all(a.error is None for a in answers)
            print(f"| {name} | {statistics.median(times):.2f} | {'8/8' if same else 'NO'} |")

        # A math answer while a long chat generation holds llama.cpp's lock.
        long_chat = {"question": "Write a long story about a lighthouse.", "route": "chat"}
        alone_math = statistics.median(
            timed(lambda: app.invoke("What is 15% of 2480?"))[0] for _ in range(args.repeats)
        )
        during = []
        for _ in range(args.repeats):
            generating = threading.Thread(target=app.invoke, args=(long_chat,))
            generating.start()
            time.sleep(0.5)
            during.append(timed(lambda: app.invoke("What is 15% of 2480?"))[0])
            generating.join()
        print(
            f"\nmath answer alone: {alone_math * 1000:.0f} ms; during a chat generation: {statistics.median(during) * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
