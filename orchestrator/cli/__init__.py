"""The `orchestrator` command line. Each area registers its commands from its own module.

`app` (the typer application) is built on first access, so importing `orchestrator.cli.entry` stays
cheap: the console script's Ctrl-C handler is in place before typer, Rich and the command modules import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

    app: typer.Typer


def _build_app() -> Any:
    import typer

    built = typer.Typer(
        help="A local-first LLM assistant: chat, ask and batch over your documents with a GGUF model.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    # Each module adds its commands in register(app); heavy libraries load inside the commands.
    from orchestrator.cli import batch, bench, chat, compress, knowledge, logs, models, serve

    for module in (chat, batch, knowledge, models, compress, bench, serve, logs):
        module.register(built)
    return built


def __getattr__(name: str) -> Any:
    if name == "app":
        built = globals()["app"] = _build_app()
        return built
    raise AttributeError(f"module 'orchestrator.cli' has no attribute {name!r}")
