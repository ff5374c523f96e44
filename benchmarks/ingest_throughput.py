"""Ingest throughput through the app against raw llama.cpp embedding of exactly the same chunks.

The corpus is real text put together at run time in a temporary folder (never committed): the dev and
val eval corpora, then the long descriptions of the installed Python packages (their METADATA files,
written as Markdown) until about --chunks chunks. Each round, interleaved so that load from other
processes hits both sides alike:

  * app: `ingest_paths` into a fresh collection (what `orchestrator ingest` runs: parse, split, embed,
    Chroma writes), then the first search, which builds the keyword index. The summary's
    `stage_seconds` says where the time went (the stages overlap, so they may add up to more);
  * raw: llama-cpp-python's `Llama.embed` on the very texts the app embedded (heading path + chunk,
    in the app's order), in one call, for each --raw configuration (n_ubatch:threads).

Rates are chunks per wall-clock second (median over rounds) and per CPU second of this process (less
disturbed by other processes on a shared machine); the ratio is app / best raw configuration.

    python benchmarks/ingest_throughput.py --chunks 3000 --rounds 3 --raw 256:2,512:2,1024:2
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
# The shared eval folder beside the checkout (/work/main) or beside the worktrees' folder (/work/wt/NAME).
EVAL_DIR = next(
    (
        p / "shared" / "eval"
        for p in (PROJECT_ROOT.parent, PROJECT_ROOT.parent.parent)
        if (p / "shared" / "eval").is_dir()
    ),
    PROJECT_ROOT.parent / "shared" / "eval",
)
CHARS_PER_CHUNK = 600  # a rough figure (800-character chunks, 120 overlap, short paragraphs) to size the corpus


def build_corpus(folder: Path, target_chunks: int) -> list[Path]:
    """Copy the eval corpora, then installed packages' descriptions, into `folder` until ~target_chunks."""
    import importlib.metadata

    files: list[Path] = []
    budget = target_chunks * CHARS_PER_CHUNK
    for split in ("dev", "val"):
        for source in sorted((EVAL_DIR / split / "corpus").glob("*")):
            if budget <= 0:
                return files
            target = folder / f"{split}-{source.name}"
            target.write_bytes(source.read_bytes())
            files.append(target)
            budget -= len(source.read_text(encoding="utf-8", errors="replace"))
    for dist in sorted(importlib.metadata.distributions(), key=lambda d: d.metadata["Name"].lower()):
        if budget <= 0:
            break
        body = dist.metadata.get_payload() or ""  # type: ignore[attr-defined]
        if len(body) < 2000:
            continue
        target = folder / f"pkg-{dist.metadata['Name'].lower()}.md"
        target.write_text(body, encoding="utf-8")
        files.append(target)
        budget -= len(body)
    return files


def app_settings(data_dir: Path, threads: int | None):
    from orchestrator.config import Settings

    base = Settings()
    update = {"data_dir": data_dir, "models_dir": base.resolved_models_dir}
    if threads:
        update["n_threads"] = threads
    return base.model_copy(update=update)


def run_app_round(corpus: Path, threads: int | None) -> tuple[dict, list[str]]:
    """One ingest into a fresh data folder; its timings and the texts it embedded, in its order."""
    from orchestrator.app import open_knowledge_store
    from orchestrator.knowledge.ingest import ingest_paths
    from orchestrator.knowledge.retrieval import HybridRetriever
    from orchestrator.knowledge.structure import indexed_text

    with tempfile.TemporaryDirectory(prefix="orch-ingest-bench-") as tmp:
        settings = app_settings(Path(tmp), threads)
        store = open_knowledge_store(settings, collection="ingest-bench", reset=True)
        store.embeddings.embed_query("warm-up")
        cpu = time.process_time()
        summary = ingest_paths([corpus], store, settings)
        cpu = time.process_time() - cpu
        started = time.perf_counter()
        HybridRetriever.from_settings(store, settings).retrieve_with_scores("keyword index probe")
        first_search = time.perf_counter() - started
        metadata, texts = store.metadata_by_id(), store.texts_by_id()
        order = sorted(metadata, key=lambda i: (str(metadata[i]["source"]), int(metadata[i]["chunk_index"])))
        embedded = [indexed_text(texts[i], metadata[i]) for i in order]
    result = {
        "chunks": summary.chunks_added,
        "seconds": summary.seconds,
        "cpu_seconds": cpu,
        "stage_seconds": dict(getattr(summary, "stage_seconds", {}) or {}),
        "first_search_seconds": first_search,
    }
    return result, embedded


