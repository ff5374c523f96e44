"""Speed in one run (issue 17): the app against raw llama-cpp-python's best, quiet and with a busy neighbour.

Reports, as one markdown table:
1. Generation tokens/s (greedy, tokens after the first over the time after the first, so prompt
   processing is excluded): raw llama-cpp-python in several thread / OpenMP wait-policy configurations,
   and the app's chat route with its default thread policy (orchestrator/threads.py). Each measurement
   runs in a fresh process, because OpenMP reads its wait policy once at start-up.
2. The same with one competing busy process (a Python busy loop) that this script starts and stops.
3. Embedding chunks/s (the app's embedder vs raw llama-cpp-python at 1 and all threads), both conditions.
4. Cold `orchestrator ask` wall times (median of N fresh processes) for "Hi" and a plain math question,
   in a temporary data dir holding the sample documents (as after a first `chat`), after one untimed run.

Ratios are the figures of merit: app / best raw configuration in the same condition, and app / raw at
the app's own thread count ("overhead", should stay >= 1/1.03).

Usage (from a checkout, models already pulled):
    PYTHONPATH=. python benchmarks/speed.py [--quick] [--model NAME_OR_PATH] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUESTION = "Explain in a few sentences why the sky is blue."
MATH_QUESTION = "What is 40366/439?"
HI = "Hi"
WAIT_POLICIES = {  # name -> environment for the measuring process
    "spin (OpenMP default)": {},
    "PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
    "GOMP_SPINCOUNT=10000": {"GOMP_SPINCOUNT": "10000"},
}
OPENMP_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "ORCH_N_THREADS")


# --- measuring processes (`speed.py --worker KIND ...`) ----------------------------------------


def timed_tokens(pieces) -> dict:
    """Generation speed of a stream of text pieces: tokens after the first over the time after the first."""
    first = last = None
    count = 0
    for text in pieces:
        if not text:
            continue
        now = time.perf_counter()
        first = first or now
        last = now
        count += 1
    if count < 2:
        return {"tokens": count, "tok_s": 0.0}
    return {"tokens": count, "tok_s": (count - 1) / (last - first)}


def worker_settings(model: str | None):
    from orchestrator.config import Settings
    from orchestrator.models import resolve_model

    settings = Settings(**({"model": model} if model else {}))
    return settings.model_copy(update={"model": str(resolve_model(settings.model, settings))})


def chat_messages(settings) -> list[dict]:
    return [
        {"role": "system", "content": settings.prompt_text(settings.system_prompt_file)},
        {"role": "user", "content": QUESTION},
    ]


def load_raw_llama(settings, threads: int):
    from orchestrator.llm import import_llama_cpp

    llama_cpp = import_llama_cpp()
    return llama_cpp.Llama(
        model_path=settings.model,
        n_ctx=settings.n_ctx,
        n_threads=threads,
        n_threads_batch=threads,
        n_batch=settings.n_batch,
        seed=settings.seed,
        verbose=False,
        rope_freq_base=0.0,
        rope_freq_scale=0.0,
    )  # 0: as the GGUF says, like the app


def app_sampling() -> dict:
    """The sampling settings the app's chat model sends besides temperature (repeat penalty, top-k, top-p).

    Raw runs use them too, so raw and app do the same work per token: llama-cpp-python's own default
    repeat penalty (1.0) skips the penalty pass that the app's (1.1) makes, and changes the text generated.
    """
    from orchestrator.llm import chat_model_class

    fields = chat_model_class().model_fields
    return {name: fields[name].default for name in ("repeat_penalty", "top_k", "top_p")}


def raw_run(client, messages: list[dict], max_tokens: int) -> dict:
    chunks = client.create_chat_completion(
        messages=messages, stream=True, temperature=0.0, max_tokens=max_tokens, **app_sampling()
    )
    return timed_tokens((chunk["choices"][0]["delta"] or {}).get("content") for chunk in chunks)


def llama_build() -> str:
    """How this llama-cpp-python was built, as far as threads go: OpenMP's pool or ggml's own."""
    from orchestrator.llm import import_llama_cpp

    info = import_llama_cpp().llama_print_system_info().decode()
    return "OpenMP thread pool" if "OPENMP = 1" in info else "ggml thread pool (GGML_OPENMP=OFF)"


def worker_generate(kind: str, threads: int, runs: int, max_tokens: int, model: str | None) -> dict:
    """Raw: `runs` generations at `threads`. App: the app's chat route alternated with raw llama-cpp-python
    at the thread count the app's policy chose for that run, in this same process (same OpenMP state),
    so their ratio is the app's overhead."""
    settings = worker_settings(model)
    messages = chat_messages(settings)
    if kind == "raw":
        client = load_raw_llama(settings, threads)
        raw_run(client, messages, max_tokens)  # warm-up: first-call allocations and page faults
        results = [raw_run(client, messages, max_tokens) for _ in range(runs)]
        return {"tok_s": [r["tok_s"] for r in results], "tokens": [r["tokens"] for r in results], "threads": threads}

    from orchestrator.app import build_app
    from orchestrator.llm import llama_client

    # The whole app, chat route (as `ask --route chat`): router skipped, streaming, callbacks and all.
    app = build_app(settings.model_copy(update={"temperature": 0.0, "max_tokens": max_tokens}))
    client = llama_client(app.chat_model)
    raw = load_raw_llama(settings, client._orch_threads)

    def app_run() -> dict:
        items = app.stream({"question": QUESTION, "route": "chat"})
        return timed_tokens(item if isinstance(item, str) else "" for item in items)

    def same_threads_raw_run() -> dict:
        raw._ctx.set_n_threads(client._orch_threads, client._orch_threads)
        return raw_run(raw, messages, max_tokens)

    app_run(), same_threads_raw_run()  # warm-up
    apps, raws, chosen = [], [], []
    for repeat in range(runs):
        pair = (app_run, same_threads_raw_run) if repeat % 2 == 0 else (same_threads_raw_run, app_run)
        for run in pair:
            (apps if run is app_run else raws).append(run())
        chosen.append(client._orch_threads)
    return {
        "tok_s": [r["tok_s"] for r in apps],
        "tokens": [r["tokens"] for r in apps],
        "raw_same_threads_tok_s": [r["tok_s"] for r in raws],
        "threads": statistics.mode(chosen),
        "threads_chosen": chosen,
        "wait_policy": os.environ.get("OMP_WAIT_POLICY", "spin (OpenMP default)")
        if llama_build().startswith("OpenMP")
        else "ggml's polling pool",
    }


