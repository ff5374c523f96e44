"""Validate and describe GGUF files with gguf-py, before llama.cpp ever opens them.

llama.cpp's own GGUF parser has had crash advisories, so a file reaches it only after gguf-py
has parsed the whole header and every tensor has been shown to lie inside the file.
Parsing a 49k-token vocabulary with gguf-py takes seconds, so a successful result is cached per
(path, size, mtime) in the data directory.
"""

from __future__ import annotations

import json
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path

from orchestrator.errors import ModelFileError

GGUF_MAGIC = b"GGUF"
# The fixed GGUF v2/v3 header: magic, version (u32), tensor count (u64), metadata kv count (u64).
_HEADER = struct.Struct("<4sIQQ")
# Smallest possible encodings, used to reject absurd counts before gguf-py loops over them:
# a kv is a u64 key length + 1 key byte + u32 type + >=1 value byte; a tensor info is
# u64 name length + 1 name byte + u32 n_dims + u32 type + u64 offset.
_MIN_KV_BYTES = 8 + 1 + 4 + 1
_MIN_TENSOR_INFO_BYTES = 8 + 1 + 4 + 4 + 8
PROVENANCE_PREFIX = "orchestrator.compress."


@dataclass
class GGUFInfo:
    """What `orchestrator models` shows about one GGUF file."""

    path: str
    size_bytes: int
    architecture: str
    name: str
    file_type: str
    n_params: int
    n_tensors: int
    context_length: int | None
    tensor_types: dict[str, int] = field(default_factory=dict)
    provenance: dict[str, str] = field(default_factory=dict)


def _fix_hint(path: Path) -> str:
    return (
        f"Delete {path} and run `orchestrator pull` again if it came from the registry, "
        "or point --model at a complete .gguf file."
    )


def check_header(path: Path) -> None:
    """Cheap structural checks on the fixed header; raise ModelFileError with a fix."""
    if not path.exists():
        raise ModelFileError(f"Model file {path} does not exist. {_fix_hint(path)}")
    if not path.is_file():
        raise ModelFileError(f"Model path {path} is not a file.")
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(_HEADER.size)
    if len(head) < 4 or head[:4] != GGUF_MAGIC:
        raise ModelFileError(f"{path} is not a GGUF file (bad magic bytes). {_fix_hint(path)}")
    if len(head) < _HEADER.size:
        raise ModelFileError(f"{path} is truncated inside its GGUF header. {_fix_hint(path)}")
    _, version, n_tensors, n_kv = _HEADER.unpack(head)
    if version not in (2, 3):
        raise ModelFileError(f"{path} has GGUF version {version}; only versions 2 and 3 are supported.")
    if n_kv * _MIN_KV_BYTES + n_tensors * _MIN_TENSOR_INFO_BYTES > size:
        raise ModelFileError(
            f"{path} claims {n_tensors} tensors and {n_kv} metadata keys, more than its "
            f"{size} bytes can hold: the file is truncated or corrupt. {_fix_hint(path)}"
        )


def _field_value(reader, key: str, default=None):
    field_ = reader.fields.get(key)
    if field_ is None:
        return default
    return field_.contents()


def _file_type_name(value: int | None, tensor_types: dict[str, int]) -> str:
    import gguf

    if value is None:
        return max(tensor_types, key=tensor_types.get) if tensor_types else "unknown"
    try:
        name = gguf.LlamaFileType(value).name
    except ValueError:
        return f"type {value}"
    return name.removeprefix("MOSTLY_").removeprefix("ALL_")


def _parse(path: Path) -> GGUFInfo:
    import gguf

    try:
        reader = gguf.GGUFReader(path)
    except Exception as exc:  # gguf-py raises ValueError, struct.error, IndexError... on bad input
        raise ModelFileError(f"{path} is not a valid GGUF file ({exc}). {_fix_hint(path)}") from None
    size = path.stat().st_size
    tensor_types: dict[str, int] = {}
    n_params = 0
    for tensor in reader.tensors:
        end = int(tensor.data_offset) + int(tensor.n_bytes)  # gguf-py's offsets are absolute
        if end > size:
            raise ModelFileError(
                f"{path} is truncated: tensor {tensor.name} ends at byte {end} but the file "
                f"has {size} bytes. {_fix_hint(path)}"
            )
        tensor_types[tensor.tensor_type.name] = tensor_types.get(tensor.tensor_type.name, 0) + 1
        n_params += int(tensor.n_elements)
    arch = _field_value(reader, "general.architecture")
    if not arch:
        raise ModelFileError(f"{path} has no general.architecture key: not a model GGUF.")
    provenance = {
        key.removeprefix(PROVENANCE_PREFIX): str(_field_value(reader, key))
        for key in reader.fields
        if key.startswith(PROVENANCE_PREFIX)
    }
    return GGUFInfo(
        path=str(path),
        size_bytes=size,
        architecture=str(arch),
        name=str(_field_value(reader, "general.name", path.stem)),
        file_type=_file_type_name(_field_value(reader, "general.file_type"), tensor_types),
        n_params=n_params,
        n_tensors=len(reader.tensors),
        context_length=_field_value(reader, f"{arch}.context_length"),
        tensor_types=tensor_types,
        provenance=provenance,
    )


class GGUFInfoCache:
    """A JSON file of GGUFInfo keyed by path, trusted while size and mtime are unchanged."""

    def __init__(self, cache_file: Path | None):
        self.cache_file = cache_file

    def _load(self) -> dict:
        if self.cache_file is None or not self.cache_file.is_file():
            return {}
        try:
            return json.loads(self.cache_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # a damaged cache only costs a re-parse

    def get(self, path: Path) -> GGUFInfo | None:
        entry = self._load().get(str(path))
        stat = path.stat()
        if entry and entry["size"] == stat.st_size and entry["mtime_ns"] == stat.st_mtime_ns:
            return GGUFInfo(**entry["info"])
        return None

    def put(self, path: Path, info: GGUFInfo) -> None:
        if self.cache_file is None:
            return
        entries = self._load()
        stat = path.stat()
        entries[str(path)] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "info": asdict(info)}
        self.cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.cache_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(entries, indent=1), encoding="utf-8")
        tmp.replace(self.cache_file)


def inspect_gguf(path: Path, cache: GGUFInfoCache | None = None) -> GGUFInfo:
    """Validate a GGUF file completely and describe it; raise ModelFileError if it is unusable."""
    path = Path(path).expanduser().resolve()
    check_header(path)
    if cache is not None and (cached := cache.get(path)) is not None:
        return cached
    info = _parse(path)
    if cache is not None:
        cache.put(path, info)
    return info
