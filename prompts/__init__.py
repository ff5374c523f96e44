"""The prompt files, shipped inside the wheel as `orchestrator.prompts` (see pyproject.toml)."""
