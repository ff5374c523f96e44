"""`orchestrator compress ...`: offline GGUF-in, GGUF-out compression steps.

SRC is a model name or a .gguf path; OUT is a bare name (written into the models directory, where
`ask`, `chat` and `bench` find it by that name) or a path. An existing OUT is replaced only with --force.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from orchestrator.cli.common import console, friendly_errors, load_settings, progress_display, shown
from orchestrator.errors import OrchestratorError

compress_app = typer.Typer(
    help="Offline compression: dequantize, quantize (with calibration), imatrix, prune and distill GGUF models.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the `compress` command group to the main CLI."""
    app.add_typer(compress_app, name="compress")


FORCE_HELP = "Replace OUT if it exists (it is never replaced silently)."


def _target(out: str, settings, force: bool) -> Path:
    """Where OUT is written, refused before any work if it would replace a model without --force."""
    from orchestrator.compress.gguf_io import check_output_free, resolve_output

    target = resolve_output(out, settings.resolved_models_dir)
    check_output_free(target, settings, force)
    return target


def _paths(src: str, out: str, settings, force: bool) -> tuple[Path, Path]:
    from orchestrator.models import resolve_model

    target = _target(out, settings, force)
    with progress_display() as progress:
        source = resolve_model(src, settings, progress)
    return source, target


def _size(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.1f} MB"


def _done(source: Path, target: Path, extra: str = "") -> None:
    console.print(f"Wrote [bold]{target}[/] ({_size(target)}; source {_size(source)}). {extra}".rstrip())


