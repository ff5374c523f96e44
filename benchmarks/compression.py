"""Reproduce the compression acceptance table for the default model (SmolLM2-135M-Instruct).

    python benchmarks/compression.py [--workdir DIR] [--steps 100] [--repeats 3]

Produces every variant (F16, llama.cpp quantizations with and without an importance matrix,
magnitude/Wanda sparsity, Block-Influence and naive layer dropping, FFN −25% before and after
distillation, and the same student fine-tuned without the teacher), then measures them all with
`orchestrator bench`'s own functions (orchestrator.bench.run_bench: perplexity and KLD against F16 as
llama-perplexity computes them, on data/calibration/evaluation.txt; generation speed in child
processes). Calibration and training use data/calibration/calibration.txt, which shares no article
with the evaluation text. Variants already in the work directory are reused (outputs are written
atomically, so an existing file is complete). Writes table.md and results.json into the work directory.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from orchestrator.compress.calibration import DEFAULT_CALIBRATION_FILE, DEFAULT_EVALUATION_FILE

QUANT_TYPES = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K")
CALIBRATED_TYPES = ("Q4_K_M", "Q3_K_M", "Q2_K")
SPARSITIES = (0.1, 0.3, 0.5)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def once(path: Path, make) -> Path:
    """Build `path` with make(path) unless a complete file is already there."""
    if not path.is_file():
        log(f"building {path.name}")
        make(path)
    return path


def build_variants(source: Path, work: Path, args) -> tuple[list[tuple[str, Path]], dict]:
    from orchestrator.compress.calibration import calibrate
    from orchestrator.compress.dequantize import dequantize_gguf
    from orchestrator.compress.distill import DistillConfig, distill_gguf
    from orchestrator.compress.gguf_io import read_model
    from orchestrator.compress.prune import prune_gguf
    from orchestrator.compress.quantize import quantize_gguf, save_imatrix, tensor_mix

    notes: dict = {"mix": {}, "prune": {}, "distill": {}}
    f16 = once(work / "f16.gguf", lambda p: dequantize_gguf(source, p, "f16"))
    models = [("F16", f16)]
    # One calibration pass (args.chunks × args.chunk_len tokens) serves the importance matrix and every pruning.
    stats_holder: list = []

    def stats():
        if not stats_holder:
            log("calibrating F16")
            stats_holder.append(calibrate(read_model(f16), DEFAULT_CALIBRATION_FILE, args.chunks, args.chunk_len))
        return stats_holder[0]

    calibration = dict(n_chunks=args.chunks, chunk_len=args.chunk_len)
    imatrix = once(work / "imatrix.gguf", lambda p: save_imatrix(stats(), p, "calibration.txt"))
    for qtype in QUANT_TYPES:
        path = once(work / f"{qtype}.gguf", lambda p, q=qtype: quantize_gguf(f16, p, q))
        models.append((qtype, path))
        notes["mix"][qtype] = tensor_mix(path)[1]
        if qtype in CALIBRATED_TYPES:
            path = once(
                work / f"{qtype}-imatrix.gguf", lambda p, q=qtype: quantize_gguf(f16, p, q, imatrix_file=imatrix)
            )
            models.append((f"{qtype} + imatrix", path))
            notes["mix"][f"{qtype} + imatrix"] = tensor_mix(path)[1]
    for method in ("magnitude", "wanda"):
        for sparsity in SPARSITIES:
            path = once(
                work / f"{method}-{int(sparsity * 100)}.gguf",
                lambda p, m=method, s=sparsity: prune_gguf(
                    f16, p, m, sparsity=s, stats=stats() if m == "wanda" else None, **calibration
                ),
            )
            models.append((f"{method} {int(sparsity * 100)}%", path))
    for drop in (2, 4):
        for naive in (False, True):
            label = "naive (last)" if naive else "block influence"
            path = once(
                work / f"layers-{drop}-{'naive' if naive else 'bi'}.gguf",
                lambda p, d=drop, n=naive: notes["prune"].__setitem__(
                    p.name,
                    prune_gguf(f16, p, "layers", drop=d, naive=n, stats=None if n else stats(), **calibration).details,
                ),
            )
            models.append((f"layers −{drop}, {label}", path))
    ffn = once(work / "ffn25.gguf", lambda p: prune_gguf(f16, p, "ffn", ratio=0.25, stats=stats(), **calibration))
    models.append(("FFN −25%", ffn))
    if args.steps > 0:
        base = dict(steps=args.steps, batch=args.batch, seq_len=args.seq_len, lr=args.lr, threads=args.train_threads)
        runs = {
            # Hinton's τ² weighting folded into β: 0.5·τ² with τ = 2 (see orchestrator/compress/distill.py).
            "FFN −25% + distillation (KD)": (
                "ffn25-kd.gguf",
                DistillConfig(alpha=0.5, beta=2.0, temperature=2.0, **base),
            ),
            "FFN −25% + fine-tuning (β=0)": (
                "ffn25-ft.gguf",
                DistillConfig(alpha=1.0, beta=0.0, temperature=2.0, **base),
            ),
        }
        for label, (filename, config) in runs.items():
            path = once(
                work / filename,
                lambda p, c=config, name=label: notes["distill"].__setitem__(
                    name,
                    distill_gguf(
                        f16,
                        ffn,
                        p,
                        DEFAULT_CALIBRATION_FILE,
                        c,
                        lambda stage, done, total: (
                            stage == "Distilling"
                            and done
                            and (10 * done) % total == 0
                            and log(f"{name}: {done:,}/{total:,} tokens")
                        ),
                    ).summary(),
                ),
            )
            models.append((label, path))
    return models, notes


def markdown_table(report) -> str:
    rows = [
        "| Variant | Size (MB) | Generation tok/s | PPL | KLD vs F16 | Same top token |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for result in report.models:
        quality = result.quality
        speed = result.generation_tokens_per_second
        rows.append(
            f"| {result.name} | {result.footprint.size_bytes / 1e6:.1f} | {speed.median:.1f} | "
            f"{quality.perplexity:.2f} | {quality.kld_mean:.4f} | {quality.same_top_fraction:.1%} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/orchestrator-compression-bench"))
    parser.add_argument("--source", type=Path, help="Source GGUF (default: the registry's default chat model).")
    parser.add_argument("--chunks", type=int, default=8, help="Calibration chunks (imatrix and pruning).")
    parser.add_argument("--chunk-len", type=int, default=256, help="Tokens per calibration chunk.")
    parser.add_argument("--steps", type=int, default=100, help="Distillation steps (0 skips distillation).")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--train-threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="Speed repeats per model.")
    parser.add_argument("--eval-chunks", type=int, default=8, help="Perplexity windows of 512 tokens.")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads for the measurements.")
    args = parser.parse_args()

    from orchestrator.bench import BenchOptions, run_bench
    from orchestrator.config import Settings
    from orchestrator.models import DEFAULT_CHAT_MODEL, resolve_model

    args.workdir.mkdir(parents=True, exist_ok=True)
    source = args.source or resolve_model(DEFAULT_CHAT_MODEL, Settings())
    started = time.time()
    models, notes = build_variants(Path(source), args.workdir, args)
    log(f"variants ready after {time.time() - started:.0f} s; measuring")
    options = BenchOptions(repeats=args.repeats, max_chunks=args.eval_chunks, n_threads=args.threads)
    text = DEFAULT_EVALUATION_FILE.read_text(encoding="utf-8")
    report = run_bench(
        models,
        text,
        base=models[0],
        options=options,
        command=" ".join(sys.argv),
        text_path=str(DEFAULT_EVALUATION_FILE),
        progress=lambda stage, done, total: log(f"{stage} ({done}/{total})"),
    )
    table = markdown_table(report)
    (args.workdir / "table.md").write_text(table + "\n", encoding="utf-8")
    (args.workdir / "results.json").write_text(
        json.dumps({"report": report.to_dict(), "notes": notes}, indent=1, default=str), encoding="utf-8"
    )
    print(table)
    print("\nPer-tensor quantization mix:")
    for name, mix in notes["mix"].items():
        print(f"- {name}: " + "; ".join(f"{role} {dict(types)}" for role, types in sorted(mix.items())))
    for label, summary in notes["distill"].items():
        print(f"\n{label}:\n{summary}")
    for name, details in notes["prune"].items():
        print(f"\n{name}: {details}")
    log(f"done in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