def load_raw(gguf: Path, n_ubatch: int, threads: int):
    from orchestrator.llm import import_llama_cpp

    llama_cpp = import_llama_cpp()  # the app's OpenMP wait policy, so both sides run under the same one
    # A BERT batch is one attention block, so n_batch = n_ubatch (llama.cpp encodes a batch in one ubatch).
    return llama_cpp.Llama(
        str(gguf),
        embedding=True,
        n_ctx=max(512, n_ubatch),
        n_batch=n_ubatch,
        n_ubatch=n_ubatch,
        n_threads=threads,
        n_threads_batch=threads,
        flash_attn=True,
        verbose=False,
    )


def time_raw(llama, texts: list[str]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    llama.embed(texts, normalize=True)
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=3000, help="about this many chunks of real text")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--raw", default="256:2,512:2,1024:2", help="raw llama.cpp configurations, n_ubatch:threads")
    parser.add_argument("--threads", type=int, help="ORCH_N_THREADS for the app (default: its thread policy)")
    parser.add_argument("--gguf", type=Path, help="embedding GGUF (default: the configured embedder)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    from orchestrator.config import Settings
    from orchestrator.models import resolve_model

    gguf = args.gguf or resolve_model(Settings().embedding_model, Settings())
    configs = [tuple(int(x) for x in item.split(":")) for item in args.raw.split(",") if item]
    app_runs: list[dict] = []
    raw_runs: dict[str, list[tuple[float, float]]] = {f"n_ubatch={u} threads={t}": [] for u, t in configs}
    with tempfile.TemporaryDirectory(prefix="orch-ingest-corpus-") as tmp:
        corpus = Path(tmp)
        files = build_corpus(corpus, args.chunks)
        raws = {f"n_ubatch={u} threads={t}": load_raw(gguf, u, t) for u, t in configs}
        texts: list[str] = []
        for round_ in range(args.rounds):
            result, texts = run_app_round(corpus, args.threads)
            app_runs.append(result)
            line = f"round {round_ + 1}: app {result['chunks'] / result['seconds']:.1f} chunks/s"
            for label, llama in raws.items():
                llama.embed(texts[:8])  # warm-up
                wall, cpu = time_raw(llama, texts)
                raw_runs[label].append((wall, cpu))
                line += f"; raw {label} {len(texts) / wall:.1f}"
            print(line, flush=True)

    chunks = len(texts)
    tokens = sum(len(next(iter(raws.values())).tokenize(t.encode())) for t in texts)
    app_rate = statistics.median(r["chunks"] / r["seconds"] for r in app_runs)
    app_cpu_rate = statistics.median(r["chunks"] / r["cpu_seconds"] for r in app_runs)
    raw_rates = {label: statistics.median(chunks / wall for wall, _ in runs) for label, runs in raw_runs.items()}
    raw_cpu = {label: statistics.median(chunks / cpu for _, cpu in runs) for label, runs in raw_runs.items()}
    best = max(raw_rates, key=raw_rates.__getitem__)
    print(f"\n{len(files)} files, {chunks} chunks, {tokens / chunks:.0f} tokens per chunk on average; {gguf.name}")
    print("| side | chunks/s (median) | chunks per CPU-second | vs best raw |\n|---|---|---|---|")
    print(f"| app ingest | {app_rate:.1f} | {app_cpu_rate:.1f} | **{app_rate / raw_rates[best]:.2f}x** |")
    for label in raw_rates:
        print(
            f"| raw llama.cpp, {label} | {raw_rates[label]:.1f} | {raw_cpu[label]:.1f} | "
            f"{raw_rates[label] / raw_rates[best]:.2f}x |"
        )
    stages: dict[str, list[float]] = {}
    for run in app_runs:
        for name, seconds in run["stage_seconds"].items():
            stages.setdefault(name, []).append(seconds)
    stages["keyword index (first search)"] = [r["first_search_seconds"] for r in app_runs]
    stages["whole ingest (wall)"] = [r["seconds"] for r in app_runs]
    print("\n| app stage | seconds (median) |\n|---|---|")
    for name, values in stages.items():
        print(f"| {name} | {statistics.median(values):.2f} |")
    if args.json:
        args.json.write_text(
            json.dumps({"chunks": chunks, "tokens": tokens, "app": app_runs, "raw": raw_runs}, indent=1),
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