@compress_app.command()
@friendly_errors
def dequantize(
    src: str = typer.Argument(..., help="Model name or .gguf path."),
    out: str = typer.Argument(..., help="Output model name (into the models directory) or .gguf path."),
    type_: str = typer.Option("f16", "--type", help="f16 or f32."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
) -> None:
    """Dequantize every tensor to F16 (or F32)."""
    from orchestrator.compress.dequantize import dequantize_gguf

    settings = load_settings()
    source, target = _paths(src, out, settings, force)
    with progress_display() as progress:
        dequantize_gguf(source, target, type_.lower(), progress)
    _done(source, target)


@compress_app.command()
@friendly_errors
def quantize(
    src: str = typer.Argument(..., help="Model name or .gguf path (F16/F32 is best)."),
    out: str = typer.Argument(..., help="Output model name or .gguf path."),
    type_: str = typer.Option(..., "--type", help="llama.cpp type: Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q3_K_M, Q2_K, ..."),
    calibration: Optional[Path] = typer.Option(None, help="Text file: compute an importance matrix from it."),
    imatrix: Optional[Path] = typer.Option(
        None, help="Importance matrix file made by `orchestrator compress imatrix` or llama-imatrix (GGUF format)."
    ),
    chunks: int = typer.Option(16, help="Calibration chunks."),
    chunk_len: int = typer.Option(512, help="Tokens per calibration chunk."),
    list_types: bool = typer.Option(False, "--list-types", help="List the available types and exit."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
) -> None:
    """Quantize with llama.cpp's quantizer; print the real per-tensor type mix."""
    from orchestrator.compress.quantize import quantize_gguf

    settings = load_settings()
    if list_types:
        from orchestrator.compress.llama_backend import quantize_types

        console.print(", ".join(quantize_types()))
        return
    source, target = _paths(src, out, settings, force)
    with progress_display() as progress:
        report = quantize_gguf(
            source, target, type_, calibration, imatrix, chunks, chunk_len, settings.threads, progress
        )
    _done(source, target, "calibrated with an importance matrix." if report.calibrated else "")
    console.print(report.mix_summary(), highlight=False)


@compress_app.command()
@friendly_errors
def prune(
    src: str = typer.Argument(..., help="Model name or .gguf path."),
    out: str = typer.Argument(..., help="Output model name or .gguf path."),
    method: str = typer.Option(..., help="magnitude | wanda | layers | ffn"),
    sparsity: Optional[float] = typer.Option(None, help="magnitude/wanda: fraction of weights zeroed, in [0, 1)."),
    drop: Optional[int] = typer.Option(None, help="layers: number of blocks to remove."),
    ratio: Optional[float] = typer.Option(None, help="ffn: fraction of FFN channels to remove, in [0, 1)."),
    calibration: Optional[Path] = typer.Option(None, help="Calibration text (default: the shipped one)."),
    naive: bool = typer.Option(False, help="layers: drop the last N blocks instead of the least influential."),
    chunks: int = typer.Option(8, help="Calibration chunks."),
    chunk_len: int = typer.Option(256, help="Tokens per calibration chunk."),
    out_type: str = typer.Option("f16", "--out-type", help="f16 or f32."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
) -> None:
    """Prune weights (magnitude, wanda), whole blocks (layers) or FFN channels (ffn)."""
    from orchestrator.compress.prune import prune_gguf

    settings = load_settings()
    source, target = _paths(src, out, settings, force)
    with progress_display() as progress:
        report = prune_gguf(
            source,
            target,
            method,
            sparsity=sparsity,
            drop=drop,
            ratio=ratio,
            calibration=calibration,
            naive=naive,
            n_chunks=chunks,
            chunk_len=chunk_len,
            out_type=out_type.lower(),
            progress=progress,
        )
    _done(source, target)
    console.print(report.summary(), highlight=False)


@compress_app.command()
@friendly_errors
def distill(
    teacher: str = typer.Option(..., help="Teacher model name or .gguf path (frozen)."),
    student: str = typer.Option(..., help="Student model name or .gguf path (e.g. a pruned model)."),
    output: str = typer.Option(..., help="Output model name or .gguf path."),
    text: Optional[Path] = typer.Option(None, help="Training text (default: the shipped calibration text)."),
    steps: int = typer.Option(100, min=1, help="Optimizer steps."),
    alpha: float = typer.Option(0.5, help="Weight of the hard-label cross-entropy."),
    beta: float = typer.Option(0.5, help="Weight of the soft-label cross-entropy (0 = plain fine-tuning)."),
    temperature: float = typer.Option(2.0, help="Softmax temperature of the soft labels."),
    batch: int = typer.Option(4, help="Sequences per step."),
    seq_len: int = typer.Option(128, help="Tokens per sequence."),
    lr: float = typer.Option(5e-5, help="AdamW learning rate."),
    freeze_embeddings: bool = typer.Option(True, help="Keep the token embeddings fixed (faster, less memory)."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
) -> None:
    r"""Knowledge distillation: train the student on the teacher's soft labels (needs the \[compress] extra)."""
    from orchestrator.compress.distill import DistillConfig, distill_gguf
    from orchestrator.models import resolve_model

    settings = load_settings()
    target = _target(output, settings, force)
    with progress_display() as progress:
        teacher_path = resolve_model(teacher, settings, progress)
        student_path = resolve_model(student, settings, progress)
    config = DistillConfig(
        steps=steps,
        alpha=alpha,
        beta=beta,
        temperature=temperature,
        batch=batch,
        seq_len=seq_len,
        lr=lr,
        freeze_embeddings=freeze_embeddings,
        threads=settings.threads,
    )
    with progress_display() as progress:
        report = distill_gguf(teacher_path, student_path, target, text, config, progress)
    _done(student_path, target)
    console.print(report.summary(), highlight=False)


@compress_app.command()
@friendly_errors
def imatrix(
    src: str = typer.Argument(..., help="Model name or .gguf path (F16/F32 is best)."),
    output: Path = typer.Option(..., "--output", "-o", help="Importance matrix file to write (GGUF format)."),
    calibration: Optional[Path] = typer.Option(None, help="Calibration text (default: the shipped one)."),
    chunks: int = typer.Option(16, help="Calibration chunks."),
    chunk_len: int = typer.Option(512, help="Tokens per calibration chunk."),
    force: bool = typer.Option(False, "--force", help="Replace the output file if it exists."),
) -> None:
    """Compute an importance matrix once, for many `quantize --imatrix FILE` runs (like llama-imatrix)."""
    from orchestrator.compress.quantize import imatrix_gguf
    from orchestrator.models import resolve_model

    settings = load_settings()
    target = output.expanduser().resolve()
    if target.exists() and not force:
        raise OrchestratorError(f"{target} already exists; choose another output file, or pass --force to replace it.")
    with progress_display() as progress:
        source = resolve_model(src, settings, progress)
        tokens = imatrix_gguf(source, target, calibration, chunks, chunk_len, progress)
    console.print(
        f"Wrote [bold]{shown(target)}[/] ({tokens:,} calibration tokens). "
        f"Use it with `orchestrator compress quantize ... --imatrix {shown(target)}`.",
        highlight=False,
    )
