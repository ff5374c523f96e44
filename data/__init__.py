"""Runtime data shipped inside the wheel as `orchestrator.data` (see pyproject.toml)."""
