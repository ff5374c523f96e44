"""`orchestrator ingest` and `orchestrator collections`: build and list knowledge-base collections."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import typer

from orchestrator.cli.common import console, err_console, friendly_errors, load_settings, progress_display, shown

if TYPE_CHECKING:
    from orchestrator.knowledge.ingest import IngestSummary


def register(app: typer.Typer) -> None:
    """Add the knowledge-base commands to the main app."""
    app.command("ingest")(ingest)
    app.command("collections")(collections)


@friendly_errors
def ingest(
    paths: List[Path] = typer.Argument(..., help="Files or folders (recursed) of .txt .md .html .pdf .json .jsonl."),
    collection: Optional[str] = typer.Option(
        None, "--collection", "-c", help="Collection to fill (default: ORCH_COLLECTION)."
    ),
    prune: bool = typer.Option(False, "--prune", help="Also remove chunks of files that no longer exist."),
    reset: bool = typer.Option(
        False, "--reset", help="Delete the collection first (needed after changing the embedding model)."
    ),
) -> None:
    """Add documents to a collection; unchanged files cost nothing, changed files replace their chunks."""
    from orchestrator.app import open_knowledge_store
    from orchestrator.knowledge.ingest import check_paths_exist, collection_lock, ingest_paths

    settings = load_settings(collection=collection)
    check_paths_exist(paths)
    with progress_display() as progress, collection_lock(settings, settings.collection, progress):
        store = open_knowledge_store(
            settings, collection=settings.collection, reset=reset, progress=progress, fresh=True
        )
        summary = ingest_paths(paths, store, settings, progress=progress, prune=prune)
    print_summary(summary)
    if summary.skipped and summary.files_ingested == 0:
        raise typer.Exit(1)


def print_summary(summary: IngestSummary) -> None:
    from rich.table import Table

    console.print(f"Ingested into collection '{shown(summary.collection)}' in {summary.seconds:.1f} s", highlight=False)
    table = Table(show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    rows = [
        ("Files seen", summary.files_seen),
        ("Files ingested", summary.files_ingested),
        ("  of which unchanged", summary.files_unchanged),
        ("Files skipped", summary.files_skipped),
        ("Chunks added", summary.chunks_added),
        ("Chunks unchanged", summary.chunks_unchanged),
        ("Chunks removed", summary.chunks_removed),
        ("Chunks in collection", summary.chunks_total),
    ]
    for label, value in rows:
        table.add_row(label, str(value))
    console.print(table)
    for skipped in summary.skipped:
        err_console.print(f"[yellow]Skipped[/] {shown(skipped.path)}: {shown(skipped.reason)}", highlight=False)


@friendly_errors
def collections(
    check: bool = typer.Option(False, "--check", help="Check the database and every collection's vector index."),
    repair: bool = typer.Option(False, "--repair", help="With --check: rebuild damaged collections from their files."),
) -> None:
    """List knowledge-base collections with their chunk counts and embedding model."""
    from rich.table import Table

    from orchestrator.knowledge.store import list_collections

    settings = load_settings()
    if check or repair:
        check_and_repair(settings, repair)
        return
    rows = list_collections(settings)
    if not rows:
        console.print("No collections yet. Add documents with `orchestrator ingest PATH...`.")
        return
    table = Table("Collection", "Chunks", "Embedding model")
    for row in rows:
        name = f"{row.name} (default)" if row.name == settings.collection else row.name
        table.add_row(shown(name), str(row.count), shown(row.embedding_model))
    console.print(table)


def check_and_repair(settings, repair: bool) -> None:
    """`collections --check [--repair]`: a health table; damaged collections are rebuilt or named with the next step."""
    from rich.table import Table

    from orchestrator.app import open_knowledge_store
    from orchestrator.knowledge.repair import check_knowledge_base, repair_knowledge_base

    health = check_knowledge_base(settings)
    if health.database_problem:
        err_console.print(f"[red]Damaged:[/] {shown(health.database_problem)}", highlight=False)
    table = Table("Collection", "Chunks", "Status")
    for row in health.collections:
        table.add_row(
            shown(row.name),
            "?" if row.count is None else str(row.count),
            f"[red]damaged:[/] {shown(row.problem)}" if row.problem else "[green]ok[/]",
        )
    console.print(table)
    if not health.database_problem and not health.damaged:
        console.print("The knowledge base is sound.")
        return
    if not repair:
        err_console.print(
            "[bold red]Error:[/] the knowledge base is damaged: run `orchestrator collections --check "
            "--repair` to rebuild it from your files.",
            highlight=False,
        )
        raise typer.Exit(1)
    with progress_display() as progress:
        _, results = repair_knowledge_base(settings, open_knowledge_store, progress)
    for result in results:
        console.print(
            f"Rebuilt '{shown(result.name)}' from {result.files} files: {result.chunks} chunks.", highlight=False
        )
        for missing in result.missing:
            err_console.print(
                f"[yellow]Missing[/] {shown(missing)}: no longer exists, its chunks are gone.", highlight=False
            )


def ingest_into(app, paths: list) -> None:
    """Ingest files into the app's collection with a progress display; the app then searches them."""
    from orchestrator.knowledge.ingest import collection_lock, ingest_paths

    settings = app.settings
    with progress_display() as progress, collection_lock(settings, settings.collection, progress):
        store = app.knowledge_store(settings.collection, fresh=True, progress=progress)
        summary = ingest_paths(paths, store, settings, progress=progress)
    print_summary(summary)
    app.forget_retriever()
