"""The `orchestrator` command line. Each area registers its commands from its own module."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="A local-first LLM assistant: chat, ask and batch over your documents with a GGUF model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_commands() -> None:
    # Each module adds its commands in register(app); heavy libraries load inside the commands.
    from orchestrator.cli import batch, bench, chat, compress, knowledge, logs, models, serve

    for module in (chat, batch, knowledge, models, compress, bench, serve, logs):
        module.register(app)


_register_commands()
