"""ORCH_N_CTX is checked against the model's trained context and free memory before llama.cpp loads (issue 14, item 7)."""

import numpy as np
import pytest

from orchestrator import Settings
from orchestrator.errors import ConfigError
from orchestrator.gguf_file import inspect_gguf
from orchestrator.llm import check_context_fits, llamacpp_chat_model


def write_decoder_gguf(path, context_length=8192):
    """A small GGUF with the attention keys llama.cpp sizes its KV cache from (30 layers, 3 KV heads of 64)."""
    import gguf

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-decoder")
    writer.add_context_length(context_length)
    writer.add_block_count(30)
    writer.add_embedding_length(576)
    writer.add_head_count(9)
    writer.add_head_count_kv(3)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tensor("token_embd.weight", np.zeros((8, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_the_kv_cache_size_per_token_is_read_from_the_file(tmp_path):
    info = inspect_gguf(write_decoder_gguf(tmp_path / "m.gguf"))
    assert info.context_length == 8192
    assert info.kv_bytes_per_token == 30 * 3 * (64 + 64) * 2  # SmolLM2-135M's shape: 23,040 bytes


def test_a_context_beyond_the_trained_one_is_refused_with_the_numbers(tmp_path):
    info = inspect_gguf(write_decoder_gguf(tmp_path / "m.gguf"))
    with pytest.raises(
        ConfigError, match=r"ORCH_N_CTX=1,000,000 is more than the 8,192 tokens tiny-decoder was trained with"
    ):
        check_context_fits(info, 1_000_000)


def test_a_context_whose_cache_does_not_fit_in_free_memory_is_refused(tmp_path, monkeypatch):
    info = inspect_gguf(write_decoder_gguf(tmp_path / "m.gguf", context_length=1 << 20))
    monkeypatch.setattr("orchestrator.llm.available_memory_bytes", lambda: 2 * 10**9)
    with pytest.raises(
        ConfigError, match=r"needs about 23\.\d GB .* only 2\.0 GB is available: set ORCH_N_CTX to [\d,]+ or less"
    ):
        check_context_fits(info, 1_000_000)
    check_context_fits(info, 2048)  # 47 MB of cache fits


def test_the_check_runs_before_llama_cpp_loads(tmp_path, monkeypatch):
    model = write_decoder_gguf(tmp_path / "m.gguf")

    def must_not_load(*args, **kwargs):
        raise AssertionError("llama.cpp was asked to load the model")

    monkeypatch.setattr("orchestrator.llm._load_chat_model", must_not_load)
    with pytest.raises(ConfigError, match="trained with"):
        llamacpp_chat_model(Settings(data_dir=tmp_path, n_ctx=1_000_000), model_path=model)


def test_ask_with_a_huge_context_is_one_clear_line(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from orchestrator.cli import app

    model = write_decoder_gguf(tmp_path / "m.gguf")
    monkeypatch.setenv("ORCH_N_CTX", "1000000")
    result = CliRunner().invoke(app, ["ask", "--model", str(model), "--route", "chat", "hello"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "trained with: set ORCH_N_CTX to 8,192 or less" in " ".join(result.output.split())
