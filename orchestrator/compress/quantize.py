"""`orchestrator compress quantize SRC OUT --type T [--calibration TEXT | --imatrix FILE]`.

Quantization is llama.cpp's own (`llama_model_quantize`). With calibration text, the importance
matrix — the mean squared input activation of every weight column, as llama.cpp's tools/imatrix
computes it — is collected by the numpy forward pass and handed to the quantizer through
`llama_model_quantize_params.imatrix` (a NULL-terminated array of `llama_model_imatrix_data` in
llama.h), so no separate llama-imatrix binary is needed. `--imatrix` reads a file in llama-imatrix's
GGUF format (`<tensor>.in_sum2` and `<tensor>.counts`), and `save_imatrix` writes that format
(`orchestrator compress imatrix SRC -o FILE` makes one file for many quantize runs).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from orchestrator.compress import llama_backend
from orchestrator.compress.gguf_io import (
    check_architecture,
    check_distinct,
    provenance,
    read_model,
)
from orchestrator.compress.llama_numpy import ActivationStats
from orchestrator.errors import ConfigError, ModelFileError
from orchestrator.files import atomic_output, sha256_of
from orchestrator.gguf_file import PROVENANCE_PREFIX, inspect_gguf
from orchestrator.progress import Progress


@dataclass
class QuantizeReport:
    """What a quantization produced, including the real per-tensor type mix."""

    path: Path
    qtype: str
    size_bytes: int
    calibrated: bool
    tensor_types: dict[str, int] = field(default_factory=dict)
    mix: dict[str, dict[str, int]] = field(default_factory=dict)  # role (ffn_down, ...) -> type -> count

    def mix_summary(self) -> str:
        """One line per tensor role, e.g. `ffn_down: Q8_0×30` — the fallbacks llama.cpp chose."""
        return "\n".join(
            f"{role}: " + ", ".join(f"{qtype}×{count}" for qtype, count in sorted(types.items()))
            for role, types in sorted(self.mix.items())
        )


def resolve_type(qtype: str) -> tuple[str, int]:
    """Normalise a type name (case-insensitive) and return it with its llama_ftype value."""
    types = llama_backend.quantize_types()
    name = qtype.strip().upper()
    if name not in types:
        raise ConfigError(f"Unknown quantization type {qtype!r}. llama.cpp offers: {', '.join(types)}.")
    return name, types[name]


def imatrix_from_stats(stats: ActivationStats) -> dict[str, np.ndarray]:
    """llama.cpp's importance values: per weight, the mean of x_j² over the calibration tokens."""
    return {name: stats.mean_sq(name) for name in stats.sum_sq}


def save_imatrix(stats: ActivationStats, path: Path, dataset: str = "calibration") -> Path:
    """Write statistics in llama-imatrix's GGUF format, so llama-quantize --imatrix can use them too."""
    import gguf

    with atomic_output(Path(path)) as partial:
        writer = gguf.GGUFWriter(partial, "imatrix")
        del writer.kv_data[0][gguf.Keys.General.ARCHITECTURE]  # llama-imatrix files carry no architecture
        writer.add_string(gguf.Keys.General.TYPE, "imatrix")
        writer.add_array("imatrix.datasets", [dataset])
        for name, sums in sorted(stats.sum_sq.items()):
            writer.add_tensor(f"{name}.in_sum2", sums.astype(np.float32)[None, :])
            writer.add_tensor(f"{name}.counts", np.array([[stats.n_tokens]], dtype=np.float32))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
    return Path(path)


def imatrix_gguf(
    src: Path,
    out: Path,
    calibration: Path | None = None,
    n_chunks: int = 16,
    chunk_len: int = 512,
    progress: Progress | None = None,
) -> int:
    """Compute the importance matrix of `src` on the calibration text and write it to `out` (llama-imatrix's format).

    One file then serves many `quantize --imatrix` runs, as with llama.cpp's llama-imatrix. Returns the token count.
    """
    from orchestrator.compress.calibration import calibrate

    src, out = Path(src).expanduser(), Path(out).expanduser()
    check_distinct(src, out)
    check_architecture(src, inspect_gguf(src).architecture)
    stats = calibrate(read_model(src, progress), calibration, n_chunks, chunk_len, progress)
    dataset = Path(calibration).name if calibration else "calibration.txt (shipped)"
    save_imatrix(stats, out, dataset)
    return stats.n_tokens


def load_imatrix(path: Path) -> dict[str, np.ndarray]:
    """Read a llama-imatrix GGUF file: value_j = in_sum2_j / count (single-expert tensors)."""
    import gguf

    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"Importance matrix {path} does not exist.")
    try:
        reader = gguf.GGUFReader(path)
    except Exception as exc:  # gguf-py raises several types on malformed input
        raise ModelFileError(f"{path} is not a GGUF importance matrix ({exc}); make it with llama-imatrix.") from None
    tensors = {tensor.name: np.asarray(tensor.data, dtype=np.float32) for tensor in reader.tensors}
    result = {}
    for name, sums in tensors.items():
        if name.endswith(".in_sum2"):
            base = name.removesuffix(".in_sum2")
            counts = tensors.get(base + ".counts")
            if counts is None or counts.size != 1:
                raise ModelFileError(
                    f"{path}: {base} has no single .counts entry (mixture-of-experts is not supported)."
                )
            result[base] = (sums.reshape(-1) / max(float(counts.reshape(-1)[0]), 1.0)).astype(np.float32)
    if not result:
        raise ModelFileError(f"{path} holds no `<tensor>.in_sum2` entries: not an importance matrix.")
    return result


