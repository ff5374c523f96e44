"""Overhead of the application against raw llama-cpp-python, and a cold `orchestrator ask` itemised.

1. Warm: the same question, greedy, through the app's chat path (build_app -> LangChain ChatLlamaCpp ->
   llama-cpp-python) and through llama_cpp.Llama.create_chat_completion directly, with the same system
   prompt, sampling parameters and load parameters. Runs alternate app/raw; medians are compared.
   Goal: generation time per token through the app <= 1.03x raw.
2. Cold: `orchestrator ask` run as a fresh process (wall time), and an instrumented replica of its steps in
   a fresh process: interpreter start, imports, model validation, model load, first token, rest of answer.

Usage:
    python benchmarks/overhead.py [--model NAME_OR_PATH] [--repeats 5] [--max-tokens 128] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

QUESTION = "Explain in a few sentences why the sky is blue."

# Runs in a fresh interpreter: the steps of `orchestrator ask`, timed. Prints one JSON line.
COLD_REPLICA = r"""
import json, sys, time
t0 = time.perf_counter()
import orchestrator.cli  # what the `orchestrator` entry point imports (typer, rich, every command module)
t_cli = time.perf_counter()
from orchestrator.app import build_app
import orchestrator.llm
from langchain_community.chat_models import ChatLlamaCpp  # noqa: F401  imported lazily by the app
import llama_cpp  # noqa: F401
t_imports = time.perf_counter()
from orchestrator.cli.common import load_settings
from orchestrator.models import resolve_model
settings = load_settings()
path = resolve_model(settings.model, settings)
settings = settings.model_copy(update={"model": str(path)})
app = build_app(settings)
t_validate = time.perf_counter()
app.chat_model
t_load = time.perf_counter()
first = None
tokens = 0
for item in app.stream({"question": sys.argv[1], "route": "chat"}):
    if isinstance(item, str):
        tokens += 1
        if first is None:
            first = time.perf_counter()
t_end = time.perf_counter()
print(json.dumps({
    "import_cli_s": t_cli - t0,
    "import_llm_stack_s": t_imports - t_cli,
    "resolve_and_validate_s": t_validate - t_imports,
    "load_model_s": t_load - t_validate,
    "first_token_s": (first or t_end) - t_load,
    "rest_of_answer_s": t_end - (first or t_end),
    "tokens": tokens,
    "in_process_total_s": t_end - t0,
}))
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", default=None, help="Registry name, installed name or .gguf path (default: ORCH_MODEL)."
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cold-repeats", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument("--json", type=Path, default=None, help="Also write the results here.")
    return parser.parse_args()


def timed_stream(items, is_token) -> dict:
    """Time a stream: seconds to first token, seconds from first to last token, tokens, text."""
    start = time.perf_counter()
    first = None
    pieces = []
    for item in items:
        text = is_token(item)
        if text:
            if first is None:
                first = time.perf_counter()
            pieces.append(text)
    end = time.perf_counter()
    first = first or end
    return {
        "ttft_s": first - start,
        "gen_s": end - first,
        "total_s": end - start,
        "tokens": len(pieces),
        "text": "".join(pieces),
    }


def warm_overhead(settings, question: str, repeats: int) -> dict:
    import llama_cpp

    from orchestrator.app import build_app

    app = build_app(settings)
    chat = app.chat_model  # loads the model once, like a REPL session
    params = {key: getattr(chat, key) for key in ("max_tokens", "temperature", "top_p", "top_k", "repeat_penalty")}
    # The raw side loads with the app's effective RoPE settings (0 = the GGUF's own) so that both decode the
    # same tokens; whether the app overrides the model's RoPE is reported separately (it changes quality).
    app_context = chat.client.context_params
    raw = llama_cpp.Llama(
        model_path=settings.model,
        n_ctx=settings.n_ctx,
        n_threads=settings.threads,
        n_batch=settings.n_batch,
        seed=settings.seed,
        verbose=False,
        rope_freq_base=app_context.rope_freq_base,
        rope_freq_scale=app_context.rope_freq_scale,
    )
    messages = [
        {"role": "system", "content": settings.prompt_text(settings.system_prompt_file)},
        {"role": "user", "content": question},
    ]

    def run_app() -> dict:
        # route "chat": the same request as `orchestrator ask --route chat`, no router or retrieval in the way.
        items = app.stream({"question": question, "route": "chat"})
        return timed_stream(items, lambda item: item if isinstance(item, str) else _raise_error(item))

    def run_raw() -> dict:
        chunks = raw.create_chat_completion(messages=messages, stream=True, **params)
        return timed_stream(chunks, lambda chunk: (chunk["choices"][0]["delta"] or {}).get("content") or "")

    run_app(), run_raw()  # warm-up: first-call allocations and page faults
    runs = {"app": [], "raw": []}
    for repeat in range(repeats):
        pair = (("app", run_app), ("raw", run_raw)) if repeat % 2 == 0 else (("raw", run_raw), ("app", run_app))
        for name, run in pair:
            runs[name].append(run())
    summary = summarize_warm(runs, params)
    summary["app_rope_freq_base"] = app_context.rope_freq_base
    summary["gguf_rope_freq_base"] = chat.client.metadata.get("llama.rope.freq_base")
    return summary


def _raise_error(answer) -> str:
    if getattr(answer, "error", None):
        raise SystemExit(f"The app answered with an error: {answer.error}")
    return ""


