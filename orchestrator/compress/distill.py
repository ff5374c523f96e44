"""`orchestrator compress distill --teacher T --student S --output OUT ...`: knowledge distillation in torch.

The loss is the seed's, exactly:

    L = α · H(y, σ(z_s; T=1)) + β · H(σ(z_t; T=τ), σ(z_s; T=τ))

with y the next token of the training text, z_s / z_t the student / teacher logits, σ(z; T) = softmax(z/T)
and H(p, q) = −Σ p log q averaged over positions. No τ² factor is applied. Hinton et al. (2015,
"Distilling the Knowledge in a Neural Network", §2) multiply the soft term (the β term) by τ² because its
gradients scale as 1/τ²; with this loss that factor is folded into β: pass β·τ² to reproduce their
weighting. H(p_t, q_s) = KL(p_t‖q_s) + H(p_t), so its gradients equal the KL's. β = 0 is plain fine-tuning.

The model is Hugging Face transformers' `LlamaForCausalLM` (the reference implementation), built from
the GGUF tensors read by gguf-py. The tensor mapping is written here, in both directions, because the
trained student must go back to GGUF: llama.cpp's converter permutes the rows of attn_q/attn_k
(convert_hf_to_gguf.py, LlamaModel.permute) so that its pair-wise RoPE matches HF's rotate_half; we undo
that on the way in and redo it on the way out. Before training, the torch student must agree with
llama.cpp on the top-1 token at ≥ 99% of a few hundred positions, or nothing is trained.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from gguf import Keys

from orchestrator.compress import llama_backend
from orchestrator.compress.gguf_io import GGUFModel, check_distinct, provenance, read_model, write_model
from orchestrator.errors import ConfigError, OrchestratorError
from orchestrator.files import sha256_of
from orchestrator.progress import (
    CHECKING_AGREEMENT,
    DISTILLING,
    EVALUATING_AFTER,
    EVALUATING_BEFORE,
    Progress,
)

MIN_AGREEMENT = 0.99


@dataclass
class DistillConfig:
    """Training hyperparameters; the defaults fit a ~100-step run of a 135M model on 2 CPU cores."""

    steps: int = 100
    alpha: float = 0.5
    beta: float = 0.5
    temperature: float = 2.0
    batch: int = 4
    seq_len: int = 128
    lr: float = 5e-5
    weight_decay: float = 0.0
    freeze_embeddings: bool = True
    threads: int | None = None
    seed: int = 0
    check_positions: int = 256
    eval_sequences: int = 4


@dataclass
class DistillReport:
    """Losses before/after on held-out sequences, the agreement check, and timings."""

    path: Path
    agreement_student: float
    agreement_teacher: float
    max_abs_logit_diff: float
    before: dict[str, float] = field(default_factory=dict)  # hard, soft, total on held-out sequences
    after: dict[str, float] = field(default_factory=dict)
    train_losses: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        fmt = lambda d: ", ".join(f"{k} {v:.4f}" for k, v in d.items())  # noqa: E731
        return (
            f"torch vs llama.cpp top-1 agreement: student {self.agreement_student:.1%}, teacher "
            f"{self.agreement_teacher:.1%} (max |Δlogit| {self.max_abs_logit_diff:.3f})\n"
            f"held-out loss before: {fmt(self.before)}\nheld-out loss after:  {fmt(self.after)}\n"
            f"{len(self.train_losses)} steps in {self.seconds:.0f} s"
        )


def distillation_loss(student_logits, teacher_logits, targets, alpha: float, beta: float, temperature: float):
    """α·H(y, σ(z_s)) + β·H(σ(z_t/τ), σ(z_s/τ)), averaged over positions; returns (total, hard, soft)."""
    import torch
    import torch.nn.functional as F

    vocab = student_logits.shape[-1]
    hard = F.cross_entropy(student_logits.reshape(-1, vocab), targets.reshape(-1))
    if beta == 0.0 or teacher_logits is None:
        soft = torch.zeros((), dtype=hard.dtype)
    else:
        teacher_probs = F.softmax(teacher_logits.reshape(-1, vocab) / temperature, dim=-1)
        student_logprobs = F.log_softmax(student_logits.reshape(-1, vocab) / temperature, dim=-1)
        soft = -(teacher_probs * student_logprobs).sum(dim=-1).mean()
    return alpha * hard + beta * soft, hard, soft


# --------------------------------------------------------------------------- GGUF <-> transformers


def _permute(weight: np.ndarray, n_head: int) -> np.ndarray:
    """HF -> GGUF row order of q/k (convert_hf_to_gguf.py, LlamaModel.permute)."""
    return (
        weight.reshape(n_head, 2, weight.shape[0] // n_head // 2, *weight.shape[1:])
        .swapaxes(1, 2)
        .reshape(weight.shape)
    )


def _unpermute(weight: np.ndarray, n_head: int) -> np.ndarray:
    """GGUF -> HF row order of q/k: the inverse of `_permute`."""
    return (
        weight.reshape(n_head, weight.shape[0] // n_head // 2, 2, *weight.shape[1:])
        .swapaxes(1, 2)
        .reshape(weight.shape)
    )


_BLOCK_MAP = {
    "attn_norm": "input_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}


def _heads(model: GGUFModel) -> tuple[int, int]:
    n_head = int(model.hparam(Keys.Attention.HEAD_COUNT))
    return n_head, int(model.hparam(Keys.Attention.HEAD_COUNT_KV, n_head))


def hf_config(model: GGUFModel):
    """A transformers LlamaConfig with the GGUF's hyperparameters (shapes read from the tensors)."""
    from transformers import LlamaConfig

    n_head, n_head_kv = _heads(model)
    n_embd = int(model.hparam(Keys.LLM.EMBEDDING_LENGTH))
    return LlamaConfig(  # type: ignore[call-arg]  # rope_theta is read from **kwargs
        vocab_size=model.tensors["token_embd.weight"].shape[0],
        hidden_size=n_embd,
        intermediate_size=model.tensors["blk.0.ffn_up.weight"].shape[0],
        num_hidden_layers=model.n_layers,
        num_attention_heads=n_head,
        num_key_value_heads=n_head_kv,
        head_dim=n_embd // n_head,
        max_position_embeddings=int(model.hparam(Keys.LLM.CONTEXT_LENGTH, 2048)),
        rms_norm_eps=float(model.hparam(Keys.Attention.LAYERNORM_RMS_EPS, 1e-5)),
        rope_theta=float(model.hparam(Keys.Rope.FREQ_BASE, 10000.0)),
        tie_word_embeddings="output.weight" not in model.tensors,
        hidden_act="silu",
        attention_bias=False,
        mlp_bias=False,
    )


