"""Knowledge-base benchmarks: retrieval quality, relevance-score separation, latency and ingest throughput.

    python benchmarks/retrieval.py recall   [--eval-dir ../shared/eval/dev]   # recall@5 + score separation
    python benchmarks/retrieval.py latency  [--chunks 10000 --queries 200]     # p50/p95 incl. query embedding
    python benchmarks/retrieval.py ingest   [--torch-python PY --torch-model-dir DIR]  # chunks/s, dev corpus
    python benchmarks/retrieval.py all

The embedding model is the configured one (ORCH_EMBEDDING_MODEL, default all-minilm-l6-v2, pulled on
first use). Everything is written to a temporary data directory, never to the user's collections.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

DEFAULT_EVAL_DIR = PROJECT_ROOT.parent / "shared" / "eval" / "dev"
RECALL_K = 5
MODES = ("vector", "bm25", "hybrid")


def _settings(data_dir: Path):
    """The user's settings (models dir included), with data written to `data_dir`."""
    from orchestrator.config import Settings

    base = Settings()
    return base.model_copy(update={"data_dir": data_dir, "models_dir": base.resolved_models_dir})


def _open(settings, collection: str, reset: bool = True):
    from orchestrator.app import open_knowledge_store

    return open_knowledge_store(settings, collection=collection, reset=reset)