def per_token_gen(run: dict) -> float:
    # Tokens after the first, over the time after the first: prompt processing is excluded.
    return run["gen_s"] / max(1, run["tokens"] - 1)


def summarize_warm(runs: dict, params: dict) -> dict:
    summary = {"params": params}
    for name, samples in runs.items():
        summary[name] = {
            "tokens": [run["tokens"] for run in samples],
            "gen_s_per_token_median": statistics.median(per_token_gen(run) for run in samples),
            "gen_s_per_token_min": min(per_token_gen(run) for run in samples),
            "gen_s_per_token_all": [per_token_gen(run) for run in samples],
            "ttft_s_median": statistics.median(run["ttft_s"] for run in samples),
            "total_s_median": statistics.median(run["total_s"] for run in samples),
        }
    summary["same_text"] = runs["app"][0]["text"].strip() == runs["raw"][0]["text"].strip()
    summary["generation_time_ratio"] = (
        summary["app"]["gen_s_per_token_median"] / summary["raw"]["gen_s_per_token_median"]
    )
    # On a busy machine the fastest run of each is the least disturbed one (STREAM's best-of rule).
    summary["generation_time_ratio_best"] = (
        summary["app"]["gen_s_per_token_min"] / summary["raw"]["gen_s_per_token_min"]
    )
    summary["ttft_ratio"] = summary["app"]["ttft_s_median"] / summary["raw"]["ttft_s_median"]
    summary["total_time_ratio"] = summary["app"]["total_s_median"] / summary["raw"]["total_s_median"]
    return summary


def cold_ask(env: dict, question: str, repeats: int) -> dict:
    beside_python = Path(sys.executable).with_name("orchestrator")  # the venv's entry point, even off PATH
    command = [str(beside_python) if beside_python.exists() else shutil.which("orchestrator") or "orchestrator", "ask"]
    if "--route" in subprocess.run(command + ["--help"], capture_output=True, text=True, env=env).stdout:
        command += ["--route", "chat"]
    walls, replicas = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        done = subprocess.run(command + [question], capture_output=True, text=True, env=env)
        walls.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"`{' '.join(command)}` failed:\n{done.stderr[-2000:]}")
        started = time.perf_counter()
        replica = subprocess.run(
            [sys.executable, "-c", COLD_REPLICA, question], capture_output=True, text=True, env=env, check=True
        )
        wall = time.perf_counter() - started
        steps = json.loads(replica.stdout.strip().splitlines()[-1])
        steps["interpreter_start_and_exit_s"] = wall - steps["in_process_total_s"]
        steps["wall_s"] = wall
        replicas.append(steps)
    keys = [key for key in replicas[0] if key.endswith("_s")]
    return {
        "command": " ".join(command + [repr(question)]),
        "ask_wall_s_median": statistics.median(walls),
        "ask_wall_s_all": walls,
        "replica_median": {key: statistics.median(step[key] for step in replicas) for key in keys},
    }


def main() -> None:
    args = parse_args()
    from orchestrator.cli.common import load_settings
    from orchestrator.models import resolve_model

    settings = load_settings(model=args.model, temperature=0.0, max_tokens=args.max_tokens)
    path = resolve_model(settings.model, settings)
    settings = settings.model_copy(update={"model": str(path)})
    warm = warm_overhead(settings, args.question, args.repeats)
    env = {**os.environ, "ORCH_MODEL": str(path), "ORCH_TEMPERATURE": "0", "ORCH_MAX_TOKENS": str(args.max_tokens)}
    cold = cold_ask(env, args.question, args.cold_repeats)
    result = {"model": str(path), "threads": settings.threads, "question": args.question, "warm": warm, "cold": cold}
    print_report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


def print_report(result: dict) -> None:
    warm, cold = result["warm"], result["cold"]
    app, raw = warm["app"], warm["raw"]
    print(f"Model {result['model']}, {result['threads']} threads, greedy, params {warm['params']}")
    print(f"Same text from app and raw: {warm['same_text']}; tokens app {app['tokens']} raw {raw['tokens']}")
    print(
        f"RoPE base used by the app: {warm['app_rope_freq_base']} (0 = from the file); the GGUF says "
        f"{warm['gguf_rope_freq_base']}"
    )
    print(
        f"Generation ms/token  app {1000 * app['gen_s_per_token_median']:.2f}  raw {1000 * raw['gen_s_per_token_median']:.2f}"
        f"  ratio {warm['generation_time_ratio']:.3f} (goal <= 1.03)"
    )
    print(
        f"  best of each: app {1000 * app['gen_s_per_token_min']:.2f}  raw {1000 * raw['gen_s_per_token_min']:.2f}"
        f"  ratio {warm['generation_time_ratio_best']:.3f}"
    )
    print(
        f"First token s        app {app['ttft_s_median']:.3f}  raw {raw['ttft_s_median']:.3f}  ratio {warm['ttft_ratio']:.3f}"
    )
    print(
        f"Whole answer s       app {app['total_s_median']:.3f}  raw {raw['total_s_median']:.3f}  ratio {warm['total_time_ratio']:.3f}"
    )
    print(f"Cold `{cold['command']}`: {cold['ask_wall_s_median']:.2f} s wall (median)")
    for key, value in cold["replica_median"].items():
        print(f"  {key:32s} {value:7.3f} s")


if __name__ == "__main__":
    main()
