"""Files the package reads at run time: prompts, the route set, sample documents, calibration text.

They live at the top of the repository (`prompts/`, `data/`) and ship inside the wheel as the
packages `orchestrator.prompts` and `orchestrator.data` (pyproject.toml maps the folders), so they
are found through importlib.resources, whether the project runs from a checkout, an editable
install, a wheel, pipx or a Docker image, and whatever the current directory.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from orchestrator.errors import ConfigError


def _on_disk(package: str, *parts: str) -> Path:
    """A shipped file or folder as a real path (pip, pipx and uv install packages unpacked)."""
    resource = files(package).joinpath(*parts)
    path = Path(str(resource))
    if not path.exists():
        raise ConfigError(
            f"The installed package is missing {'/'.join((package, *parts))}; reinstall orchestrator "
            "(pip install --force-reinstall orchestrator) or build the wheel from a complete checkout."
        )
    return path


def prompts_dir() -> Path:
    """The folder of shipped prompt files (prompts/ in the repository)."""
    return _on_disk("orchestrator.prompts")


def route_examples_file() -> Path:
    """The labelled route set the route classifier learns from (data/route_examples.jsonl)."""
    return _on_disk("orchestrator.data", "route_examples.jsonl")


def route_classifier_file() -> Path:
    """The route classifier trained on the default embedder (data/route_classifier.json)."""
    return _on_disk("orchestrator.data", "route_classifier.json")


def sample_docs_dir() -> Path:
    """The sample documents the first chat ingests (data/sample_docs/)."""
    return _on_disk("orchestrator.data", "sample_docs")


def calibration_file() -> Path:
    """The shipped calibration text for quantization, pruning and distillation."""
    return _on_disk("orchestrator.data", "calibration", "calibration.txt")


def evaluation_file() -> Path:
    """The shipped held-out text the compression benchmark measures perplexity on."""
    return _on_disk("orchestrator.data", "calibration", "evaluation.txt")
