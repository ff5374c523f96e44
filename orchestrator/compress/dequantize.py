"""`orchestrator compress dequantize SRC OUT [--type f16|f32]`: any GGUF to F16/F32."""

from __future__ import annotations

from pathlib import Path

from orchestrator.compress.gguf_io import check_distinct, provenance, read_model, write_model
from orchestrator.progress import Progress


def dequantize_gguf(src: Path, out: Path, out_type: str = "f16", progress: Progress | None = None) -> Path:
    """Dequantize every tensor of `src` with gguf-py and write an F16 (or F32) GGUF to `out`."""
    check_distinct(src, out)
    model = read_model(src, progress)
    keys = provenance(model, "dequantize", {"type": out_type})
    return write_model(model, out, out_type, keys, progress)