def sample_chunks(count: int) -> list[str]:
    from orchestrator.resources import sample_docs_dir

    text = " ".join(
        p.read_text(errors="replace")
        for p in sorted(sample_docs_dir().rglob("*"))
        if p.is_file() and p.suffix in (".md", ".txt")
    )
    words = text.split() or ["lorem"]
    size = 150  # words per chunk, about the ingest chunk size
    return [" ".join(words[(i * size) % len(words) :][:size]) or "lorem" for i in range(count)]


def worker_embed(kind: str, threads: int, runs: int, chunks: int, model: str | None) -> dict:
    from orchestrator.config import Settings
    from orchestrator.llm import embedding_load_options, embeddings_model, import_llama_cpp
    from orchestrator.models import resolve_model

    settings = Settings()
    texts = sample_chunks(chunks)
    if kind == "app":
        embeddings = embeddings_model(settings)
        embed = embeddings.embed_documents
        client = embeddings.client
    else:
        llama_cpp = import_llama_cpp()
        path = resolve_model(settings.embedding_model, settings)
        client = llama_cpp.Llama(str(path), **embedding_load_options(threads), verbose=False)

        def embed(batch):
            return client.embed(batch, normalize=True)

    batch = 16
    embed(texts[:batch])  # warm-up
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        for i in range(0, len(texts), batch):
            embed(texts[i : i + batch])
        rates.append(len(texts) / (time.perf_counter() - start))
    return {"chunks_s": rates, "threads": getattr(client, "_orch_threads", threads)}


# --- the conductor -------------------------------------------------------------------------------


class BusyNeighbour:
    """One competing process spinning on a core while the block runs."""

    def __enter__(self) -> BusyNeighbour:
        self.process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(1.0)  # let it be scheduled (and seen by the load figures)
        return self

    def __exit__(self, *exc_info) -> None:
        self.process.kill()
        self.process.wait()


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """This environment without any thread or OpenMP choice of the caller's, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in OPENMP_VARIABLES}
    here = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [here, env.get("PYTHONPATH")]))
    return {**env, **extra}


def run_worker(args: argparse.Namespace, kind: str, what: str, threads: int, env: dict[str, str]) -> dict:
    command = [
        sys.executable,
        __file__,
        "--worker",
        what,
        "--kind",
        kind,
        "--threads",
        str(threads),
        "--runs",
        str(args.runs),
        "--max-tokens",
        str(args.max_tokens),
        "--chunks",
        str(args.chunks),
    ]
    if args.model:
        command += ["--model", args.model]
    done = subprocess.run(command, capture_output=True, text=True, env=clean_env(env), timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"measuring process failed ({kind} {what}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def cold_data_dir(folder: Path) -> dict[str, str]:
    """A fresh data dir holding the sample documents (as after a first `chat`), using the caller's pulled models."""
    from orchestrator.config import Settings
    from orchestrator.resources import sample_docs_dir

    env = clean_env({"ORCH_DATA_DIR": str(folder), "ORCH_MODELS_DIR": str(Settings().resolved_models_dir)})
    command = [sys.executable, "-m", "orchestrator", "ingest", str(sample_docs_dir())]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"ingesting the sample documents failed:\n{done.stderr[-2000:]}")
    return env


