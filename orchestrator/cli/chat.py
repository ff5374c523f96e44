"""`orchestrator ask` and `orchestrator chat`."""

from __future__ import annotations

import json
from typing import Optional

import typer

from orchestrator.cli.common import (
    COLLECTION_HELP,
    MODEL_HELP,
    ROUTE_HELP,
    build_cli_app,
    console,
    err_console,
    friendly_errors,
    print_answer_error,
    print_sources,
    printable,
    resolved_settings,
    shown,
)
from orchestrator.cli.knowledge import ingest_into
from orchestrator.errors import OrchestratorError
from orchestrator.timing import mark, record_stages, stage


def prepare_app(model: Optional[str], collection: Optional[str] = None):
    """Settings + a validated (pulled on first use) model, then the app (common.AppMaker, the CLI's test seam)."""
    return build_cli_app(resolved_settings(model, collection))


@friendly_errors
def ask(
    question: str = typer.Argument(..., help="The question to answer."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of streaming text."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help=MODEL_HELP),
    route: str = typer.Option("auto", "--route", "-r", help=ROUTE_HELP),
    collection: Optional[str] = typer.Option(None, "--collection", "-c", help=COLLECTION_HELP),
    timings: bool = typer.Option(
        False,
        "--timings",
        help="Also print where the time went, stage by stage (seconds since the process started), to stderr.",
    ),
) -> None:
    """Answer one question and exit."""
    if timings:
        log = record_stages()
    try:
        _answer_one(question, as_json, model, route, collection)
    finally:
        if timings:
            err_console.print(
                "\n".join(["", "Where the time went (seconds since the process started):", *log.lines()]),
                markup=False,
                highlight=False,
            )


def _answer_one(question: str, as_json: bool, model: Optional[str], route: str, collection: Optional[str]) -> None:
    """`ask`'s work: a plain expression without the app, anything else through it."""
    if collection is None and route in ("auto", "math"):  # a plain expression: no model, LangChain or knowledge base
        from orchestrator.quick import plain_math_answer

        with stage("is it a plain expression? (answered by the SymPy worker if so)"):
            quick = plain_math_answer(question, None if route == "auto" else route, lambda: _quick_settings(model))
        if quick is not None:
            return _print_answer(quick, as_json)
    with stage("import LangChain and the app"):
        from orchestrator.app import forced_route

    forced = forced_route(route)
    with stage("settings and the model file"):
        app = prepare_app(model, collection)
    request = {"question": question, "route": forced}
    if as_json:
        with stage("answer"):
            result = app.invoke(request)
        typer.echo(json.dumps(result.to_row(), ensure_ascii=False))
    else:
        result, first_shown = None, False
        with stage("answer"):
            for item in app.stream(request):
                if isinstance(item, str):
                    if not first_shown:
                        mark("first token shown")
                        first_shown = True
                    console.print(printable(item), end="", markup=False, highlight=False, soft_wrap=True)
                else:
                    result = item
        console.print()
        print_sources(result)
        if result.error:
            print_answer_error(result.error)
    if result.error:
        raise typer.Exit(1)


def _quick_settings(model: str | None):
    """Settings for a plain math answer; a model named with --model is still checked (header only, never pulled)."""
    from orchestrator.cli.common import load_settings

    settings = load_settings(model=model)
    if model is not None:
        from orchestrator.models import resolve_model

        resolve_model(model, settings, auto_pull=False)
    return settings


def _print_answer(result, as_json: bool) -> None:
    """A finished Answer as `ask` prints it (streamed text, sources, error line; or the JSON row)."""
    if as_json:
        typer.echo(json.dumps(result.to_row(), ensure_ascii=False))
    else:
        console.print(printable(result.answer), markup=False, highlight=False, soft_wrap=True)
        print_sources(result)
        if result.error:
            print_answer_error(result.error)
    if result.error:
        raise typer.Exit(1)


def sample_docs_to_add(app):
    """The sample documents folder when this is the first chat on an empty default collection, else None."""
    from orchestrator.config import Settings
    from orchestrator.knowledge.store import KnowledgeStoreUnwritable, collection_size
    from orchestrator.resources import sample_docs_dir

    settings = app.settings
    default_name = Settings.model_fields["collection"].default
    sample_docs = sample_docs_dir()
    try:
        size = collection_size(settings, settings.collection)  # the library's other collections stay closed
    except KnowledgeStoreUnwritable as exc:
        app.knowledge_problem = str(exc)
        err_console.print(
            f"[yellow]Warning:[/] {shown(exc)} Chat, math and web questions still work; "
            "questions about your documents will get this message.",
            highlight=False,
        )
        return None
    if settings.collection != default_name or not sample_docs.is_dir():
        return None
    if size:
        return None
    return sample_docs


def add_sample_docs(app, sample_docs) -> None:
    console.print(
        f"The knowledge base is empty: adding the sample documents from {shown(sample_docs)}.\n"
        "Add your own with `orchestrator ingest PATH` or /ingest PATH.",
        highlight=False,
    )
    ingest_into(app, [sample_docs])


def ensure_sample_knowledge(app) -> None:
    """The first chat on the default collection fills it with the sample documents in data/."""
    sample_docs = sample_docs_to_add(app)
    if sample_docs is not None:
        add_sample_docs(app, sample_docs)


def open_chat_log(settings, enabled: bool):
    """The SQLite chat log, unless --no-log was given or `orchestrator logs off` was run."""
    from orchestrator.logs import ChatLog, log_path, logging_enabled

    if not enabled or not logging_enabled(settings):
        return None
    try:
        return ChatLog(log_path(settings))
    except OrchestratorError as exc:
        # A read-only or full data dir must not stop the chat itself: it goes on, unlogged, and says so.
        err_console.print(f"[yellow]Warning:[/] {shown(exc)} This conversation will not be logged.", highlight=False)
        return None


def conversation_to_continue(log, continue_last: bool, cid: Optional[str]) -> Optional[str]:
    """The conversation id --continue / --cid ask for (checked to exist), or None for a new one."""
    from orchestrator.errors import ConfigError

    if not continue_last and not cid:
        return None
    if log is None:
        raise ConfigError(
            "Chat logging is off, so there is no conversation to continue; `orchestrator logs on` enables it."
        )
    wanted = cid or log.latest_conversation_id()
    if wanted is None:
        raise ConfigError("No logged conversation to continue yet; start one with `orchestrator chat`.")
    log.exchanges(wanted)  # raises with a clear message when the id is unknown
    return wanted


@friendly_errors
def chat(
    model: Optional[str] = typer.Option(None, "--model", "-m", help=MODEL_HELP),
    collection: Optional[str] = typer.Option(None, "--collection", "-c", help=COLLECTION_HELP),
    continue_last: bool = typer.Option(False, "--continue", help="Continue the most recent logged conversation."),
    cid: Optional[str] = typer.Option(
        None, "--cid", help="Continue the logged conversation with this id (see `orchestrator logs list`)."
    ),
    log: bool = typer.Option(
        True, "--log/--no-log", help="Log this conversation to DATA_DIR/logs.db (`orchestrator logs`)."
    ),
) -> None:
    """Interactive chat. Type /help for commands; Ctrl-C stops an answer, Ctrl-D or /bye exits."""
    from orchestrator.cli.common import err_console
    from orchestrator.cli.repl import WaitingStatus, run_repl

    # On stderr, like the progress bars that may appear inside it (a first pull, the sample ingest).
    with WaitingStatus(err_console, "Starting: checking the model and opening the knowledge base…"):
        app = prepare_app(model, collection)
        chat_log = open_chat_log(app.settings, log)
        continue_id = conversation_to_continue(chat_log, continue_last, cid)
        sample_docs = sample_docs_to_add(app)
    if sample_docs is not None:  # after the status, so its progress bars have the screen
        add_sample_docs(app, sample_docs)
    run_repl(app, lambda name: prepare_app(name, collection), log=chat_log, continue_id=continue_id)


def register(app: typer.Typer) -> None:
    app.command()(ask)
    app.command()(chat)
