"""`batch --concurrency N` against `--workers 1`, on a chat-model server that runs requests in parallel.

llama_cpp.server answers one request at a time, so the parallel server here is several of them (one
thread each, the default chat model) behind tests/helpers/parallel_servers.LeastBusyProxy, which sends
each request to the least busy one and records how many it held at once. Both sides run the same
questions through `run_batch` (route forced to chat, temperature 0, the same max_tokens) in one
process; runs alternate and the medians are compared. The answers of both sides must be equal.

Usage:
    python benchmarks/batch_concurrency.py [--servers 2] [--concurrency 8] [--questions 12]
        [--max-tokens 32] [--repeats 2] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.batch_throughput import QUESTIONS  # noqa: E402 - generic prompts, not from any eval set

ALIAS = "smollm2-parallel"


def run_side(questions, settings, output: Path, concurrency: int) -> tuple[float, dict[str, str]]:
    from orchestrator.batch import run_batch

    started = time.perf_counter()
    summary = run_batch(questions, output, settings, route="chat", concurrency=concurrency, overwrite=True)
    seconds = time.perf_counter() - started
    if summary.errors:
        raise SystemExit(f"{summary.errors} questions failed: see {output}")
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    return seconds, {row["id"]: row["answer"] for row in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--questions", type=int, default=12)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", type=Path)
    options = parser.parse_args()

    from orchestrator.batch import read_questions
    from orchestrator.config import Settings
    from orchestrator.models import DEFAULT_CHAT_MODEL, resolve_model
    from tests.helpers.parallel_servers import LeastBusyProxy, start_llama_server

    model = resolve_model(DEFAULT_CHAT_MODEL, Settings())
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        work = Path(folder)
        urls = [
            stack.enter_context(start_llama_server(model, ALIAS, work / f"server{i}.log", threads=1))
            for i in range(options.servers)
        ]
        proxy = stack.enter_context(LeastBusyProxy(urls))
        source = work / "questions.txt"
        source.write_text("\n".join((QUESTIONS * 4)[: options.questions]) + "\n")
        questions = read_questions(source)
        settings = Settings(
            data_dir=work / "data",
            llm_backend="openai",
            openai_base_url=proxy.url,
            openai_model=ALIAS,
            max_tokens=options.max_tokens,
            temperature=0,
        )
        times: dict[str, list[float]] = {"workers 1": [], f"concurrency {options.concurrency}": []}
        answers: dict[str, dict[str, str]] = {}
        in_flight = {}
        for _ in range(options.repeats):
            for name, concurrency in (("workers 1", 1), (f"concurrency {options.concurrency}", options.concurrency)):
                proxy.max_in_flight = 0
                seconds, rows = run_side(questions, settings, work / f"{concurrency}.jsonl", concurrency)
                times[name].append(seconds)
                in_flight[name] = proxy.max_in_flight
                if answers.setdefault(name, rows) != rows:
                    print(f"note: {name} gave other answers on a repeat", file=sys.stderr)
        sides = list(times)
        same = answers[sides[0]] == answers[sides[1]]
        differing = sorted(k for k in answers[sides[0]] if answers[sides[0]][k] != answers[sides[1]].get(k))
        result = {
            "servers": options.servers,
            "questions": len(questions),
            "max_tokens": options.max_tokens,
            "median_seconds": {name: round(statistics.median(values), 2) for name, values in times.items()},
            "runs_seconds": {name: [round(v, 2) for v in values] for name, values in times.items()},
            "max_in_flight": in_flight,
            "speedup": round(statistics.median(times[sides[0]]) / statistics.median(times[sides[1]]), 2),
            "answers_equal": same,
            "differing_ids": differing,
        }
    print(json.dumps(result, indent=2))
    if options.json:
        options.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
