"""Read a GGUF model into float32 numpy arrays and write one back, with metadata and provenance.

Every compression step is GGUF in, GGUF out: `read_model` dequantizes every tensor with gguf-py
(`gguf.quants.dequantize`), the step edits `GGUFModel.tensors` and a few metadata keys, and
`write_model` copies every other metadata key byte for byte (tokenizer, chat template, ...) through
`GGUFWriter`, adds the `orchestrator.compress.*` provenance keys and renames a complete, validated file
into place, so a failure never leaves a partial output.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from gguf import Keys

from orchestrator.errors import ConfigError, ModelFileError
from orchestrator.files import atomic_output, sha256_of
from orchestrator.gguf_file import PROVENANCE_PREFIX, ProvenanceKeys, inspect_gguf
from orchestrator.progress import Progress

SUPPORTED_ARCHITECTURES = ("llama",)
OUTPUT_TYPES = ("f16", "f32")
# Keys gguf-py's reader synthesises from the header, and keys GGUFWriter writes itself.
_NOT_COPIED = ("GGUF.version", "GGUF.tensor_count", "GGUF.kv_count", Keys.General.ARCHITECTURE)
_BLOCK_TENSOR = re.compile(r"^blk\.(\d+)\.(.+)$")


@dataclass
class MetadataValue:
    """One metadata value with its GGUF types, so it can be written back unchanged."""

    value: Any
    vtype: Any  # gguf.GGUFValueType
    sub_type: Any = None


@dataclass
class GGUFModel:
    """A whole model in memory: metadata in file order and float32 tensors in numpy (row-major) shape."""

    path: Path
    architecture: str
    metadata: dict[str, MetadataValue]
    tensors: dict[str, np.ndarray]
    source_types: dict[str, str] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        """A metadata value decoded for Python (bytes become str)."""
        entry = self.metadata.get(key)
        if entry is None:
            return default
        value = entry.value
        if isinstance(value, bytes):
            return value.decode("utf-8", errors="replace")
        return value

    def arch_key(self, key: str) -> str:
        """The key for this architecture from a gguf.Keys template such as Keys.LLM.BLOCK_COUNT."""
        return key.format(arch=self.architecture)

    def hparam(self, key: str, default: Any = None) -> Any:
        """An architecture hyperparameter, named by its gguf.Keys template (Keys.LLM.FEED_FORWARD_LENGTH)."""
        return self.get(self.arch_key(key), default)

    def set_uint32(self, key: str, value: int) -> None:
        import gguf

        self.metadata[key] = MetadataValue(int(value), gguf.GGUFValueType.UINT32)

    @property
    def n_layers(self) -> int:
        return int(self.hparam(Keys.LLM.BLOCK_COUNT))

    def block_tensors(self, block: int) -> dict[str, np.ndarray]:
        """The tensors of one block, keyed by their name without the `blk.N.` prefix."""
        prefix = f"blk.{block}."
        return {name[len(prefix) :]: value for name, value in self.tensors.items() if name.startswith(prefix)}

    def vocabulary(self) -> list[str]:
        tokens = self.metadata.get(Keys.Tokenizer.LIST)
        return [] if tokens is None else [t.decode("utf-8", errors="replace") for t in tokens.value]


def metadata_value(reader_field) -> MetadataValue:
    import gguf

    types = reader_field.types
    main = types[0]
    if main == gguf.GGUFValueType.STRING:
        return MetadataValue(bytes(reader_field.parts[reader_field.data[0]]), main)
    if main == gguf.GGUFValueType.ARRAY:
        sub = types[-1]
        if sub == gguf.GGUFValueType.STRING:
            # Keep raw bytes: a tokenizer may hold pieces that are not valid UTF-8 on their own.
            return MetadataValue([bytes(reader_field.parts[i]) for i in reader_field.data], main, sub)
        return MetadataValue(list(reader_field.contents()), main, sub)
    return MetadataValue(reader_field.contents(), main)


def check_architecture(path: Path, architecture: str) -> None:
    if architecture not in SUPPORTED_ARCHITECTURES:
        raise ModelFileError(
            f"{path} is a {architecture!r} model; the compression steps support "
            f"{', '.join(SUPPORTED_ARCHITECTURES)} models (e.g. SmolLM2, TinyLlama, Llama)."
        )


def read_model(path: Path, progress: Progress | None = None) -> GGUFModel:
    """Validate a GGUF file and load its metadata and every tensor dequantized to float32."""
    import gguf

    path = Path(path).expanduser()
    info = inspect_gguf(path)  # raises ModelFileError for missing, non-GGUF or truncated files
    check_architecture(path, info.architecture)
    reader = gguf.GGUFReader(path)
    metadata = {
        name: metadata_value(reader_field) for name, reader_field in reader.fields.items() if name not in _NOT_COPIED
    }
    tensors: dict[str, np.ndarray] = {}
    source_types: dict[str, str] = {}
    total = len(reader.tensors)
    for index, tensor in enumerate(reader.tensors):
        # dequantize() returns float32 in numpy order (rows = the GGUF's last dimension).
        array = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
        tensors[tensor.name] = np.ascontiguousarray(array, dtype=np.float32)
        source_types[tensor.name] = tensor.tensor_type.name
        if progress:
            progress(f"Reading {path.name}", index + 1, total)
    return GGUFModel(path, info.architecture, metadata, tensors, source_types)


def provenance(model: GGUFModel, method: str, parameters: dict[str, Any]) -> dict[str, str]:
    """The `orchestrator.compress.*` keys for a file derived from `model` by `method`.

    `lineage` carries the parent's own provenance, so a chain (dequantize -> prune -> distill ->
    quantize) stays readable from the final file alone.
    """
    parent = {
        key.removeprefix(PROVENANCE_PREFIX): model.get(key)
        for key in model.metadata
        if key.startswith(PROVENANCE_PREFIX)
    }
    lineage = json.loads(parent.pop(ProvenanceKeys.LINEAGE, "[]") or "[]")
    if parent:
        lineage.append(parent)
    return {
        ProvenanceKeys.METHOD: method,
        ProvenanceKeys.PARAMETERS: json.dumps(parameters, sort_keys=True),
        ProvenanceKeys.PARENT_FILE: model.path.name,
        ProvenanceKeys.PARENT_SHA256: sha256_of(Path(model.path)),
        ProvenanceKeys.DATE: dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        ProvenanceKeys.LINEAGE: json.dumps(lineage),
    }


def _tensor_for_output(name: str, array: np.ndarray, out_type: str) -> np.ndarray:
    # llama.cpp's converter keeps 1-D tensors (norms, biases) in F32: they are tiny and precision matters.
    if out_type == "f16" and array.ndim >= 2:
        return array.astype(np.float16)
    return array.astype(np.float32)


def write_model(
    model: GGUFModel,
    out_path: Path,
    out_type: str = "f16",
    provenance_keys: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> Path:
    """Write `model` as an F16 or F32 GGUF at `out_path` (atomically) and return the path."""
    import gguf

    if out_type not in OUTPUT_TYPES:
        raise ConfigError(f"Output type {out_type!r} is not supported; use one of {', '.join(OUTPUT_TYPES)}.")
    out_path = Path(out_path)
    file_type = gguf.LlamaFileType.MOSTLY_F16 if out_type == "f16" else gguf.LlamaFileType.ALL_F32
    with atomic_output(out_path) as partial:
        writer = gguf.GGUFWriter(partial, model.architecture)
        for key, entry in model.metadata.items():
            if key == Keys.General.FILE_TYPE or key.startswith(PROVENANCE_PREFIX):
                continue
            writer.add_key_value(key, entry.value, entry.vtype, entry.sub_type)
        writer.add_file_type(file_type)
        for key, value in (provenance_keys or {}).items():
            writer.add_string(PROVENANCE_PREFIX + key, value)
        for name, array in model.tensors.items():
            writer.add_tensor(name, _tensor_for_output(name, array, out_type))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        if progress:
            progress(f"Writing {out_path.name}", 1, 1)
        inspect_gguf(partial)  # never publish a file our own validator rejects
    return out_path


def renumber_blocks(model: GGUFModel, keep: list[int]) -> None:
    """Keep only the blocks in `keep` (in that order), renamed blk.0..blk.N-1, and fix block_count."""
    renamed: dict[str, np.ndarray] = {}
    new_index = {old: new for new, old in enumerate(keep)}
    for name, array in model.tensors.items():
        match = _BLOCK_TENSOR.match(name)
        if match is None:
            renamed[name] = array
        elif int(match.group(1)) in new_index:
            renamed[f"blk.{new_index[int(match.group(1))]}.{match.group(2)}"] = array
    model.tensors = renamed
    model.set_uint32(model.arch_key(Keys.LLM.BLOCK_COUNT), len(keep))


def resolve_output(out: str | Path, models_dir: Path) -> Path:
    """A bare name (no directory part) goes into the models directory as NAME.gguf; a path is used as is."""
    text = str(out)
    if not text.strip():
        raise ConfigError("The output name is empty; give a model name or a .gguf path.")
    if os.sep in text or (os.altsep and os.altsep in text) or text.startswith(("~", ".")):
        return Path(text).expanduser().resolve()
    name = text if text.endswith(".gguf") else f"{text}.gguf"
    return (Path(models_dir) / name).resolve()


def check_output_free(target: Path, settings, force: bool = False) -> None:
    """Refuse an output that would replace an existing file or a registry model, or hide one's name, unless `force`.

    A registry model's file is replaced only with `force`; a bare name equal to a registry name is always
    refused, since `--model NAME` would then still mean the registry model, not this output.
    """
    from orchestrator.models import HUB_CATALOG, REGISTRY, registry_path

    target = Path(target)
    models_dir = Path(settings.resolved_models_dir).resolve()
    if target.parent == models_dir and target.stem in {*REGISTRY, *HUB_CATALOG}:
        raise ConfigError(
            f"{target.stem} is the name of a registry model, so that name would still mean the registry model; "
            "choose another output name."
        )
    if force:
        return
    owner = next((name for name, spec in REGISTRY.items() if registry_path(spec, settings).resolve() == target), None)
    if owner is not None:
        raise ConfigError(
            f"{target} is the file of the registry model {owner}; choose another output name "
            "(or pass --force to replace it)."
        )
    if target.exists():
        raise ConfigError(f"{target} already exists; choose another output name, or pass --force to replace it.")


def check_distinct(src: Path, out: Path) -> None:
    if Path(src).expanduser().resolve() == Path(out).expanduser().resolve():
        raise ConfigError(f"The output {out} is the input file; choose another output name.")
