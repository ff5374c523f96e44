"""`python -m orchestrator ...`: the same command line as the `orchestrator` script."""

from orchestrator.cli.entry import main

main()
