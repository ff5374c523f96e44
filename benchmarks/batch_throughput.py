"""Batch throughput (questions/min) against calling the chat model directly on the same questions.

Both sides: route forced to chat, temperature 0, the same max_tokens, the same system prompt, the same
loaded model (the direct side calls the llama_cpp.Llama behind the app's chat model with
create_chat_completion and the chat model's own sampling parameters). Runs alternate direct / batch
and the medians are compared. Goal: batch >= 0.95x direct sequential throughput.

Batch with several workers (one process and one model copy each, threads split between them) is
measured separately, worker start-up included, as a batch user would see it.

Usage:
    python benchmarks/batch_throughput.py [--model NAME_OR_PATH] [--questions 12] [--max-tokens 64]
        [--repeats 3] [--workers 1,2] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Generic prompts (not from any eval set) whose greedy answers run to max_tokens or close to it.
QUESTIONS = [
    "Explain in a few sentences why the sky is blue.",
    "Give three tips for writing clear emails.",
    "Describe how a bicycle works.",
    "What makes bread rise?",
    "Write a short poem about the sea.",
    "Why do we have seasons?",
    "How do plants make food from sunlight?",
    "Describe a good morning routine.",
    "What are the benefits of walking every day?",
    "Explain what a computer program is to a child.",
    "Why is sleep important?",
    "How does a refrigerator keep food cold?",
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", default=None, help="Registry name, installed name or .gguf path (default: ORCH_MODEL)."
    )
    parser.add_argument("--questions", type=int, default=12, help=f"How many questions (at most {len(QUESTIONS)}).")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", default="1,2", help="Comma-separated worker counts to measure batch with.")
    parser.add_argument("--json", type=Path, default=None, help="Also write the results here.")
    return parser.parse_args()


def load_settings(model: str | None, max_tokens: int):
    from orchestrator.config import Settings
    from orchestrator.models import resolve_model

    settings = Settings(**({"model": model} if model else {}), temperature=0.0, max_tokens=max_tokens)
    return settings.model_copy(update={"model": str(resolve_model(settings.model, settings))})


def direct_run(app, questions: list[str]) -> tuple[float, list[str], int]:
    """Seconds, answers and completion tokens of create_chat_completion called on each question in turn."""
    from orchestrator.chains.chat import chat_messages
    from orchestrator.llm import count_tokens, llama_client

    chat = app.chat_model
    raw = llama_client(chat)
    params = {key: getattr(chat, key) for key in ("max_tokens", "temperature", "top_p", "top_k", "repeat_penalty")}
    system = app.settings.prompt_text(app.settings.system_prompt_file)
    answers, tokens = [], 0
    started = time.perf_counter()
    for question in questions:
        messages = chat_messages(
            system, [], question, app.settings.n_ctx, app.settings.max_tokens, lambda t: count_tokens(chat, t)
        )
        roles = [{"role": {"system": "system", "human": "user"}[m.type], "content": m.content} for m in messages]
        result = raw.create_chat_completion(messages=roles, **params)
        answers.append(result["choices"][0]["message"]["content"].strip())
        tokens += result["usage"]["completion_tokens"]
    return time.perf_counter() - started, answers, tokens


def batch_run(app, settings, questions: list[str], workers: int) -> tuple[float, list[str], int]:
    """Seconds (run_batch end to end, fsync'd rows included), answers and completion tokens."""
    from orchestrator.batch import Question, read_result_rows, run_batch

    items = [Question(str(i), q) for i, q in enumerate(questions)]
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "out.jsonl"
        started = time.perf_counter()
        run_batch(items, output, settings, route="chat", workers=workers, app=app if workers == 1 else None)
        seconds = time.perf_counter() - started
        rows = read_result_rows(output)
    errors = [r["error"] for r in rows.values() if r["error"]]
    if errors:
        sys.exit(f"batch rows have errors: {errors[:3]}")
    ordered = [rows[str(i)] for i in range(len(questions))]
    return seconds, [r["answer"] for r in ordered], sum(r["completion_tokens"] for r in ordered)


def main() -> None:
    args = parse_args()
    from orchestrator.app import build_app

    settings = load_settings(args.model, args.max_tokens)
    questions = QUESTIONS[: args.questions]
    worker_counts = [int(w) for w in args.workers.split(",") if w.strip()]
    app = build_app(settings)
    app.invoke({"question": "Warm up.", "route": "chat"})  # load the model before timing

    direct, batch = [], {w: [] for w in worker_counts}
    answers: dict = {}
    for repeat in range(args.repeats):
        seconds, direct_answers, direct_tokens = direct_run(app, questions)
        direct.append(seconds)
        answers["direct"] = direct_answers
        for workers in worker_counts:
            seconds, batch_answers, batch_tokens = batch_run(app, settings, questions, workers)
            batch[workers].append(seconds)
            answers[workers] = batch_answers, batch_tokens
        print(
            f"repeat {repeat + 1}: direct {direct[-1]:.1f} s; "
            + "; ".join(f"batch x{w} {batch[w][-1]:.1f} s" for w in worker_counts),
            flush=True,
        )

    per_minute = lambda seconds: 60.0 * len(questions) / seconds  # noqa: E731
    direct_rate = per_minute(statistics.median(direct))
    result = {
        "model": settings.model,
        "questions": len(questions),
        "max_tokens": args.max_tokens,
        "repeats": args.repeats,
        "direct": {
            "seconds": direct,
            "questions_per_minute": round(direct_rate, 2),
            "completion_tokens": direct_tokens,
        },
        "batch": {},
    }
    print(f"\ndirect sequential: {direct_rate:.1f} questions/min ({direct_tokens} tokens per pass)")
    for workers in worker_counts:
        rate = per_minute(statistics.median(batch[workers]))
        batch_answers, batch_tokens = answers[workers]
        same = sum(a == b for a, b in zip(batch_answers, answers["direct"]))
        result["batch"][workers] = {
            "seconds": batch[workers],
            "questions_per_minute": round(rate, 2),
            "ratio_to_direct": round(rate / direct_rate, 3),
            "completion_tokens": batch_tokens,
            "answers_identical_to_direct": same,
        }
        print(
            f"batch, {workers} worker(s): {rate:.1f} questions/min = {rate / direct_rate:.3f}x direct "
            f"({batch_tokens} tokens; {same}/{len(questions)} answers identical to direct)"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
