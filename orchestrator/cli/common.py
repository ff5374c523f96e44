"""What every CLI command shares: the consoles, error reporting, settings and progress display."""

from __future__ import annotations

import functools
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from orchestrator.errors import OrchestratorError

if TYPE_CHECKING:
    from orchestrator.app import OrchestratorApp
    from orchestrator.config import Settings

MODEL_HELP = "A registry name, an installed model's name, or a path to a .gguf file."
ROUTE_HELP = "auto (the router decides), math, docs, web or chat."
COLLECTION_HELP = "Knowledge-base collection to answer from (default: ORCH_COLLECTION)."

UNWRAPPED_WIDTH = 10_000


def _console(stderr: bool) -> Console:
    """A terminal gets Rich's layout at its width. A pipe or a file gets no width at all: Rich would
    wrap at 80 columns (or COLUMNS), splitting a message, a path or a table label across lines that
    grep, logs and tests then cannot match. Tables still size to their content."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr)
    return Console(stderr=stderr, soft_wrap=True, width=UNWRAPPED_WIDTH)


console = _console(stderr=False)
err_console = _console(stderr=True)
F = TypeVar("F", bound=Callable)


def printable(text: object) -> str:
    """Text safe to echo: control characters (ANSI escapes included) shown as \\xNN, never sent raw."""
    from orchestrator.text import CONTROL_CHARACTERS

    return CONTROL_CHARACTERS.sub(lambda match: f"\\x{ord(match.group()):02x}", str(text))


def shown(text: object) -> str:
    """User or document text for a Rich markup string: control characters made visible, markup escaped."""
    return escape(printable(text))


def friendly_errors(func: F) -> F:
    """Print an error as one red line and exit 1, instead of a traceback.

    An OrchestratorError is the message itself; anything else (a library failing, a bug) is named by its
    type, and its traceback goes to DATA_DIR/logs/cli-errors.log for a bug report.
    """
    import click

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except OrchestratorError as exc:
            err_console.print(f"[bold red]Error:[/] {shown(exc)}", highlight=False, markup=True, soft_wrap=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err_console.print("[yellow]Interrupted.[/]")
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise  # typer's and click's own ways out (their Exit is a RuntimeError)
        except Exception as exc:  # noqa: BLE001 - one clear line instead of a traceback
            where = record_traceback()
            detail = f" The traceback is in {where}." if where else ""
            message = f"{type(exc).__name__}: {str(exc).rstrip('.')}.{detail}"
            err_console.print(f"[bold red]Error:[/] {shown(message)}", highlight=False, markup=True, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def record_traceback(data_dir: Path | None = None, name: str = "cli-errors.log") -> Path | None:
    """Append the current exception's traceback to DATA_DIR/logs/NAME for a bug report; None when that fails too."""
    import traceback

    try:
        path = (data_dir or load_settings().data_dir) / "logs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as file:
            file.write(traceback.format_exc() + "\n")
        return path
    except Exception:  # noqa: BLE001 - reporting the error must not raise another
        return None


def load_settings(**overrides):
    """Settings from env/.env, with the command line's non-None options on top."""
    from pydantic import ValidationError

    from orchestrator.config import Settings

    try:
        return Settings(**{key: value for key, value in overrides.items() if value is not None})
    except ValidationError as exc:
        error = exc.errors()[0]
        raise OrchestratorError(
            f"Invalid setting: {error['loc'][0]}: {error['msg'].removeprefix('Value error, ')}"
        ) from None


# Stages whose progress counts bytes; token and chunk stages are orchestrator.progress.stage_unit's; the rest count items.
BYTE_STAGES = ("Downloading", "Extracting", "Verifying")
# Without a terminal, a token or chunk stage prints a line with its rate and time left at most this often.
RATE_LINE_INTERVAL_S = 10.0


def _AmountColumn():
    """Bytes for download-like stages ("12.3/94.0 MB"), tokens (chunks) and their rate for token (chunk) stages, else a count."""
    from rich.progress import DownloadColumn, MofNCompleteColumn, ProgressColumn
    from rich.text import Text

    from orchestrator.progress import stage_unit

    class AmountColumn(ProgressColumn):
        def __init__(self) -> None:
            super().__init__()
            self.as_bytes, self.as_count = DownloadColumn(), MofNCompleteColumn()

        def render(self, task):
            stage = str(task.description)
            unit = stage_unit(stage)
            if unit:
                speed = f", {task.speed:,.1f} {unit}/s" if task.speed else ""
                total = f"/{int(task.total):,}" if task.total else ""
                return Text(f"{int(task.completed):,}{total} {unit}{speed}", style="progress.download")
            return (self.as_bytes if stage.startswith(BYTE_STAGES) else self.as_count).render(task)

    return AmountColumn()


