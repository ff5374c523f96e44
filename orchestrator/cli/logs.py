"""`orchestrator logs`: the chat exchanges logged in DATA_DIR/logs.db (list, show, search, on, off)."""

from __future__ import annotations

import json

import typer
from rich.text import Text

from orchestrator.cli.common import console, friendly_errors, load_settings

logs_app = typer.Typer(
    help="Logged chat conversations: list, show, search; switch logging on or off.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(logs_app, name="logs")


def _log():
    from orchestrator.logs import ChatLog, log_path

    return ChatLog(log_path(load_settings()))


def _one_line(text: str, limit: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _print_exchange(exchange) -> None:
    console.print(
        Text(f"## {exchange.datetime}  route {exchange.route}, {exchange.model}", style="bold"),
        highlight=False,
        soft_wrap=True,
    )
    console.print(Text(f"You: {exchange.question}"), highlight=False, soft_wrap=True)
    if exchange.standalone_question and exchange.standalone_question != exchange.question:
        console.print(Text(f"(taken as: {exchange.standalone_question})", style="dim"), highlight=False, soft_wrap=True)
    console.print(Text(f"Assistant: {exchange.answer}"), highlight=False, soft_wrap=True)
    for number, source in enumerate(exchange.sources, 1):
        page = f", page {source['page']}" if source.get("page") else ""
        console.print(
            Text(f"  [{number}] {source.get('title') or source.get('source')}{page}"), highlight=False, soft_wrap=True
        )
    if exchange.error:
        console.print(Text(f"Error: {exchange.error}", style="red"), highlight=False, soft_wrap=True)
    console.print()


@logs_app.command("list")
@friendly_errors
def list_conversations(
    count: int = typer.Option(20, "--count", "-n", help="How many conversations, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Recent conversations: id, start, model, number of exchanges and the first question."""
    rows = _log().conversations(count)
    if as_json:
        typer.echo(json.dumps([row.__dict__ for row in rows], ensure_ascii=False))
        return
    if not rows:
        console.print("No conversations logged yet. `orchestrator chat` logs each exchange.")
        return
    for row in rows:
        console.print(
            Text(f"{row.id}  {row.started}  {row.model}  {row.exchanges} exchanges  {_one_line(row.first_question)}"),
            highlight=False,
            soft_wrap=True,
        )


@logs_app.command("show")
@friendly_errors
def show(
    conversation_id: str = typer.Argument(None, help="A conversation id from `logs list` (default: the latest)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Every exchange of one conversation."""
    log = _log()
    conversation_id = conversation_id or log.latest_conversation_id()
    if conversation_id is None:
        console.print("No conversations logged yet.")
        return
    exchanges = log.exchanges(conversation_id)
    if as_json:
        typer.echo(json.dumps([e.__dict__ for e in exchanges], ensure_ascii=False))
        return
    console.print(Text(f"# Conversation {conversation_id}", style="bold"), highlight=False, soft_wrap=True)
    for exchange in exchanges:
        _print_exchange(exchange)


@logs_app.command("search")
@friendly_errors
def search(
    text: str = typer.Argument(..., help="Words to find in questions and answers."),
    count: int = typer.Option(20, "--count", "-n", help="Most exchanges to show."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Exchanges whose question or answer contains TEXT, newest first."""
    found = _log().search(text, count)
    if as_json:
        typer.echo(json.dumps([e.__dict__ for e in found], ensure_ascii=False))
        return
    if not found:
        console.print(Text(f"No logged exchange contains {text!r}."), highlight=False, soft_wrap=True)
    for exchange in found:
        console.print(Text(f"conversation {exchange.conversation_id}", style="dim"), highlight=False, soft_wrap=True)
        _print_exchange(exchange)


@logs_app.command("off")
@friendly_errors
def off() -> None:
    """Stop logging chat exchanges."""
    from orchestrator.logs import set_logging

    set_logging(load_settings(), False)
    console.print("Chat logging is off.")


@logs_app.command("on")
@friendly_errors
def on() -> None:
    """Log chat exchanges again (the default)."""
    from orchestrator.logs import set_logging

    set_logging(load_settings(), True)
    console.print("Chat logging is on.")


@logs_app.command("path")
@friendly_errors
def path() -> None:
    """Where the log database is."""
    from orchestrator.logs import log_path

    typer.echo(str(log_path(load_settings())))
