"""`orchestrator batch` (question files in, result rows out) and `orchestrator eval` (score a labelled set)."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional

import typer

from orchestrator.cli.common import (
    COLLECTION_HELP,
    MODEL_HELP,
    ROUTE_HELP,
    build_cli_app,
    console,
    err_console,
    friendly_errors,
    resolved_settings,
    shown,
)

if TYPE_CHECKING:
    from orchestrator.batch import BatchSummary

WORKERS_HELP = "Questions answered at once; above 1, each worker is a process with its own copy of the model."
CONCURRENCY_HELP = (
    "Questions in flight at once from this one process, for a chat model on an OpenAI-compatible server "
    "(ORCH_LLM_BACKEND=openai) that runs requests in parallel (vLLM, llama-server -np N)."
)


def register(app: typer.Typer) -> None:
    """Add `batch` and `eval` to the main app."""
    app.command("batch")(batch)
    app.command("eval")(evaluate)


@contextmanager
def question_progress(description: str) -> Iterator[tuple]:
    """One progress display on stderr, yielding (stage, on_start, on_row) callbacks.

    stage(name, done, total) drives extra bars (e.g. ingesting a corpus); the questions bar shows
    questions/min and the ETA.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=err_console, disable=not sys.stderr.isatty()) as bar:
        stages: dict[str, TaskID] = {}

        def stage(name: str, done: int, total: int) -> None:
            if name not in stages:
                stages[name] = bar.add_task(name, total=total or None, rate="")
            bar.update(stages[name], completed=done, total=total or None)

        def on_start(summary: BatchSummary) -> None:
            stage(description, 0, summary.total - summary.skipped)

        def on_row(row: dict, summary: BatchSummary) -> None:
            bar.update(stages[description], completed=summary.answered, rate=f"{summary.per_minute:.1f} q/min")

        yield stage, on_start, on_row


def print_batch_summary(summary: BatchSummary, output: Path) -> None:
    from rich.table import Table

    table = Table(title="Batch summary", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("answered", f"{summary.answered} in {summary.seconds:.1f} s")
    table.add_row("questions/minute", f"{summary.per_minute:.1f}")
    for route, count in sorted(summary.routes.items()):
        table.add_row(f"route {shown(route)}", str(count))
    table.add_row("errors", str(summary.errors))
    table.add_row("abstained", str(summary.abstained))
    table.add_row("already answered (skipped)", str(summary.skipped))
    if summary.reanswered:
        table.add_row("answered again (collection changed)", str(summary.reanswered))
    table.add_row("workers", str(summary.workers))
    if summary.concurrency > 1:
        table.add_row("in flight at once", str(summary.concurrency))
    console.print(table)
    console.print(f"Rows in {shown(output)}", highlight=False)


@friendly_errors
def batch(
    input: Path = typer.Argument(
        ..., help="Questions: .txt (one per line), .jsonl (`question`, optional `id`) or .csv (`question` column)."
    ),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help="Result rows, .jsonl or .csv (default: INPUT.answers.jsonl). Rerunning resumes it."
    ),
    collection: Optional[str] = typer.Option(None, "--collection", "-c", help=COLLECTION_HELP),
    route: str = typer.Option("auto", "--route", "-r", help=ROUTE_HELP),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help=WORKERS_HELP),
    concurrency: int = typer.Option(1, "--concurrency", min=1, help=CONCURRENCY_HELP),
    model: Optional[str] = typer.Option(None, "--model", "-m", help=MODEL_HELP),
    retry_errors: bool = typer.Option(
        False, "--retry-errors", help="Ask again the questions whose rows have an error."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Empty the output first instead of resuming it."),
) -> None:
    """Answer every question of a file, one result row each; a rerun skips the questions already answered."""
    from orchestrator.app import forced_route
    from orchestrator.batch import (
        check_concurrency,
        default_output_path,
        read_questions,
        refuse_output_as_input,
        run_batch,
    )

    forced = forced_route(route)
    output = output or default_output_path(input)
    refuse_output_as_input(input, output)
    questions = read_questions(input)
    settings = resolved_settings(model, collection)
    check_concurrency(settings, concurrency, workers)  # before a model loads
    app = build_cli_app(settings) if workers == 1 else None
    with question_progress("Answering") as (_, on_start, on_row):
        summary = run_batch(
            questions,
            output,
            settings,
            route=forced,
            workers=workers,
            app=app,
            on_row=on_row,
            on_start=on_start,
            retry_errors=retry_errors,
            overwrite=overwrite,
            concurrency=concurrency,
        )
    print_batch_summary(summary, output)
    if summary.reanswered:
        err_console.print(
            f"[yellow]Note:[/] {summary.reanswered} earlier answers were made from other contents of the collection; "
            "they were answered again.",
            highlight=False,
        )


@friendly_errors
def evaluate(
    questions: Path = typer.Argument(..., help="Labelled questions (.jsonl: id, kind, question, answers, source)."),
    corpus: Optional[Path] = typer.Option(
        None, "--corpus", help="Documents to ingest into a scratch collection (OUTPUT/kb) first."
    ),
    output: Path = typer.Option(
        Path("eval-out"),
        "--output",
        "-o",
        help="Folder for answers.jsonl, report.md and report.json; rerunning resumes it.",
    ),
    model: Optional[str] = typer.Option(None, "--model", "-m", help=MODEL_HELP),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help=WORKERS_HELP),
) -> None:
    """Answer a labelled question set, score every kind, and write report.md and report.json."""
    from orchestrator.evaluate import run_eval

    settings = resolved_settings(model)
    with question_progress("Answering") as (progress, on_start, on_row):
        run = run_eval(
            questions,
            output,
            settings,
            corpus=corpus,
            workers=workers,
            progress=progress,
            on_start=on_start,
            on_row=on_row,
        )
    print_eval_tables(run.report)
    console.print(
        f"Report: {shown(run.markdown)} and {shown(run.json)} ({run.report['run']['wall_seconds']:.0f} s)",
        highlight=False,
    )


def print_eval_tables(report: dict) -> None:
    from rich.table import Table

    from orchestrator.evaluate import DOCS_COLUMNS, TABLE_COLUMNS, docs_row, table_rows

    table = Table(title="Evaluation")
    for name in TABLE_COLUMNS:
        table.add_column(name, no_wrap=name in ("Kind", "Score"))
    for row in table_rows(report["summary"]):
        table.add_row(*row)
    console.print(table)
    docs = docs_row(report["summary"])
    if docs:
        details = Table(*DOCS_COLUMNS, title="Docs questions")
        details.add_row(*docs)
        console.print(details)