def _line_reporter() -> Callable[[str, int, int], None]:
    """Progress for logs and pipes: one line per stage, and for token and chunk stages a rate line now and then."""
    import time

    from orchestrator.progress import rate_text, stage_unit

    started: dict[str, float] = {}
    last_line: dict[str, float] = {}

    def report(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        unit = stage_unit(stage)
        finished = bool(total) and done >= total
        if stage not in started:
            started[stage] = last_line[stage] = now
            # A count known at once ("Split big.txt": 46,123 chunks) is said at once.
            err_console.print(
                f"{shown(stage)}: {done:,} {unit}" if unit and finished else f"{shown(stage)}...", highlight=False
            )
            return
        if unit and (finished or now - last_line[stage] >= RATE_LINE_INTERVAL_S):
            last_line[stage] = now
            err_console.print(f"{shown(stage)}: {rate_text(done, total, now - started[stage], unit)}", highlight=False)

    return report


@contextmanager
def progress_display(transient: bool = True) -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress bar on stderr, driven by progress(stage, done, total) callbacks."""
    from rich.progress import (
        BarColumn,
        Progress,
        SpinnerColumn,
        TaskID,
        TextColumn,
        TimeRemainingColumn,
    )

    if not sys.stderr.isatty():  # logs and pipes get lines instead of a redrawn bar
        yield _line_reporter()
        return
    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), _AmountColumn(), TimeRemainingColumn()]
    tasks: dict[str, TaskID] = {}
    with Progress(*columns, console=err_console, transient=transient) as bar:

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:  # a stage may name a file: shown() escapes it
                tasks[stage] = bar.add_task(shown(stage), total=total or None)
            bar.update(tasks[stage], completed=done, total=total or None)

        yield report


class AppMaker:
    """How the CLI turns its options into settings and an app: the one place every answering command builds one.

    `ask`, `chat` (and its /model switch), `batch` and `serve` call resolved_settings() and build_cli_app(),
    which ask `app_maker`. This is the CLI's test seam, the counterpart of build_app's chat_model=,
    embeddings=, retriever= and search= parameters: a test replaces `app_maker` with one that resolves no
    model file and builds the app with fakes (tests/conftest.py's `fake_model` fixture), then runs the
    real commands through typer's CliRunner. `eval` and `batch --workers N` build their apps in worker
    processes from the settings alone, so the seam does not reach them.
    """

    def settings(self, model: str | None = None, collection: str | None = None) -> Settings:
        """Settings with the local chat model resolved to a validated path (pulled on first use).

        With ORCH_LLM_BACKEND=openai the model lives on a server, so nothing is resolved or pulled.
        """
        from orchestrator.errors import ConfigError
        from orchestrator.gguf_file import check_chat_model, inspect_gguf
        from orchestrator.models import REGISTRY, info_cache, resolve_model

        settings = load_settings(model=model, collection=collection)
        if settings.llm_backend != "llamacpp":
            return settings
        spec = REGISTRY.get(settings.model)
        if spec is not None and spec.kind != "chat":  # known from the registry: refuse before pulling it
            raise ConfigError(f"{settings.model} is an {spec.kind} model: it turns text into vectors and cannot chat.")
        with progress_display() as progress:
            model_path = resolve_model(settings.model, settings, progress=progress)
        check_chat_model(inspect_gguf(model_path, info_cache(settings)))  # before any answer loads it
        return settings.model_copy(update={"model": str(model_path)})

    def app(self, settings: Settings) -> OrchestratorApp:
        """The app for these settings, its components loaded on first use."""
        from orchestrator.app import build_app

        return build_app(settings)


app_maker = AppMaker()


def resolved_settings(model: str | None = None, collection: str | None = None) -> Settings:
    """Settings from env/.env and the options, with the chat model resolved (see AppMaker.settings)."""
    return app_maker.settings(model, collection)


def build_cli_app(settings: Settings) -> OrchestratorApp:
    """The app a CLI command answers with (see AppMaker)."""
    return app_maker.app(settings)


def print_answer_error(message: str) -> None:
    """An answer's error as the one red line `friendly_errors` prints."""
    err_console.print(f"[bold red]Error:[/] {shown(message)}", highlight=False)


def print_sources(result, out=None) -> None:
    """The numbered sources under an answer."""
    out = out or console
    for number, source in enumerate(result.sources, 1):
        where = source.get("source")
        page = f", page {source['page']}" if source.get("page") else ""
        score = f" (relevance {source['score']:.2f})" if isinstance(source.get("score"), float) else ""
        out.print(printable(f"  [{number}] {where}{page}{score}"), markup=False, highlight=False)