def to_hf_state_dict(model: GGUFModel) -> dict[str, np.ndarray]:
    """GGUF tensor names and layouts -> LlamaForCausalLM's state dict (numpy)."""
    n_head, n_head_kv = _heads(model)
    state = {
        "model.embed_tokens.weight": model.tensors["token_embd.weight"],
        "model.norm.weight": model.tensors["output_norm.weight"],
    }
    if "output.weight" in model.tensors:
        state["lm_head.weight"] = model.tensors["output.weight"]
    for block in range(model.n_layers):
        for gguf_name, hf_name in _BLOCK_MAP.items():
            weight = model.tensors[f"blk.{block}.{gguf_name}.weight"]
            if gguf_name == "attn_q":
                weight = _unpermute(weight, n_head)
            elif gguf_name == "attn_k":
                weight = _unpermute(weight, n_head_kv)
            state[f"model.layers.{block}.{hf_name}.weight"] = weight
    return state


def from_hf_state_dict(model: GGUFModel, state: dict[str, np.ndarray]) -> None:
    """Write trained weights back into `model.tensors` (the inverse of to_hf_state_dict)."""
    n_head, n_head_kv = _heads(model)
    model.tensors["token_embd.weight"] = state["model.embed_tokens.weight"]
    model.tensors["output_norm.weight"] = state["model.norm.weight"]
    if "output.weight" in model.tensors:
        model.tensors["output.weight"] = state["lm_head.weight"]
    for block in range(model.n_layers):
        for gguf_name, hf_name in _BLOCK_MAP.items():
            weight = state[f"model.layers.{block}.{hf_name}.weight"]
            if gguf_name == "attn_q":
                weight = _permute(weight, n_head)
            elif gguf_name == "attn_k":
                weight = _permute(weight, n_head_kv)
            model.tensors[f"blk.{block}.{gguf_name}.weight"] = np.ascontiguousarray(weight, dtype=np.float32)


