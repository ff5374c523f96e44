"""`orchestrator serve`: the whole app as an OpenAI-compatible API."""

from __future__ import annotations

from typing import Optional

import typer

from orchestrator.cli.common import (
    COLLECTION_HELP,
    MODEL_HELP,
    build_cli_app,
    err_console,
    friendly_errors,
    resolved_settings,
)


def register(app: typer.Typer) -> None:
    """Add `serve` to the main app."""
    app.command()(serve)


@friendly_errors
def serve(
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on; anything but loopback needs --api-key."
    ),
    port: int = typer.Option(8000, "--port", "-p", min=0, max=65535, help="TCP port."),
    api_key: Optional[str] = typer.Option(
        None,
        "--api-key",
        envvar="ORCH_SERVE_API_KEY",
        show_envvar=True,
        help="Clients must send 'Authorization: Bearer KEY' (at least 16 characters). Prefer the env variable: "
        "a command-line key is visible to other local users in the process list.",
    ),
    model: Optional[str] = typer.Option(None, "--model", "-m", help=MODEL_HELP),
    collection: Optional[str] = typer.Option(None, "--collection", "-c", help=COLLECTION_HELP),
    max_waiting: int = typer.Option(
        2, "--max-waiting", min=0, help="Requests queued behind the running one; more get 429."
    ),
    max_body_kb: int = typer.Option(
        64, "--max-body-kb", min=1, help="Largest request body accepted, KiB (more gets 413)."
    ),
    max_history_tokens: int = typer.Option(
        512,
        "--max-history-tokens",
        min=0,
        help="Tokens of earlier turns used per request, newest first (prompt evaluation is slow).",
    ),
    allowed_host: Optional[list[str]] = typer.Option(
        None,
        "--allowed-host",
        help="Host header name to answer (repeatable; '*' for any). Default: on a loopback address only localhost, "
        "127.0.0.1 and [::1] (against DNS rebinding); on other addresses any.",
    ),
) -> None:
    """Serve the assistant (routing, tools, retrieval) as an OpenAI-compatible API until Ctrl-C or SIGTERM."""
    from orchestrator.serve import (
        SERVED_MODEL,
        ServeLimits,
        allowed_hosts,
        bind_address,
        check_bind,
        create_api,
        default_allowed_hosts,
        run_server,
    )

    check_bind(host, api_key)  # before loading anything
    settings = resolved_settings(model, collection)  # a remote model (ORCH_LLM_BACKEND=openai) has no file to check
    app = build_cli_app(settings)
    app.chat_model  # noqa: B018 - the property loads the weights now, so the first request is not the slow one
    limits = ServeLimits(
        max_body_bytes=max_body_kb * 1024,
        max_tokens=settings.max_tokens,
        max_waiting=max_waiting,
        max_history_tokens=max_history_tokens,
        allowed_hosts=allowed_hosts(host, allowed_host) if allowed_host else default_allowed_hosts(host),
    )
    shown = f"[{bind_address(host)}]" if ":" in bind_address(host) else host
    err_console.print(
        f"Serving model {SERVED_MODEL!r} at http://{shown}:{port}/v1 (Ctrl-C or SIGTERM to stop)",
        highlight=False,
        markup=False,
    )
    run_server(create_api(app, api_key, limits), host, port, api_key, limits)
