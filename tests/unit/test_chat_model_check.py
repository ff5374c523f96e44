"""Issue 31 items 21 and 24: a model that cannot chat is refused from its header, and model-file advice leads somewhere."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.config import Settings
from orchestrator.errors import ConfigError, ModelFileError
from orchestrator.gguf_file import check_header


def write_embedding_gguf(path: Path, architecture: str = "bert") -> Path:
    """A header-valid GGUF of an encoder (no language-model head), with a 512-token trained context."""
    import gguf

    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_name("tiny encoder")
    writer.add_context_length(512)
    writer.add_block_count(1)
    writer.add_embedding_length(8)
    writer.add_head_count(2)
    writer.add_tensor("token_embd.weight", np.zeros((16, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ORCH_N_CTX", "2048")  # more than the encoder's 512: the old code advised lowering it
    return tmp_path


@pytest.mark.parametrize("architecture", ["bert", "nomic-bert"])
def test_the_chat_model_loader_refuses_an_embedding_model_before_llama_cpp(data_dir, architecture):
    from orchestrator.llm import llamacpp_chat_model

    path = write_embedding_gguf(data_dir / f"{architecture}.gguf", architecture)
    with pytest.raises(ConfigError, match=f"'{architecture}' embedding model.*cannot chat"):
        llamacpp_chat_model(Settings(), path)


def test_ask_with_an_embedding_model_is_one_clear_line(data_dir):
    path = write_embedding_gguf(data_dir / "encoder.gguf")
    result = CliRunner().invoke(app, ["ask", "--model", str(path), "Who wrote the tide tables?"])
    assert result.exit_code == 1
    assert "encoder.gguf is a 'bert' embedding model" in result.output
    assert "ORCH_N_CTX" not in result.output and "Traceback" not in result.output


def test_bench_refuses_an_embedding_model(data_dir):
    from orchestrator.bench import run_bench

    path = write_embedding_gguf(data_dir / "encoder.gguf")
    with pytest.raises(ConfigError, match="embedding model"):
        run_bench([("encoder", path)], "Some text to measure. " * 50)


def test_a_missing_model_file_is_not_told_to_delete_it(tmp_path):
    with pytest.raises(ModelFileError) as error:
        check_header(tmp_path / "absent.gguf")
    assert "does not exist" in str(error.value)
    assert "Delete" not in str(error.value)


def test_damaged_file_advice_names_no_option_that_a_command_may_lack(tmp_path):
    path = tmp_path / "notes.gguf"
    path.write_bytes(b"not a model at all")
    with pytest.raises(ModelFileError) as error:
        check_header(path)
    assert "--model" not in str(error.value)


def test_a_registry_embedding_model_is_refused_before_it_is_pulled(data_dir):
    result = CliRunner().invoke(app, ["ask", "--model", "all-minilm-l6-v2", "Who wrote the tide tables?"])
    assert result.exit_code == 1
    assert "all-minilm-l6-v2 is an embedding model: it turns text into vectors and cannot chat" in result.output
    assert not (data_dir / "data" / "models").exists() or not any((data_dir / "data" / "models").iterdir())