def build_torch_model(model: GGUFModel):
    """LlamaForCausalLM (float32, CPU) holding the GGUF model's weights."""
    import torch
    from transformers import LlamaForCausalLM

    torch_model = LlamaForCausalLM(hf_config(model))
    state = {name: torch.tensor(array, dtype=torch.float32) for name, array in to_hf_state_dict(model).items()}
    missing, unexpected = torch_model.load_state_dict(state, strict=False)
    missing = [name for name in missing if not (name == "lm_head.weight" and torch_model.config.tie_word_embeddings)]
    if missing or unexpected:
        raise OrchestratorError(f"GGUF -> transformers mapping incomplete: missing {missing}, unexpected {unexpected}.")
    if torch_model.config.tie_word_embeddings:
        torch_model.tie_weights()
    return torch_model.float()


def trained_state(torch_model) -> dict[str, np.ndarray]:
    return {name: tensor.detach().float().numpy() for name, tensor in torch_model.state_dict().items()}


# --------------------------------------------------------------------------- checks and data


def check_agreement(torch_model, gguf_path: Path, tokens: list[int], threads: int | None) -> tuple[float, float]:
    """Top-1 agreement and max |Δlogit| between the torch model and llama.cpp on the same tokens."""
    import torch

    reference = llama_backend.logits(gguf_path, tokens, threads=threads)
    with torch.no_grad():
        ours = torch_model(torch.tensor([tokens])).logits[0].numpy()
    return float((reference.argmax(-1) == ours.argmax(-1)).mean()), float(np.abs(reference - ours).max())


def check_vocabularies(teacher: GGUFModel, student: GGUFModel) -> None:
    t_vocab, s_vocab = teacher.vocabulary(), student.vocabulary()
    if (
        t_vocab != s_vocab
        or teacher.tensors["token_embd.weight"].shape[0] != student.tensors["token_embd.weight"].shape[0]
    ):
        raise ConfigError(
            f"Teacher and student vocabularies differ ({len(t_vocab)} vs {len(s_vocab)} tokens, or different "
            "tokens): soft labels need one tokenizer. Use a student derived from the teacher (prune/quantize it)."
        )


