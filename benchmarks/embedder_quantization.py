"""The default embedder in F16 against a Q8_0 copy: retrieval recall@5 on the dev and val corpora, speed, agreement.

The Q8_0 copy is made with the project's quantizer (`orchestrator compress quantize SRC OUT --type Q8_0`, llama.cpp's
own `llama_model_quantize`) unless --q8 names one. For each model and split the corpus is ingested through the app
into a temporary data folder, and every `docs` question is retrieved (top 5, vector and hybrid) and counted as found
  * by source: a retrieved chunk comes from the question's source file (what benchmarks/retrieval.py counts);
  * by answer: a retrieved chunk contains one of the gold answers (case and spacing ignored), a finer test.
Only totals are printed (val is report-only: no per-question output). Speed is raw llama.cpp embedding of the dev
chunks, the two models taking turns; agreement is the cosine between the two models' vectors of the same chunks.

    python benchmarks/embedder_quantization.py [--q8 PATH] [--rounds 2]
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
sys.path.insert(0, str(Path(__file__).resolve().parent))
# The shared eval folder beside the checkout (/work/main) or beside the worktrees' folder (/work/wt/NAME).
EVAL_DIR = next(
    (
        p / "shared" / "eval"
        for p in (PROJECT_ROOT.parent, PROJECT_ROOT.parent.parent)
        if (p / "shared" / "eval").is_dir()
    ),
    PROJECT_ROOT.parent / "shared" / "eval",
)
K = 5


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def recall(gguf: Path, split: str, data_dir: Path) -> dict:
    """recall@5 by source and by answer, vector and hybrid, for one model on one split."""
    from orchestrator.app import open_knowledge_store
    from orchestrator.config import Settings
    from orchestrator.knowledge.ingest import ingest_paths
    from orchestrator.knowledge.retrieval import HybridRetriever

    base = Settings()
    settings = base.model_copy(
        update={"data_dir": data_dir, "models_dir": base.resolved_models_dir, "embedding_model": str(gguf)}
    )
    store = open_knowledge_store(settings, collection=f"{split}-recall", reset=True)
    ingest_paths([EVAL_DIR / split / "corpus"], store, settings)
    lines = (EVAL_DIR / split / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [q for q in (json.loads(line) for line in lines if line.strip()) if q["kind"] == "docs"]
    result: dict = {"questions": len(questions), "chunks": store.count()}
    for mode in ("vector", "hybrid"):
        retriever = HybridRetriever.from_settings(store, settings, mode=mode, k=K)
        by_source = by_answer = 0
        for question in questions:
            docs = retriever.retrieve_with_scores(question["question"])
            by_source += any(d.metadata.get("file_name") == question["source"] for d in docs)
            answers = [_normal(a) for a in question["answers"]]
            by_answer += any(a in _normal(d.page_content) for d in docs for a in answers)
        result[f"{mode}_by_source"] = by_source / len(questions)
        result[f"{mode}_by_answer"] = by_answer / len(questions)
    return result


def speed_and_agreement(f16: Path, q8: Path, rounds: int) -> dict:
    import numpy as np
    from ingest_throughput import load_raw
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=800, chunk_overlap=120)
    texts = [c for p in sorted((EVAL_DIR / "dev" / "corpus").glob("*")) for c in splitter.split_text(p.read_text())]
    models = {"F16": load_raw(f16, 512, 2), "Q8_0": load_raw(q8, 512, 2)}
    rates: dict[str, list[float]] = {name: [] for name in models}
    vectors = {}
    for _ in range(rounds):
        for name, llama in models.items():
            llama.embed(texts[:4])
            started = time.perf_counter()
            vectors[name] = np.asarray(llama.embed(texts, normalize=True))
            rates[name].append(len(texts) / (time.perf_counter() - started))
    cosine = np.sum(vectors["F16"] * vectors["Q8_0"], axis=1)
    return {
        "chunks": len(texts),
        "chunks_per_s": {name: statistics.median(values) for name, values in rates.items()},
        "cosine_min": float(cosine.min()),
        "cosine_mean": float(cosine.mean()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--f16", type=Path, help="the F16 embedder (default: the configured one)")
    parser.add_argument("--q8", type=Path, help="its Q8_0 copy (default: made now in a temporary folder)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    from orchestrator.config import Settings
    from orchestrator.models import resolve_model

    f16 = args.f16 or resolve_model(Settings().embedding_model, Settings())
    with tempfile.TemporaryDirectory(prefix="orch-q8-") as tmp:
        q8 = args.q8
        if q8 is None:
            from orchestrator.compress.quantize import quantize_gguf

            q8 = quantize_gguf(f16, Path(tmp) / f"{f16.stem.split('.')[0]}.Q8_0.gguf", "Q8_0").path
        results: dict = {"sizes": {"F16": f16.stat().st_size, "Q8_0": q8.stat().st_size}}
        for name, gguf in (("F16", f16), ("Q8_0", q8)):
            for split in ("dev", "val"):
                results[f"{name} {split}"] = recall(gguf, split, Path(tmp) / f"{name}-{split}")
                print(name, split, results[f"{name} {split}"], flush=True)
        results["speed"] = speed_and_agreement(f16, q8, args.rounds)
    print("\n| embedder | split | vector by source | vector by answer | hybrid by source | hybrid by answer |")
    print("|---|---|---|---|---|---|")
    for name in ("F16", "Q8_0"):
        for split in ("dev", "val"):
            r = results[f"{name} {split}"]
            print(
                f"| {name} | {split} ({r['questions']} q) | {r['vector_by_source']:.3f} | {r['vector_by_answer']:.3f} "
                f"| {r['hybrid_by_source']:.3f} | {r['hybrid_by_answer']:.3f} |"
            )
    speed = results["speed"]
    print(
        f"\nraw embedding of {speed['chunks']} dev chunks: F16 {speed['chunks_per_s']['F16']:.1f} chunks/s, "
        f"Q8_0 {speed['chunks_per_s']['Q8_0']:.1f}; cosine F16 vs Q8_0 min {speed['cosine_min']:.4f}, "
        f"mean {speed['cosine_mean']:.4f}; size {results['sizes']['F16'] / 1e6:.1f} MB -> "
        f"{results['sizes']['Q8_0'] / 1e6:.1f} MB"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
