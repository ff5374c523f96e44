"""Size facts of a GGUF model, for the bench table and `orchestrator models`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class ModelFootprint:
    """Size facts from the GGUF header: what `orchestrator models` and the bench table show."""

    size_bytes: int
    n_params: int
    bits_per_weight: float
    file_type: str
    quant_mix: dict[str, int]  # tensor type -> number of tensors


def model_footprint(info: Any) -> ModelFootprint:
    """Footprint from an orchestrator.gguf_file.GGUFInfo (file bits per parameter, as llama.cpp's BPW)."""
    bpw = info.size_bytes * 8 / info.n_params if info.n_params else 0.0
    mix = dict(sorted(info.tensor_types.items(), key=lambda item: (-item[1], item[0])))
    return ModelFootprint(info.size_bytes, info.n_params, bpw, info.file_type, mix)


def format_quant_mix(mix: dict[str, int]) -> str:
    """'Q4_1×169 F32×61 Q6_K×1': tensor counts per type, commonest first."""
    return " ".join(f"{name}×{count}" for name, count in mix.items())
