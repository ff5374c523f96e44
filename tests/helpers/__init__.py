"""Shared test helpers (small real artefacts built inside the test run)."""
