"""`python -m orchestrator ...`: the same command line as the `orchestrator` script."""

from orchestrator.cli import app

app(prog_name="orchestrator")