def _questions(eval_dir: Path) -> list[dict]:
    with (eval_dir / "questions.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile on sorted data (q in 0..100)."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


# --------------------------------------------------------------------------- recall and separation


def run_recall(eval_dir: Path, workdir: Path) -> dict:
    from orchestrator.knowledge.ingest import ingest_paths
    from orchestrator.knowledge.retrieval import HybridRetriever

    settings = _settings(workdir)
    store = _open(settings, "dev-eval", reset=False)  # incremental: a kept --data-dir re-embeds nothing
    summary = ingest_paths([eval_dir / "corpus"], store, settings)
    questions = _questions(eval_dir)
    docs = [q for q in questions if q["kind"] == "docs"]
    unanswerable = [q for q in questions if q["kind"] == "unanswerable"]

    recall = {}
    misses: dict[str, list[str]] = {}
    for mode in MODES:
        retriever = HybridRetriever.from_settings(store, settings, mode=mode, k=RECALL_K)
        hits = 0
        misses[mode] = []
        for question in docs:
            found = {d.metadata["file_name"] for d in retriever.retrieve_with_scores(question["question"])}
            if question["source"] in found:
                hits += 1
            else:
                misses[mode].append(question["id"])
        recall[mode] = hits / len(docs)

    # The router's view: the best relevance score among the chunks it would get (top_k, hybrid),
    # next to the best plain cosine, to show what the coverage term adds.
    retriever = HybridRetriever.from_settings(store, settings)
    top_scores: dict[str, dict[str, list[float]]] = {"score": {}, "cosine": {}}
    for kind, group in (("docs", docs), ("unanswerable", unanswerable)):
        results = [retriever.retrieve_with_scores(q["question"]) for q in group]
        for key in top_scores:
            top_scores[key][kind] = [max((max(d.metadata[key], 0.0) for d in r), default=0.0) for r in results]
    return {
        "chunks": summary.chunks_total,
        "questions": {"docs": len(docs), "unanswerable": len(unanswerable)},
        "recall_at_5": recall,
        "misses": misses,
        "top_scores": top_scores,
        "top_k": settings.top_k,
    }


def print_recall(result: dict) -> None:
    print(
        f"\nrecall@{RECALL_K} of the gold source, {result['questions']['docs']} docs questions, {result['chunks']} chunks"
    )
    print("| retrieval | recall@5 |\n|---|---|")
    for mode in MODES:
        print(f"| {mode} | {result['recall_at_5'][mode]:.3f} |")
    for mode in MODES:
        print(f"misses ({mode}): {', '.join(result['misses'][mode]) or 'none'}")
    for key, scores in result["top_scores"].items():
        print(f"\nBest `{key}` among the top_k={result['top_k']} hybrid chunks")
        print("| questions | n | min | p25 | median | p75 | max |\n|---|---|---|---|---|---|---|")
        for kind, values in scores.items():
            row = [
                min(values),
                _percentile(values, 25),
                statistics.median(values),
                _percentile(values, 75),
                max(values),
            ]
            print(f"| {kind} | {len(values)} | " + " | ".join(f"{v:.3f}" for v in row) + " |")
        print(f"\n| threshold on `{key}` | unanswerable refused | docs refused (false) |\n|---|---|---|")
        for step in range(15, 75, 5):
            threshold = step / 100
            refused_unk = sum(v < threshold for v in scores["unanswerable"]) / len(scores["unanswerable"])
            refused_docs = sum(v < threshold for v in scores["docs"]) / len(scores["docs"])
            print(f"| {threshold:.2f} | {refused_unk:.0%} | {refused_docs:.0%} |")


# --------------------------------------------------------------------------- latency at ~10k chunks


class _PrecomputedEmbeddings:
    """Documents get precomputed vectors (so 10k chunks need not be embedded); queries use the real model."""

    def __init__(self, real, vectors: dict[str, list[float]]):
        self.real = real
        self.vectors = vectors

    def embed_documents(self, texts):
        return [self.vectors[text] for text in texts]

    def embed_query(self, text):
        return self.real.embed_query(text)


class _MemoQueryEmbeddings(_PrecomputedEmbeddings):
    """Embeds each distinct query once, so timings show the search without the embedding."""

    def __init__(self, inner: _PrecomputedEmbeddings):
        super().__init__(inner.real, inner.vectors)
        self.cache: dict[str, list[float]] = {}

    def embed_query(self, text):
        if text not in self.cache:
            self.cache[text] = self.real.embed_query(text)
        return self.cache[text]


def _synthetic_chunks(corpus_dir: Path, count: int, seed: int = 0) -> list[str]:
    """Chunks of 4-8 corpus sentences drawn at random: realistic vocabulary and length, all distinct."""
    import re

    sentences = []
    for path in sorted(corpus_dir.glob("*.txt")):
        sentences += [
            s.strip() for s in re.split(r"(?<=[.!?])\s+", path.read_text(encoding="utf-8")) if len(s.strip()) > 20
        ]
    rng = random.Random(seed)
    chunks = set()
    while len(chunks) < count:
        chunks.add(" ".join(rng.sample(sentences, rng.randint(4, 8))))
    return sorted(chunks)


def _synthetic_vectors(real, chunks: list[str], base: int, seed: int = 0) -> dict[str, list[float]]:
    """Real embeddings for `base` chunks; the rest are noisy mixtures of two of them (unit length).

    Embedding 10k chunks for real would take minutes on a small CPU and does not change how long
    an HNSW search or a BM25 scoring takes, which is what this benchmark measures.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    real_vectors = np.array(real.embed_documents(chunks[:base]), dtype=np.float32)
    vectors = {text: vector.tolist() for text, vector in zip(chunks[:base], real_vectors)}
    for text in chunks[base:]:
        a, b = real_vectors[rng.integers(base, size=2)]
        mixed = a * rng.uniform(0.3, 0.7) + b * rng.uniform(0.3, 0.7) + rng.normal(0, 0.02, a.shape)
        vectors[text] = (mixed / np.linalg.norm(mixed)).tolist()
    return vectors


def run_latency(eval_dir: Path, workdir: Path, chunks: int, queries: int, base: int) -> dict:
    from orchestrator.knowledge.retrieval import HybridRetriever
    from orchestrator.knowledge.store import open_store

    settings = _settings(workdir)
    real_store = _open(settings, "latency-probe")
    texts = _synthetic_chunks(eval_dir / "corpus", chunks)
    embeddings = _PrecomputedEmbeddings(real_store.embeddings, _synthetic_vectors(real_store.embeddings, texts, base))
    store = open_store(settings, embeddings, real_store.model_id, "latency", reset=True)
    started = time.perf_counter()
    for start in range(0, len(texts), 500):
        batch = texts[start : start + 500]
        store.add(
            batch,
            [{"source": "synthetic", "file_name": "synthetic"}] * len(batch),
            [f"s{start + i}" for i in range(len(batch))],
        )
    load_seconds = time.perf_counter() - started

    questions = [q["question"] for q in _questions(eval_dir) if q["kind"] in ("docs", "unanswerable")]
    asked = [questions[i % len(questions)] for i in range(queries)]
    result: dict = {"chunks": store.count(), "queries": queries, "load_seconds": load_seconds}
    retrievers = {mode: HybridRetriever.from_settings(store, settings, mode=mode) for mode in MODES}
    # The same hybrid search with the query vector already known: the cost of search alone.
    memo = _MemoQueryEmbeddings(embeddings)
    for question in set(asked):
        memo.embed_query(question)
    memo_store = open_store(settings, memo, real_store.model_id, "latency")
    retrievers["hybrid_cached_query"] = HybridRetriever.from_settings(memo_store, settings)
    for mode, retriever in retrievers.items():
        started = time.perf_counter()
        retriever.retrieve_with_scores(asked[0])  # the first call builds (or loads) the BM25 index
        result[f"{mode}_first_call_s"] = time.perf_counter() - started
    # Modes take turns on each question, so a burst of load on the machine hits them all alike.
    # CPU time (all threads of this process) is reported too: on a shared machine it is far less
    # disturbed by other processes than wall-clock time.
    wall: dict[str, list[float]] = {name: [] for name in (*retrievers, "query_embedding")}
    cpu: dict[str, list[float]] = {name: [] for name in wall}
    calls = {mode: retriever.retrieve_with_scores for mode, retriever in retrievers.items()}
    calls["query_embedding"] = embeddings.embed_query
    for question in asked:
        for name, call in calls.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            call(question)
            wall[name].append((time.perf_counter() - started) * 1000)
            cpu[name].append((time.process_time() - started_cpu) * 1000)
    for name in wall:
        result[name] = {
            "p50_ms": _percentile(wall[name], 50),
            "p95_ms": _percentile(wall[name], 95),
            "cpu_p50_ms": _percentile(cpu[name], 50),
            "cpu_p95_ms": _percentile(cpu[name], 95),
        }
    return result


def print_latency(result: dict) -> None:
    print(f"\nRetrieval latency, {result['chunks']} chunks, {result['queries']} queries, query embedding included")
    print("| retrieval | p50 ms | p95 ms | CPU p50 ms | CPU p95 ms | first call s |\n|---|---|---|---|---|---|")
    for name in (*MODES, "hybrid_cached_query", "query_embedding"):
        row = result[name]
        first = f"{result[f'{name}_first_call_s']:.2f}" if f"{name}_first_call_s" in result else ""
        label = {
            "query_embedding": "(query embedding alone)",
            "hybrid_cached_query": "hybrid, query vector cached",
        }.get(name, name)
        print(
            f"| {label} | {row['p50_ms']:.1f} | {row['p95_ms']:.1f} | {row['cpu_p50_ms']:.1f} | {row['cpu_p95_ms']:.1f} | {first} |"
        )


# --------------------------------------------------------------------------- ingest throughput


def run_ingest(eval_dir: Path, workdir: Path, torch_python: str | None, torch_model_dir: str | None) -> dict:
    """Chunks/s of a full ingest (split + embed + Chroma writes) of the dev corpus into a fresh collection."""
    from orchestrator.knowledge.ingest import ingest_paths

    settings = _settings(workdir)
    store = _open(settings, "ingest-bench")
    summary = ingest_paths([eval_dir / "corpus"], store, settings)
    result = {
        "chunks": summary.chunks_added,
        "seconds": summary.seconds,
        "chunks_per_s": summary.chunks_added / summary.seconds,
        "threads": settings.threads,
    }
    started = time.perf_counter()
    again = ingest_paths([eval_dir / "corpus"], store, settings)
    result["reingest_seconds"] = time.perf_counter() - started
    result["reingest_added"] = again.chunks_added
    texts = [text for _, text in sorted(store.texts_by_id().items())]
    started = time.perf_counter()
    store.embeddings.embed_documents(texts)
    result["embed_only_chunks_per_s"] = len(texts) / (time.perf_counter() - started)
    if torch_python and torch_model_dir:
        result["sentence_transformers_chunks_per_s"] = _sentence_transformers_rate(
            texts, torch_python, torch_model_dir, settings.threads
        )
    return result


# Runs in a separate interpreter that has torch + sentence-transformers (the app's venv has neither).
_SENTENCE_TRANSFORMERS_SCRIPT = """
import json, sys, time, torch
from sentence_transformers import SentenceTransformer
torch.set_num_threads(int(sys.argv[3]))
texts = json.load(open(sys.argv[2], encoding="utf-8"))
model = SentenceTransformer(sys.argv[1], device="cpu")
model.encode(texts[:8])  # warm-up, like the llama.cpp model that is already loaded
started = time.perf_counter()
model.encode(texts, batch_size=32)
print(len(texts) / (time.perf_counter() - started))
"""


def _sentence_transformers_rate(texts: list[str], python: str, model_dir: str, threads: int) -> float:
    """The same chunks through sentence-transformers (torch) in another interpreter; chunks/s."""
    import os
    import subprocess

    with tempfile.TemporaryDirectory() as tmp:
        texts_file = Path(tmp) / "texts.json"
        texts_file.write_text(json.dumps(texts), encoding="utf-8")
        output = subprocess.run(
            [python, "-c", _SENTENCE_TRANSFORMERS_SCRIPT, model_dir, str(texts_file), str(threads)],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
    return float(output.stdout.strip().splitlines()[-1])


def print_ingest(result: dict) -> None:
    print(
        f"\nIngest of the dev corpus: {result['chunks']} chunks in {result['seconds']:.1f} s = {result['chunks_per_s']:.1f} chunks/s"
    )
    print(
        f"Embedding alone, llama.cpp GGUF ({result['threads']} threads): {result['embed_only_chunks_per_s']:.1f} chunks/s"
    )
    if result.get("sentence_transformers_chunks_per_s"):
        torch_rate = result["sentence_transformers_chunks_per_s"]
        print(f"sentence-transformers (torch), same chunks: {torch_rate:.1f} chunks/s")
        print(
            f"ratio llama.cpp / torch: ingest {result['chunks_per_s'] / torch_rate:.2f}x, "
            f"embedding alone {result['embed_only_chunks_per_s'] / torch_rate:.2f}x"
        )
    print(f"Re-ingest (nothing changed): {result['reingest_seconds']:.2f} s, {result['reingest_added']} chunks added")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("recall", "latency", "ingest", "all"))
    parser.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL_DIR)
    parser.add_argument("--chunks", type=int, default=10_000, help="latency: synthetic chunks in the collection")
    parser.add_argument("--queries", type=int, default=200, help="latency: timed questions per mode")
    parser.add_argument("--base", type=int, default=300, help="latency: chunks embedded for real")
    parser.add_argument("--torch-python", help="ingest: a python with torch + sentence-transformers, for comparison")
    parser.add_argument(
        "--torch-model-dir", help="ingest: the all-MiniLM-L6-v2 folder (safetensors) for that comparison"
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="keep the benchmark collections here (re-runs skip embedding); default: a temp dir",
    )
    args = parser.parse_args(argv)

    results = {}
    with tempfile.TemporaryDirectory(prefix="orch-bench-") as tmp:
        workdir = args.data_dir or Path(tmp)
        if args.what in ("recall", "all"):
            results["recall"] = run_recall(args.eval_dir, workdir)
            print_recall(results["recall"])
        if args.what in ("ingest", "all"):
            results["ingest"] = run_ingest(args.eval_dir, workdir, args.torch_python, args.torch_model_dir)
            print_ingest(results["ingest"])
        if args.what in ("latency", "all"):
            results["latency"] = run_latency(args.eval_dir, workdir, args.chunks, args.queries, args.base)
            print_latency(results["latency"])
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
