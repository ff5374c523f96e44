"""Everything read at run time ships inside the wheel and is found without the source checkout."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from orchestrator import resources
from orchestrator.config import Settings

REPO = Path(__file__).resolve().parents[2]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")


def setuptools_config() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_python_folder_of_the_package_is_listed():
    listed = set(setuptools_config()["packages"])
    folders = {
        ".".join(path.parent.relative_to(REPO).parts)
        for path in (REPO / "orchestrator").rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert folders <= listed, f"add to [tool.setuptools] packages: {sorted(folders - listed)}"


def test_prompts_and_data_folders_are_mapped_into_the_package():
    assert setuptools_config()["package-dir"] == {"orchestrator.prompts": "prompts", "orchestrator.data": "data"}


@pytest.mark.parametrize("prompt", sorted(path.name for path in (REPO / "prompts").glob("*.txt")))
def test_shipped_prompts_are_found_through_the_package(prompt):
    assert (resources.prompts_dir() / prompt).read_text() == (REPO / "prompts" / prompt).read_text()
    assert Settings().prompt_text(prompt)


def test_runtime_data_files_are_found_through_the_package():
    assert resources.route_examples_file().read_bytes() == (REPO / "data" / "route_examples.jsonl").read_bytes()
    assert resources.route_classifier_file().read_bytes() == (REPO / "data" / "route_classifier.json").read_bytes()
    shipped = sorted(path.name for path in resources.sample_docs_dir().iterdir() if path.is_file())
    assert shipped == sorted(path.name for path in (REPO / "data" / "sample_docs").iterdir() if path.is_file())
    assert resources.calibration_file().stat().st_size > 100_000
    assert resources.evaluation_file().stat().st_size > 100_000


def test_nothing_under_orchestrator_reads_from_the_checkout():
    offenders = [
        str(path.relative_to(REPO))
        for path in (REPO / "orchestrator").rglob("*.py")
        if "PROJECT_ROOT" in path.read_text() or "parent.parent" in path.read_text()
    ]
    assert offenders == []


def test_prompts_dir_override_still_wins(tmp_path, monkeypatch):
    (tmp_path / "chat_system.txt").write_text("Be brief.")
    monkeypatch.setenv("ORCH_PROMPTS_DIR", str(tmp_path))
    assert Settings().prompt_text("chat_system.txt") == "Be brief."
