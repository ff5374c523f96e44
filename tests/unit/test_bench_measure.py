"""Bench measurements on a tiny random-weights Llama GGUF, checked against direct computations."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from orchestrator.bench import footprint, machine, quality, speed, stats
from orchestrator.errors import ConfigError
from orchestrator.timing import GenerationStats, GenerationTimer
from tests.helpers.tiny_llama import write_tiny_llama

TEXT = (
    "the first time that he was in the city, there were some new things to see: the river, the old "
    "bridge and the market. she would have been there, but it was not her time; they went on. "
) * 40
CTX = 64


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tiny")
    return write_tiny_llama(folder / "a.gguf", seed=0), write_tiny_llama(folder / "b.gguf", seed=1)


def reference_perplexity(path: Path, text: str, n_ctx: int, max_chunks: int) -> tuple[float, int]:
    """llama-perplexity's loop written out: raw llama.cpp logits per window, log-softmax per position."""
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_batch=n_ctx, logits_all=True, verbose=False)
    tokens = llm.tokenize(text.encode(), add_bos=True)
    nll, count = 0.0, 0
    for chunk in range(min(len(tokens) // n_ctx, max_chunks)):
        window = tokens[chunk * n_ctx : (chunk + 1) * n_ctx]
        window[0] = llm.token_bos()  # tiny_llama adds BOS, so llama.cpp puts BOS first in every window
        llm.reset()
        llm.eval(window)
        logits = np.array(llm.scores[:n_ctx], dtype=np.float64)
        for position in range(n_ctx // 2, n_ctx - 1):
            row = logits[position]
            log_z = row.max() + math.log(np.exp(row - row.max()).sum())
            nll += log_z - row[window[position + 1]]
            count += 1
    return math.exp(nll / count), count


def test_perplexity_matches_direct_log_softmax_of_llama_logits(tiny_models):
    expected, count = reference_perplexity(tiny_models[0], TEXT, CTX, max_chunks=3)
    result = quality.measure_quality(tiny_models[0], TEXT, n_ctx=CTX, max_chunks=3)
    assert result.n_windows == 3
    assert result.n_scored_tokens == count == 3 * (CTX - 1 - CTX // 2)
    assert result.perplexity == pytest.approx(expected, rel=1e-5)


def test_kld_of_a_model_against_itself_is_zero_with_full_top_token_agreement(tiny_models, tmp_path):
    quality.measure_quality(tiny_models[0], TEXT, n_ctx=CTX, max_chunks=2, save_logprobs_dir=tmp_path)
    result = quality.measure_quality(tiny_models[0], TEXT, n_ctx=CTX, max_chunks=2, base_logprobs_dir=tmp_path)
    assert result.kld_mean == 0.0
    assert result.kld_p99 == 0.0
    assert result.same_top_fraction == 1.0


def test_kld_between_different_models_is_positive(tiny_models, tmp_path):
    quality.measure_quality(tiny_models[0], TEXT, n_ctx=CTX, max_chunks=2, save_logprobs_dir=tmp_path)
    result = quality.measure_quality(tiny_models[1], TEXT, n_ctx=CTX, max_chunks=2, base_logprobs_dir=tmp_path)
    assert result.kld_mean > 0.01
    assert result.kld_p99 >= result.kld_median
    assert result.same_top_fraction < 1.0


def test_text_shorter_than_one_window_is_refused_with_advice(tiny_models):
    with pytest.raises(ConfigError, match="fewer than one window of 64.*--text.*--ctx"):
        quality.measure_quality(tiny_models[0], "the old bridge", n_ctx=CTX)


def test_speed_sample_counts_and_rss(tiny_models):
    sample = machine.run_in_child(speed.measure_speed, str(tiny_models[0]), TEXT, n_prompt=32, n_generate=8)
    assert sample.prompt_tokens == 32
    assert sample.generated_tokens == 8
    assert sample.prompt_tokens_per_second > 0 and sample.generation_tokens_per_second > 0
    assert 0 < sample.time_to_first_token
    assert sample.peak_rss_bytes >= sample.rss_before_load_bytes > 0


def test_kl_divergence_formula_on_a_known_pair():
    base = np.log(np.array([[0.5, 0.25, 0.25]]))
    other = np.log(np.array([[0.25, 0.5, 0.25]]))
    expected = 0.5 * math.log(2) + 0.25 * math.log(0.5)
    assert quality.kl_divergences(base, other)[0] == pytest.approx(expected)
    assert list(quality.same_top_token(base, other)) == [False]


def test_windows_drop_the_tail_and_respect_max_chunks():
    assert quality.perplexity_windows(200, 64) == [(0, 64), (64, 128), (128, 192)]
    assert quality.perplexity_windows(200, 64, max_chunks=1) == [(0, 64)]
    with pytest.raises(ConfigError, match="even number"):
        quality.perplexity_windows(200, 63)


def test_generation_timer_measures_tokens_and_first_token():
    ticks = iter([10.0, 10.5, 11.0])  # start, first item, end
    timer = GenerationTimer(clock=lambda: next(ticks))
    assert list(timer.wrap(["a", "b", "c", "d"])) == ["a", "b", "c", "d"]
    stats = timer.stats
    assert (stats.tokens, stats.seconds, stats.time_to_first_token) == (4, 1.0, 0.5)
    assert stats.tokens_per_second == 6.0  # 3 tokens after the first, in the 0.5 s after it
    assert stats.summary() == "4 tokens in 1.00 s (6.0 tok/s, first token 0.50 s)"
    assert GenerationStats(tokens=10, seconds=2.0).tokens_per_second == 5.0


def test_spread_reports_median_and_range():
    spread = stats.Spread.of([3.0, 1.0, 2.0])
    assert (spread.median, spread.low, spread.high) == (2.0, 1.0, 3.0)
    assert spread.relative_spread == 1.0


def test_footprint_from_gguf_header(tiny_models):
    from orchestrator.gguf_file import inspect_gguf

    info = inspect_gguf(tiny_models[0])
    size = footprint.model_footprint(info)
    assert size.n_params == info.n_params
    assert size.quant_mix == {"F32": info.n_tensors}
    assert 32 < size.bits_per_weight < 40  # F32 weights plus the header and vocabulary
    assert footprint.format_quant_mix({"Q4_1": 169, "F32": 61}) == "Q4_1×169 F32×61"


def test_memory_bandwidth_is_positive():
    result = machine.measure_memory_bandwidth(array_bytes=8 << 20, threads=2, repeats=2)
    assert result.read_gb_per_s > 0.1 and result.copy_gb_per_s > 0.1