def training_windows(tokens: list[int], seq_len: int, n_eval: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping windows of seq_len+1 tokens: the last n_eval are held out for evaluation."""
    n = len(tokens) // (seq_len + 1)
    if n < n_eval + 1:
        raise ConfigError(
            f"The training text has {len(tokens)} tokens: too few for {n_eval + 1} sequences of {seq_len + 1}. "
            "Give a longer --text or a smaller --seq-len."
        )
    windows = np.asarray(tokens[: n * (seq_len + 1)], dtype=np.int64).reshape(n, seq_len + 1)
    return windows[: n - n_eval], windows[n - n_eval :]


def evaluate_losses(
    student, teacher, windows: np.ndarray, config: DistillConfig, progress: Progress | None = None, stage: str = ""
) -> dict[str, float]:
    """Hard and soft cross-entropy on the held-out windows, one window at a time (progress counts tokens)."""
    import torch

    hard_sum = soft_sum = 0.0
    total = windows.shape[0] * (windows.shape[1] - 1)
    if progress:
        progress(stage, 0, total)
    with torch.no_grad():
        for index, window in enumerate(windows):
            inputs = torch.from_numpy(window[None, :-1])
            targets = torch.from_numpy(window[None, 1:])
            _, hard, soft = distillation_loss(
                student(inputs).logits,
                teacher(inputs).logits,
                targets,
                config.alpha,
                config.beta or 1.0,
                config.temperature,
            )
            hard_sum, soft_sum = hard_sum + float(hard), soft_sum + float(soft)
            if progress:
                progress(stage, (index + 1) * (windows.shape[1] - 1), total)
    # Windows have equal lengths, so the mean of their means is the mean over all positions.
    # The soft term is reported even for β = 0 (with β = 1 in the formula), so runs can be compared.
    return {"hard CE": hard_sum / len(windows), "soft CE (τ)": soft_sum / len(windows)}


# --------------------------------------------------------------------------- the step


def distill_gguf(
    teacher_path: Path,
    student_path: Path,
    out: Path,
    text: Path | None = None,
    config: DistillConfig | None = None,
    progress: Progress | None = None,
) -> DistillReport:
    """Train the student on the frozen teacher's soft labels and the text's next tokens; write it to `out`."""
    config = config or DistillConfig()
    _check_config(config)
    try:
        import torch
    except ImportError:
        raise OrchestratorError(
            "Distillation needs torch and transformers: pip install 'orchestrator[compress]' (torch==2.13.0)."
        ) from None
    from orchestrator.compress.calibration import read_text

    student_path, out = Path(student_path).expanduser(), Path(out).expanduser()
    check_distinct(student_path, out)
    check_distinct(teacher_path, out)
    started = time.perf_counter()
    teacher_gguf = read_model(teacher_path, progress)
    student_gguf = read_model(student_path, progress)
    check_vocabularies(teacher_gguf, student_gguf)
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    teacher = build_torch_model(teacher_gguf).eval()
    student = build_torch_model(student_gguf)
    del teacher_gguf.tensors

    tokens = llama_backend.tokenize(student_path, read_text(text), add_bos=True)
    check_tokens = tokens[: config.check_positions]
    if progress:
        progress(CHECKING_AGREEMENT, 0, 2 * len(check_tokens))
    agree_s, diff_s = check_agreement(student.eval(), student_path, check_tokens, config.threads)
    if progress:
        progress(CHECKING_AGREEMENT, len(check_tokens), 2 * len(check_tokens))
    agree_t, _ = check_agreement(teacher, Path(teacher_path), check_tokens, config.threads)
    if progress:
        progress(CHECKING_AGREEMENT, 2 * len(check_tokens), 2 * len(check_tokens))
    if min(agree_s, agree_t) < MIN_AGREEMENT:
        raise OrchestratorError(
            f"The torch model disagrees with llama.cpp (top-1 agreement student {agree_s:.1%}, teacher {agree_t:.1%}, "
            f"need {MIN_AGREEMENT:.0%}). Use F16/F32 models (`orchestrator compress dequantize`) as teacher and student."
        )
    train, held_out = training_windows(tokens, config.seq_len, config.eval_sequences)
    before = evaluate_losses(student, teacher, held_out, config, progress, EVALUATING_BEFORE)
    losses = _train(student, teacher, train, config, progress)
    after = evaluate_losses(student.eval(), teacher, held_out, config, progress, EVALUATING_AFTER)

    from_hf_state_dict(student_gguf, trained_state(student))
    parameters: dict[str, Any] = {
        "steps": config.steps,
        "alpha": config.alpha,
        "beta": config.beta,
        "temperature": config.temperature,
        "batch": config.batch,
        "seq_len": config.seq_len,
        "lr": config.lr,
        "freeze_embeddings": config.freeze_embeddings,
        "teacher_file": Path(teacher_path).name,
        "teacher_sha256": sha256_of(Path(teacher_path)),
        "text": Path(text).name if text else "calibration.txt (shipped)",
    }
    keys = provenance(student_gguf, "distill" if config.beta > 0 else "finetune", parameters)
    write_model(student_gguf, out, "f16", keys, progress)
    return DistillReport(out, agree_s, agree_t, diff_s, before, after, losses, time.perf_counter() - started)


def _check_config(config: DistillConfig) -> None:
    if config.alpha < 0 or config.beta < 0 or config.alpha + config.beta == 0:
        raise ConfigError("--alpha and --beta must be ≥ 0 and not both 0.")
    if config.temperature <= 0:
        raise ConfigError("--temperature must be > 0.")
    if config.steps < 1 or config.batch < 1 or config.seq_len < 8:
        raise ConfigError("--steps and --batch must be ≥ 1 and --seq-len ≥ 8.")


def _train(student, teacher, windows: np.ndarray, config: DistillConfig, progress: Progress | None) -> list[float]:
    import torch

    if config.freeze_embeddings:
        student.get_input_embeddings().weight.requires_grad_(False)  # tied models also freeze the output head
    trainable = [p for p in student.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
    generator = np.random.default_rng(config.seed)
    student.train()
    losses = []
    tokens_per_step = min(config.batch, len(windows)) * config.seq_len
    if progress:
        progress(DISTILLING, 0, config.steps * tokens_per_step)
    for step in range(config.steps):
        batch = windows[generator.choice(len(windows), size=min(config.batch, len(windows)), replace=False)]
        inputs, targets = torch.from_numpy(batch[:, :-1]), torch.from_numpy(batch[:, 1:])
        teacher_logits = None
        if config.beta > 0:
            with torch.no_grad():
                teacher_logits = teacher(inputs).logits
        loss, _, _ = distillation_loss(
            student(inputs).logits, teacher_logits, targets, config.alpha, config.beta, config.temperature
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if not math.isfinite(losses[-1]):
            raise OrchestratorError(f"The loss diverged at step {step + 1}; lower --lr.")
        if progress:
            progress(DISTILLING, (step + 1) * tokens_per_step, config.steps * tokens_per_step)
    return losses
