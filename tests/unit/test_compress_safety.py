"""Issue 31 items 22-24: compression outputs never replace a model silently, calibration shows its rate and can be
saved once (`compress imatrix`) for many quantize runs, and bad options are refused before the model is read."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from orchestrator.cli import compress as compress_cli
from orchestrator.compress import prune
from orchestrator.config import Settings
from orchestrator.errors import ConfigError
from orchestrator.models import REGISTRY, registry_path
from tests.helpers.tiny_llama import write_tiny_llama


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path / "data"))
    application = typer.Typer()
    compress_cli.register(application)
    return application


@pytest.fixture
def tiny(tmp_path):
    return write_tiny_llama(tmp_path / "tiny.gguf")


def run(app, *args):
    return CliRunner().invoke(app, list(args))


def test_an_existing_output_is_replaced_only_with_force(app, tiny):
    models_dir = Settings().resolved_models_dir
    models_dir.mkdir(parents=True)
    existing = shutil.copy(tiny, models_dir / "mine.gguf")
    before = existing.read_bytes()
    for command in (["quantize", str(tiny), "mine", "--type", "q8_0"], ["dequantize", str(tiny), "mine"]):
        result = run(app, "compress", *command)
        assert result.exit_code == 1, result.output
        assert "already exists" in result.output and "--force" in result.output
        assert existing.read_bytes() == before
    result = run(app, "compress", "quantize", str(tiny), "mine", "--type", "q8_0", "--force")
    assert result.exit_code == 0, result.output
    assert existing.read_bytes() != before


def test_distill_refuses_an_existing_output_before_loading_anything(app, tiny, tmp_path):
    target = tmp_path / "taken.gguf"
    target.write_bytes(b"someone's model")
    result = run(app, "compress", "distill", "--teacher", str(tiny), "--student", str(tiny), "--output", str(target))
    assert result.exit_code == 1 and "already exists" in result.output
    assert target.read_bytes() == b"someone's model"


def test_the_shipped_default_is_neither_replaced_nor_shadowed(app, tiny):
    settings = Settings()
    default = REGISTRY[settings.model]
    result = run(app, "compress", "dequantize", str(tiny), str(registry_path(default, settings)))
    assert result.exit_code == 1 and f"registry model {settings.model}" in result.output
    result = run(app, "compress", "dequantize", str(tiny), settings.model, "--force")
    assert result.exit_code == 1 and "name of a registry model" in result.output
    assert not settings.resolved_models_dir.joinpath(f"{settings.model}.gguf").exists()


def test_sparsity_one_is_refused_before_the_model_is_read(tiny, tmp_path, monkeypatch):
    def must_not_read(*args, **kwargs):
        raise AssertionError("the model was read before the options were checked")

    monkeypatch.setattr(prune, "read_model", must_not_read)
    with pytest.raises(ConfigError, match=r"Sparsity 1.0 is outside \[0, 1\)"):
        prune.prune_gguf(tiny, tmp_path / "out.gguf", "magnitude", sparsity=1.0)


def test_compress_errors_name_no_model_option(app, tmp_path):
    fake = tmp_path / "notes.gguf"
    fake.write_text("these are notes, not a model")
    result = run(app, "compress", "quantize", str(fake), "out", "--type", "q8_0")
    assert result.exit_code == 1 and "not a GGUF file" in result.output
    assert "--model" not in result.output


def test_distill_help_keeps_the_extra_name(app, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    result = run(app, "compress", "distill", "--help")
    assert result.exit_code == 0
    assert "needs the [compress] extra" in result.output


def test_rate_text_gives_tokens_per_second_and_time_left():
    from orchestrator.progress import rate_text

    assert rate_text(1024, 8192, 2.0) == "1,024/8,192 tokens, 512 tokens/s, about 14 s left"
    assert rate_text(8192, 8192, 16.0) == "8,192/8,192 tokens, 512 tokens/s, done in 16 s"
    assert rate_text(0, 8192, 0.0) == "0/8,192 tokens"


def test_calibration_progress_counts_tokens(tiny):
    from orchestrator.compress.calibration import calibrate
    from orchestrator.compress.gguf_io import read_model
    from orchestrator.progress import CALIBRATING

    calls = []
    calibrate(read_model(tiny), None, 3, 16, lambda stage, done, total: calls.append((stage, done, total)))
    assert [call for call in calls if call[0] == CALIBRATING] == [(CALIBRATING, n, 48) for n in (0, 16, 32, 48)]


def test_imatrix_is_computed_once_and_reused_by_quantize(app, tiny, tmp_path):
    from orchestrator.compress.calibration import calibrate
    from orchestrator.compress.gguf_io import read_model
    from orchestrator.compress.quantize import imatrix_from_stats, load_imatrix

    saved = tmp_path / "tiny.imatrix.gguf"
    result = run(app, "compress", "imatrix", str(tiny), "-o", str(saved), "--chunks", "2", "--chunk-len", "32")
    assert result.exit_code == 0, result.output
    assert "64 calibration tokens" in result.output
    assert "Calibrating: 64/64 tokens" in result.output and "tokens/s, done in" in result.output
    expected = imatrix_from_stats(calibrate(read_model(tiny), None, 2, 32))
    loaded = load_imatrix(saved)
    assert loaded.keys() == expected.keys()
    for name in expected:
        np.testing.assert_allclose(loaded[name], expected[name], rtol=1e-5, err_msg=name)

    again = run(app, "compress", "imatrix", str(tiny), "-o", str(saved), "--chunks", "2", "--chunk-len", "32")
    assert again.exit_code == 1 and "already exists" in again.output

    result = run(app, "compress", "quantize", str(tiny), "tiny-q8", "--type", "q8_0", "--imatrix", str(saved))
    assert result.exit_code == 0, result.output
    assert "calibrated with an importance matrix" in result.output