def cold_ask(question: str, repeats: int, env: dict[str, str]) -> list[float]:
    command = [sys.executable, "-m", "orchestrator", "ask", question]
    subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)  # not timed: caches, page cache
    walls = []
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
        walls.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"`orchestrator ask {question!r}` failed:\n{done.stderr[-2000:]}")
    return walls


def raw_configurations(cores: int, openmp: bool) -> list[tuple[str, int, dict[str, str]]]:
    """(label, threads, environment): one thread, and every core under each OpenMP wait policy (ggml's own
    thread pool has no wait policy to set from outside: its workers poll briefly, then sleep)."""
    configurations = [("1 thread", 1, {})]
    if cores > 1 and openmp:
        configurations += [(f"{cores} threads, {name}", cores, env) for name, env in WAIT_POLICIES.items()]
    elif cores > 1:
        configurations.append((f"{cores} threads", cores, {}))
    return configurations


def measure_condition(args: argparse.Namespace, cores: int, openmp: bool) -> dict:
    """Generation: `args.rounds` rounds, each a fresh process per raw configuration and one for the app, in
    an order that alternates between rounds (speed differs from process to process by 10-20% on a VM, so
    one process per configuration is a sample of luck); then embedding, once."""
    result: dict = {"load_before": os.getloadavg()[0], "raw": {}, "raw_embed": {}, "app": {}}
    configurations = raw_configurations(cores, openmp)
    for round_number in range(args.rounds):
        jobs = [(label, "raw", threads, env) for label, threads, env in configurations] + [("app", "app", 0, {})]
        for label, kind, threads, env in jobs if round_number % 2 == 0 else reversed(jobs):
            measured = run_worker(args, kind, "generate", threads, env)
            into = result["app"] if kind == "app" else result["raw"].setdefault(label, {"threads": threads, "env": env})
            merge_runs(into, measured)
    for threads in sorted({1, cores}):
        result["raw_embed"][f"{threads} thread{'s' if threads > 1 else ''}"] = run_worker(
            args, "raw", "embed", threads, {}
        )
    result["app_embed"] = run_worker(args, "app", "embed", 0, {})
    result["load_after"] = os.getloadavg()[0]
    return result


