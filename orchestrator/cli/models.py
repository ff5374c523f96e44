"""`orchestrator pull` and `orchestrator models`."""

from __future__ import annotations

import typer

from orchestrator.cli.common import console, friendly_errors, load_settings, progress_display, shown


def _human_size(n_bytes: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n_bytes < 1000 or unit == "GB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1000
    return str(n_bytes)


def _human_count(n: int) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.1f}M"


@friendly_errors
def pull(
    name: str = typer.Argument("smollm2-135m-instruct", help="Registry name of the model to fetch."),
    force: bool = typer.Option(False, "--force", help="Download and verify again even if installed."),
) -> None:
    """Fetch a known model into the models directory and verify it by sha256 (a no-op when installed)."""
    from orchestrator.models import REGISTRY, is_installed, pull as pull_model

    settings = load_settings()
    spec = REGISTRY.get(name)
    if spec is not None and is_installed(spec, settings) and not force:
        console.print(f"{name} is already installed and verified.")
        return
    with progress_display() as progress:
        path = pull_model(name, settings, progress=progress, force=force)
    console.print(f"[green]Pulled[/] {shown(name)} -> {shown(path)}")


@friendly_errors
def models() -> None:
    """List installed models with size, architecture, quantization, parameters and lineage."""
    from rich.table import Table

    from orchestrator.models import REGISTRY, installed_models

    settings = load_settings()
    rows = installed_models(settings)
    table = Table(title=f"Models in {settings.resolved_models_dir}")
    from orchestrator.bench.measure import format_quant_mix, model_footprint

    table.add_column("name", no_wrap=True)
    for column in ("size", "arch", "quant", "params", "bits/weight", "tensor types", "lineage"):
        table.add_column(column)
    for row in rows:
        if row.info is None:
            table.add_row(row.name, "-", "-", "-", "-", "-", "-", f"[red]unusable: {row.error}[/]")
            continue
        lineage = ", ".join(f"{k}={v}" for k, v in row.info.provenance.items() if k in ("method", "parent"))
        footprint = model_footprint(row.info)
        table.add_row(
            row.name, _human_size(footprint.size_bytes), row.info.architecture, footprint.file_type,
            _human_count(footprint.n_params), f"{footprint.bits_per_weight:.2f}",
            format_quant_mix(footprint.quant_mix), lineage or "-",
        )
    console.print(table)
    missing = sorted(set(REGISTRY) - {row.name for row in rows})
    if missing:
        console.print(f"Not installed yet (use `orchestrator pull NAME`): {', '.join(missing)}")


def register(app: typer.Typer) -> None:
    app.command()(pull)
    app.command()(models)
