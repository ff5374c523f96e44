"""`orchestrator ask` and `orchestrator chat`."""

from __future__ import annotations

import json
from typing import Optional

import typer

from orchestrator.cli.common import console, friendly_errors, load_settings, progress_display

MODEL_HELP = "A registry name, an installed model's name, or a path to a .gguf file."


def prepare_app(model: Optional[str]):
    """Settings + a validated (pulled on first use) model, then the app."""
    from orchestrator.app import build_app
    from orchestrator.models import resolve_model

    settings = load_settings(model=model)
    with progress_display() as progress:
        model_path = resolve_model(settings.model, settings, progress=progress)
    settings = settings.model_copy(update={"model": str(model_path)})
    return build_app(settings)


@friendly_errors
def ask(
    question: str = typer.Argument(..., help="The question to answer."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of streaming text."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help=MODEL_HELP),
) -> None:
    """Answer one question and exit."""
    app = prepare_app(model)
    if as_json:
        result = app.invoke({"question": question})
        typer.echo(json.dumps(result.to_row(), ensure_ascii=False))
    else:
        result = None
        for item in app.stream({"question": question}):
            if isinstance(item, str):
                console.print(item, end="", markup=False, highlight=False, soft_wrap=True)
            else:
                result = item
        console.print()
    if result.error:
        raise typer.Exit(1)


@friendly_errors
def chat(model: Optional[str] = typer.Option(None, "--model", "-m", help=MODEL_HELP)) -> None:
    """Interactive chat. Type /help for commands; Ctrl-C stops an answer, Ctrl-D exits."""
    from orchestrator.cli.repl import run_repl

    run_repl(prepare_app(model), prepare_app)


def register(app: typer.Typer) -> None:
    app.command()(ask)
    app.command()(chat)