def merge_runs(into: dict, measured: dict) -> None:
    """Add one measuring process's figures to a configuration's: lists are joined, the rest kept per process."""
    for key, value in measured.items():
        if isinstance(value, list):
            into.setdefault(key, []).extend(value)
        else:
            into.setdefault(f"{key}_per_process", []).append(value)
    if "threads_per_process" in into:
        into["threads"] = statistics.mode(into["threads_per_process"])
    if "wait_policy_per_process" in into:
        into["wait_policy"] = statistics.mode(into["wait_policy_per_process"])


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(results: dict) -> str:
    lines = [
        f"Model: {results['model']}; llama-cpp-python with its {results['build']}; {results['cores']} cores; {results['rounds']} processes x {results['runs']} runs of {results['max_tokens']} "
        f"greedy tokens per configuration (medians); load average before/after each condition shown.",
        "",
    ]
    lines += ["| measurement | quiet | one busy process |", "|---|---|---|"]
    quiet, busy = results["quiet"], results["busy"]
    lines.append(
        f"| load average (1 min) before / after | {quiet['load_before']:.2f} / {quiet['load_after']:.2f} | "
        f"{busy['load_before']:.2f} / {busy['load_after']:.2f} |"
    )
    for label in quiet["raw"]:
        lines.append(
            f"| raw llama-cpp-python, {label}: tok/s | {median(quiet['raw'][label]['tok_s']):.1f} | "
            f"{median(busy['raw'][label]['tok_s']):.1f} |"
        )
    summary = {}
    for name, condition in (("quiet", quiet), ("busy", busy)):
        best_label = max(condition["raw"], key=lambda label: median(condition["raw"][label]["tok_s"]))
        best = median(condition["raw"][best_label]["tok_s"])
        app = median(condition["app"]["tok_s"])
        threads = condition["app"]["threads"]
        same_threads = median(condition["app"]["raw_same_threads_tok_s"])
        summary[name] = {
            "best_label": best_label,
            "best": best,
            "app": app,
            "threads": threads,
            "ratio_best": app / best if best else float("nan"),
            # Paired: each app run against the raw run next to it in the same process. Speed differs from
            # process to process, so a ratio of medians over several processes would measure that instead.
            "overhead": median(
                [raw / ours for raw, ours in zip(condition["app"]["raw_same_threads_tok_s"], condition["app"]["tok_s"])]
            ),
            "raw_same_threads": same_threads,
        }
        embed_best_label = max(condition["raw_embed"], key=lambda k: median(condition["raw_embed"][k]["chunks_s"]))
        summary[name]["embed_app"] = median(condition["app_embed"]["chunks_s"])
        summary[name]["embed_best"] = median(condition["raw_embed"][embed_best_label]["chunks_s"])
        summary[name]["embed_best_label"] = embed_best_label
        summary[name]["embed_threads"] = condition["app_embed"]["threads"]
    q, b = summary["quiet"], summary["busy"]
    lines += [
        f"| best raw configuration | {q['best_label']}: {q['best']:.1f} | {b['best_label']}: {b['best']:.1f} |",
        f"| **app** (thread policy chose: {q['threads']} threads, {quiet['app']['wait_policy']} / {b['threads']} threads, "
        f"{busy['app']['wait_policy']}): tok/s | {q['app']:.1f} | {b['app']:.1f} |",
        f"| **app / best raw** (goal >= 0.9) | **{q['ratio_best']:.2f}** | **{b['ratio_best']:.2f}** |",
        f"| raw at the app's thread count, alternated with the app in its process: tok/s | {q['raw_same_threads']:.1f} | {b['raw_same_threads']:.1f} |",
        f"| app overhead: raw / app at the same threads, median of the pairs (goal <= 1.03) | {q['overhead']:.2f} | {b['overhead']:.2f} |",
    ]
    for label in quiet["raw_embed"]:
        lines.append(
            f"| raw embedding, {label}: chunks/s | {median(quiet['raw_embed'][label]['chunks_s']):.1f} | "
            f"{median(busy['raw_embed'][label]['chunks_s']):.1f} |"
        )
    lines += [
        f"| **app embedding** ({q['embed_threads']} / {b['embed_threads']} threads): chunks/s | {q['embed_app']:.1f} | {b['embed_app']:.1f} |",
        f"| **app / best raw embedding** | **{q['embed_app'] / q['embed_best']:.2f}** | **{b['embed_app'] / b['embed_best']:.2f}** |",
    ]
    for question, walls in results["cold"].items():
        goal = "0.8" if question == MATH_QUESTION else "2.5"
        lines.append(
            f"| cold `orchestrator ask {json.dumps(question)}` (sample docs ingested), median of {len(walls)} (goal <= {goal} s) | "
            f"{median(walls):.2f} s | (not measured) |"
        )
    results["summary"] = summary
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="1 run of 48 tokens, 32 chunks, 2 cold asks (about a minute)"
    )
    parser.add_argument("--model", default=None, help="chat model (default: ORCH_MODEL)")
    parser.add_argument("--runs", type=int, default=3, help="generations per measuring process")
    parser.add_argument(
        "--rounds", type=int, default=3, help="fresh processes per generation configuration, alternating order"
    )
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--chunks", type=int, default=64)
    parser.add_argument("--cold-repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None, help="also write every figure here")
    parser.add_argument("--worker", choices=["generate", "embed"], help=argparse.SUPPRESS)
    parser.add_argument("--kind", choices=["app", "raw"], help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.runs, args.rounds, args.max_tokens, args.chunks, args.cold_repeats = 1, 1, 48, 32, 2
    return args


def main() -> None:
    args = parse_args()
    if args.worker == "generate":
        print(json.dumps(worker_generate(args.kind, args.threads, args.runs, args.max_tokens, args.model)))
        return
    if args.worker == "embed":
        print(json.dumps(worker_embed(args.kind, args.threads, args.runs, args.chunks, args.model)))
        return
    from orchestrator.threads import physical_core_count, usable_cpus

    cores = physical_core_count(usable_cpus())
    results = {
        "model": args.model or os.environ.get("ORCH_MODEL", "default"),
        "build": llama_build(),
        "cores": cores,
        "runs": args.runs,
        "rounds": args.rounds,
        "max_tokens": args.max_tokens,
    }
    started = time.perf_counter()
    print("measuring: quiet ...", file=sys.stderr, flush=True)
    results["quiet"] = measure_condition(args, cores, results["build"].startswith("OpenMP"))
    print("measuring: cold asks ...", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="speed-cold-") as folder:
        env = cold_data_dir(Path(folder))
        results["cold"] = {question: cold_ask(question, args.cold_repeats, env) for question in (HI, MATH_QUESTION)}
    print("measuring: one busy process ...", file=sys.stderr, flush=True)
    with BusyNeighbour():
        results["busy"] = measure_condition(args, cores, results["build"].startswith("OpenMP"))
    table = report(results)
    results["elapsed_s"] = time.perf_counter() - started
    print(table)
    print(
        f"\n({results['elapsed_s']:.0f} s; command: PYTHONPATH=. python benchmarks/speed.py{' --quick' if args.quick else ''})"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
