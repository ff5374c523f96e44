"""`orchestrator compress ...` through the CLI runner: outputs by name land in the models directory."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from orchestrator.cli import compress as compress_cli
from orchestrator.config import Settings
from orchestrator.gguf_file import inspect_gguf
from orchestrator.models import resolve_model
from tests.helpers.tiny_llama import write_tiny_llama


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path / "data"))
    application = typer.Typer()
    compress_cli.register(application)
    return application


def test_quantize_by_name_is_then_resolvable_by_name(app, tmp_path):
    tiny = write_tiny_llama(tmp_path / "tiny.gguf")
    result = CliRunner().invoke(app, ["compress", "quantize", str(tiny), "tiny-q8", "--type", "q8_0"])
    assert result.exit_code == 0, result.output
    assert "ffn_down: Q8_0×2" in result.output
    settings = Settings()
    path = resolve_model("tiny-q8", settings)
    assert path == (settings.resolved_models_dir / "tiny-q8.gguf").resolve()
    assert inspect_gguf(path).provenance["method"] == "quantize"


def test_bad_sparsity_is_one_red_line(app, tmp_path):
    tiny = write_tiny_llama(tmp_path / "tiny.gguf")
    result = CliRunner().invoke(app, ["compress", "prune", str(tiny), "x", "--method", "wanda", "--sparsity", "1.2"])
    assert result.exit_code == 1
    assert "Sparsity 1.2 is outside [0, 1)" in result.output
    assert "Traceback" not in result.output


def test_module_entry_point(tmp_path):
    tiny = write_tiny_llama(tmp_path / "tiny.gguf")
    out = tmp_path / "deq.gguf"
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator", "compress", "dequantize", str(tiny), str(out), "--type", "f16"],
        capture_output=True,
        text=True,
        env={"ORCH_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert inspect_gguf(out).file_type == "F16"