def tensor_mix(path: Path) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """Count tensor types overall and per role (the name without `blk.N.` and `.weight`)."""
    import gguf

    reader = gguf.GGUFReader(path)
    overall: Counter = Counter()
    by_role: dict[str, Counter] = defaultdict(Counter)
    for tensor in reader.tensors:
        role = tensor.name.split(".", 2)[-1] if tensor.name.startswith("blk.") else tensor.name
        role = role.removesuffix(".weight")
        overall[tensor.tensor_type.name] += 1
        by_role[role][tensor.tensor_type.name] += 1
    return dict(overall), {role: dict(types) for role, types in by_role.items()}


def _restamp_provenance(quantized: Path, out: Path, keys: dict[str, str]) -> None:
    """Copy `quantized` to `out` with its tensors untouched and the provenance keys replaced.

    llama_model_quantize copies every input key, including the parent's provenance, so the new
    keys are written here, with the raw quantized tensor bytes passed through as they are.
    """
    import gguf

    from orchestrator.compress.gguf_io import metadata_value

    reader = gguf.GGUFReader(quantized)
    arch = str(reader.fields[gguf.Keys.General.ARCHITECTURE].contents())
    writer = gguf.GGUFWriter(out, arch)
    for name, reader_field in reader.fields.items():
        if name.startswith(("GGUF.", PROVENANCE_PREFIX)) or name == gguf.Keys.General.ARCHITECTURE:
            continue
        entry = metadata_value(reader_field)
        writer.add_key_value(name, entry.value, entry.vtype, entry.sub_type)
    for key, value in keys.items():
        writer.add_string(PROVENANCE_PREFIX + key, value)
    for tensor in reader.tensors:
        writer.add_tensor(tensor.name, tensor.data, raw_shape=tensor.data.shape, raw_dtype=tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _parent_provenance_model(src: Path):
    """Just enough of the parent for provenance(): its path and metadata (no tensor data)."""
    import gguf

    from orchestrator.compress.gguf_io import GGUFModel, metadata_value

    reader = gguf.GGUFReader(src)
    metadata = {name: metadata_value(f) for name, f in reader.fields.items() if name.startswith(PROVENANCE_PREFIX)}
    return GGUFModel(Path(src), "", metadata, {})


def quantize_gguf(
    src: Path,
    out: Path,
    qtype: str,
    calibration: Path | None = None,
    imatrix_file: Path | None = None,
    n_chunks: int = 16,
    chunk_len: int = 512,
    threads: int = 0,
    progress: Progress | None = None,
) -> QuantizeReport:
    """Quantize `src` to `qtype` with llama.cpp, optionally with an importance matrix; report the mix.

    `calibration` (a text file) computes the importance matrix here; `imatrix_file` loads one made by
    llama-imatrix (or save_imatrix). Pass at most one of the two. Without calibration any architecture
    llama.cpp's quantizer reads will do (the BERT embedder too).
    """
    src, out = Path(src).expanduser(), Path(out).expanduser()
    check_distinct(src, out)
    name, ftype = resolve_type(qtype)
    if calibration is not None and imatrix_file is not None:
        raise ConfigError("Give either --calibration or --imatrix, not both.")
    info = inspect_gguf(src)
    if calibration is not None:  # the numpy forward pass that calibrates knows llama models only
        check_architecture(src, info.architecture)
    imatrix = None
    parameters: dict = {"type": name}
    if imatrix_file is not None:
        imatrix = load_imatrix(imatrix_file)
        parameters["imatrix"] = {"file": Path(imatrix_file).name, "sha256": sha256_of(Path(imatrix_file))}
    elif calibration is not None:
        from orchestrator.compress.calibration import calibrate

        stats = calibrate(read_model(src, progress), calibration, n_chunks, chunk_len, progress)
        imatrix = imatrix_from_stats(stats)
        parameters["imatrix"] = {
            "calibration": Path(calibration).name,
            "chunks": n_chunks,
            "chunk_len": chunk_len,
            "tokens": stats.n_tokens,
        }
    if progress:
        progress(f"Quantizing to {name}", 0, 1)
    keys = provenance(_parent_provenance_model(src), "quantize", parameters)
    with atomic_output(out) as partial:
        raw = partial.with_name(partial.name + ".raw")
        try:
            llama_backend.quantize_file(src, raw, ftype, imatrix, threads)
            _restamp_provenance(raw, partial, keys)
        finally:
            raw.unlink(missing_ok=True)
        inspect_gguf(partial)
    if progress:
        progress(f"Quantizing to {name}", 1, 1)
    overall, mix = tensor_mix(out)
    return QuantizeReport(out, name, out.stat().st_size, imatrix is not None, overall, mix)


def report_json(report: QuantizeReport) -> str:
    return json.dumps({"type": report.qtype, "size_bytes": report.size_bytes, "mix": report.mix}, indent=1)
