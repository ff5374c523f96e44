"""`orchestrator bench`: size, speed and quality of models side by side, with a trade-off plot."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import List, Optional

import typer

from orchestrator.cli.common import console, err_console, friendly_errors, load_settings, progress_display
from orchestrator.errors import OrchestratorError


@friendly_errors
def bench(
    models: List[str] = typer.Argument(..., help="Models to compare: registry names, installed names or .gguf paths."),
    text: Optional[Path] = typer.Option(
        None, "--text", help="Text for perplexity and KLD (default: the shipped Wikipedia evaluation text)."
    ),
    base: Optional[str] = typer.Option(None, "--base", help="Reference model for KL divergence (default: the first)."),
    output: Path = typer.Option(
        Path("bench-report"), "--output", "-o", help="Folder for report.md, report.json, tradeoff.png."
    ),
    repeats: int = typer.Option(
        3, "--repeats", min=1, help="Speed measurements per model (median and range reported)."
    ),
    ctx: int = typer.Option(512, "--ctx", min=8, help="Perplexity window in tokens (llama-perplexity's -c)."),
    chunks: int = typer.Option(
        8, "--chunks", min=1, help="At most this many windows of the text (llama-perplexity's --chunks)."
    ),
    threads: Optional[int] = typer.Option(
        None, "--threads", min=1, help="CPU threads (default: ORCH_N_THREADS or all cores)."
    ),
    eval_questions: Optional[Path] = typer.Option(
        None,
        "--eval",
        help="Also score each model on this `orchestrator eval` question file (JSONL), answered by the whole app.",
    ),
    corpus: Optional[Path] = typer.Option(
        None,
        "--corpus",
        help="With --eval: documents to ingest into a scratch knowledge base for the docs questions.",
    ),
) -> None:
    """Compare models on this machine: size, speed, memory, perplexity and KLD, with a trade-off plot.

    Per model: file size, parameters, tensor types and load time;
    prompt and generation tok/s (median of interleaved repeats) and peak RSS;
    perplexity on --text (as llama-perplexity) and KL divergence from --base;
    generation's share of the measured memory bandwidth; with --eval, task accuracy
    (each model's eval report lands in OUTPUT/eval/).
    """
    from orchestrator.bench import BenchOptions, EvalTask, default_text_path, read_text_file, run_bench
    from orchestrator.bench.report import table_rows, write_reports
    from orchestrator.models import info_cache, resolve_model

    settings = load_settings(n_threads=threads)
    text_path = text or default_text_path()
    body = read_text_file(text_path)
    with progress_display() as progress:  # a registry model may need pulling first
        resolved = _resolve_unique([(name, resolve_model(name, settings, progress)) for name in models])
        base_model = _resolve_unique([(base, resolve_model(base, settings, progress))])[0] if base else None
    options = BenchOptions(repeats=repeats, ppl_ctx=ctx, max_chunks=chunks, n_threads=settings.threads)
    if corpus is not None and eval_questions is None:
        raise OrchestratorError("--corpus goes with --eval: give the question file too.")
    task = EvalTask(eval_questions, settings, output / "eval", corpus) if eval_questions is not None else None
    report = run_bench(
        resolved,
        body,
        base=base_model,
        options=options,
        progress=_print_step,
        command=_command_line(),
        text_path=_shown_path(text_path),
        gguf_cache=info_cache(settings),
        eval_task=task,
    )
    paths = write_reports(report, output)
    _print_summary(report, table_rows(report))
    console.print(f"Wrote {paths['markdown']}, {paths['json']} and {paths['plot']}.")


def _print_step(stage: str, done: int, total: int) -> None:
    # One line per step rather than a bar: a run takes minutes and the log says where the time went.
    from rich.markup import escape

    err_console.print(f"[dim]{escape(stage)}[/]", highlight=False)


def _resolve_unique(models: list[tuple[str, Path]]) -> list[tuple[str, Path]]:
    """Drop repeats of the same file; name paths by their file name."""
    seen, unique = set(), []
    for name, path in models:
        if path in seen:
            continue
        seen.add(path)
        unique.append((Path(name).stem if name.endswith(".gguf") else name, path))
    return unique


def _shown_path(path: Path) -> str:
    """The shipped texts by their name in the repository (data/...), so reports are portable."""
    from orchestrator.resources import calibration_file, evaluation_file

    shipped = {calibration_file().resolve(), evaluation_file().resolve()}
    resolved = Path(path).resolve()
    return f"data/calibration/{resolved.name}" if resolved in shipped else str(path)


def _command_line() -> str:
    return "orchestrator " + " ".join(shlex.quote(arg) for arg in sys.argv[1:])


def _print_summary(report, rows: list[list[str]]) -> None:
    from rich.table import Table

    table = Table(title=f"Benchmark ({report.options.repeats} repeats, KLD against {report.base})")
    with_task = any(model.task for model in report.models)
    for column in ("model", "size MB", "PPL", "KLD", "same top", "prompt tok/s", "gen tok/s", "RSS MB", "of bandwidth"):
        table.add_column(column)
    if with_task:
        table.add_column("task score")
    for row in rows:
        table.add_row(
            row[0], row[2], row[5], row[6], row[8], row[10], row[11], row[12], row[13], *row[15:16] if with_task else ()
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command()(bench)
