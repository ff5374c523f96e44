"""Distillation on tiny random Llamas: exact loss, GGUF <-> transformers mapping, training, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from gguf import Keys

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from orchestrator.compress import llama_backend  # noqa: E402
from orchestrator.compress.distill import (  # noqa: E402
    DistillConfig,
    _permute,
    _unpermute,
    distill_gguf,
    distillation_loss,
)
from orchestrator.compress.gguf_io import read_model  # noqa: E402
from orchestrator.compress.prune import prune_gguf  # noqa: E402
from orchestrator.errors import ConfigError  # noqa: E402
from orchestrator.gguf_file import inspect_gguf  # noqa: E402
from tests.helpers.tiny_llama import write_tiny_llama  # noqa: E402

FAST = DistillConfig(steps=6, lr=3e-3, seq_len=32, batch=4, threads=1, check_positions=128, eval_sequences=2)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("distill")
    teacher = write_tiny_llama(folder / "teacher.gguf")
    student = prune_gguf(
        teacher, folder / "student.gguf", "ffn", ratio=0.5, n_chunks=2, chunk_len=64, out_type="f32"
    ).path
    return teacher, student


def test_loss_is_the_seed_formula_exactly():
    rng = np.random.default_rng(0)
    zs, zt = rng.standard_normal((2, 3, 5)), rng.standard_normal((2, 3, 5))
    y = rng.integers(0, 5, (2, 3))
    alpha, beta, tau = 0.3, 0.7, 2.5

    def softmax(z):
        e = np.exp(z - z.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    hard = -np.mean(np.log(np.take_along_axis(softmax(zs), y[..., None], -1)))
    soft = -np.mean(np.sum(softmax(zt / tau) * np.log(softmax(zs / tau)), -1))
    total, _, _ = distillation_loss(torch.tensor(zs), torch.tensor(zt), torch.tensor(y), alpha, beta, tau)
    assert float(total) == pytest.approx(alpha * hard + beta * soft, rel=1e-6)


def test_qk_permutation_round_trips():
    weight = np.arange(8 * 3 * 4, dtype=np.float32).reshape(24, 4)
    np.testing.assert_array_equal(_permute(_unpermute(weight, 3), 3), weight)
    assert not np.array_equal(_unpermute(weight, 3), weight)


def test_kd_lowers_the_soft_loss_and_writes_a_loadable_student(models, tmp_path):
    teacher, student = models
    config = DistillConfig(**{**FAST.__dict__, "alpha": 0.0, "beta": 1.0})
    report = distill_gguf(teacher, student, tmp_path / "distilled.gguf", None, config)
    assert report.agreement_student >= 0.99 and report.agreement_teacher >= 0.99
    assert report.after["soft CE (τ)"] < report.before["soft CE (τ)"]
    trained, original = read_model(report.path), read_model(student)
    assert trained.hparam(Keys.LLM.FEED_FORWARD_LENGTH) == original.hparam(Keys.LLM.FEED_FORWARD_LENGTH)
    assert not np.allclose(trained.tensors["blk.0.ffn_up.weight"], original.tensors["blk.0.ffn_up.weight"])
    provenance = inspect_gguf(report.path).provenance
    assert provenance["method"] == "distill"
    assert json.loads(provenance["parameters"])["teacher_file"] == "teacher.gguf"
    with llama_backend.load(report.path, n_ctx=64) as llm:
        assert isinstance(llm("the", max_tokens=3, temperature=0)["choices"][0]["text"], str)


def test_untrained_round_trip_keeps_weights(models, tmp_path):
    """A step with lr=0 writes back exactly the student's weights (the q/k permutation is undone and redone)."""
    teacher, student = models
    config = DistillConfig(**{**FAST.__dict__, "steps": 1, "lr": 0.0})
    report = distill_gguf(teacher, student, tmp_path / "same.gguf", None, config)
    written, original = read_model(report.path), read_model(student)
    for name, array in original.tensors.items():
        np.testing.assert_allclose(written.tensors[name], array, atol=2e-3, rtol=1e-3, err_msg=name)


def test_vocabulary_mismatch_is_refused(models, tmp_path):
    teacher, _ = models
    other = write_tiny_llama(tmp_path / "other.gguf", vocab_size=400)
    with pytest.raises(ConfigError, match="vocabularies differ"):
        distill_gguf(teacher, other, tmp_path / "out.gguf", None, FAST)
    assert not (tmp_path / "out.gguf").exists()


def test_bad_hyperparameters(models, tmp_path):
    teacher, student = models
    with pytest.raises(ConfigError, match="temperature"):
        distill_gguf(teacher, student, tmp_path / "o.gguf", None, DistillConfig(temperature=0))
    with pytest.raises(ConfigError, match="not both 0"):
        distill_gguf(teacher, student, tmp_path / "o.gguf", None, DistillConfig(alpha=0, beta=0))


def test_check_and_evaluation_phases_report_token_progress(models, tmp_path):
    """Issue 31 item 23: every phase, not only training, reports tokens so the CLI can show a rate and time left."""
    from orchestrator.progress import CHECKING_AGREEMENT, DISTILLING, EVALUATING_AFTER, EVALUATING_BEFORE

    teacher, student = models
    calls: list[tuple[str, int, int]] = []
    config = DistillConfig(**{**FAST.__dict__, "steps": 2})
    distill_gguf(teacher, student, tmp_path / "p.gguf", None, config, lambda *call: calls.append(call))
    last = {stage: (done, total) for stage, done, total in calls}
    assert last[CHECKING_AGREEMENT] == (2 * 128, 2 * 128)
    assert last[EVALUATING_BEFORE] == last[EVALUATING_AFTER] == (2 * 32, 2 * 32)
    assert last[DISTILLING] == (2 * 4 * 32, 2 * 4 * 32)
    stages = list(dict.fromkeys(stage for stage, _, _ in calls if not stage.startswith(("Reading", "Writing"))))
    assert stages == [CHECKING_AGREEMENT, EVALUATING_BEFORE, DISTILLING, EVALUATING_AFTER]
