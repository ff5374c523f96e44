"""Validate and describe GGUF files with gguf-py, before llama.cpp ever opens them.

llama.cpp's own GGUF parser has had crash advisories, so a file reaches it only after gguf-py
has parsed the whole header and every tensor has been shown to lie inside the file.
Parsing a 49k-token vocabulary with gguf-py takes seconds, so a successful result is cached per
(path, size, mtime) in the data directory.
"""

from __future__ import annotations

import json
import mmap
import re
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path

from orchestrator.errors import ConfigError, ModelFileError

GGUF_MAGIC = b"GGUF"
# The fixed GGUF v2/v3 header: magic, version (u32), tensor count (u64), metadata kv count (u64).
_HEADER = struct.Struct("<4sIQQ")
# Smallest possible encodings, used to reject absurd counts before gguf-py loops over them:
# a kv is a u64 key length + 1 key byte + u32 type + >=1 value byte; a tensor info is
# u64 name length + 1 name byte + u32 n_dims + u32 type + u64 offset.
_MIN_KV_BYTES = 8 + 1 + 4 + 1
_MIN_TENSOR_INFO_BYTES = 8 + 1 + 4 + 4 + 8
# Metadata `orchestrator compress` adds to every file it writes (gguf-py's Keys name the standard ones).
PROVENANCE_PREFIX = "orchestrator.compress."


class ProvenanceKeys:
    """The keys under PROVENANCE_PREFIX (compress/gguf_io.provenance writes them, `orchestrator models` reads them)."""

    METHOD = "method"
    PARAMETERS = "parameters"
    PARENT_FILE = "parent_file"
    PARENT_SHA256 = "parent_sha256"
    DATE = "date"
    LINEAGE = "lineage"


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
    kv_bytes_per_token: int | None = None  # the f16 K and V cache of one token, all layers (None: not a decoder)


# llama.cpp architectures that embed text and have no language-model head: they cannot chat or generate.
EMBEDDING_ARCHITECTURES = frozenset(
    {"bert", "nomic-bert", "nomic-bert-moe", "jina-bert-v2", "t5encoder", "modern-bert", "neo-bert"}
)


def check_chat_model(info: GGUFInfo) -> None:
    """Refuse, from the header alone, a model that cannot generate text (llama.cpp would fail later, less clearly)."""
    if info.architecture in EMBEDDING_ARCHITECTURES:
        raise ConfigError(
            f"{Path(info.path).name} is a {info.architecture!r} embedding model: it turns text into vectors and "
            "cannot chat or generate text. Choose a chat model (`orchestrator models` lists the installed ones)."
        )


def _fix_hint(path: Path) -> str:
    """What to do about a damaged file; it names no option, since every command that reads models uses it."""
    return (
        f"Delete {path} and run `orchestrator pull` again if it came from the registry, "
        "or use a complete .gguf file instead."
    )


def check_header(path: Path) -> None:
    """Cheap structural checks on the fixed header; raise ModelFileError with a fix."""
    if not path.exists():
        raise ModelFileError(
            f"Model file {path} does not exist. Check the path; `orchestrator models` lists the installed models."
        )
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


# --- Bounds-checked layout walk -------------------------------------------------------------------
# gguf-py trusts the file: it loops over array items one by one (an item count read from string
# bytes hangs it) and adds tensor offsets in uint64 (a huge offset wraps around). So before
# GGUFReader sees a file, every length and count is checked against the bytes left, and tensor
# offsets are checked in Python integers for alignment and overlap, as llama.cpp's gguf.cpp does.
# Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md

# GGUF value types -> scalar byte sizes (gguf.GGUFValueType); 8 = STRING, 9 = ARRAY.
_SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9
_MAX_DIMS = 4  # GGML_MAX_DIMS
_DEFAULT_ALIGNMENT = 32  # GGUF_DEFAULT_ALIGNMENT


class _Cursor:
    def __init__(self, buffer, path: Path):
        self.buffer, self.path, self.pos, self.size = buffer, path, 24, len(buffer)

    def fail(self, what: str):
        raise ModelFileError(f"{self.path} is corrupt or truncated: {what} at byte {self.pos}. {_fix_hint(self.path)}")

    def need(self, n: int, what: str) -> None:
        if n > self.size - self.pos:
            self.fail(f"{what} needs {n} bytes, only {self.size - self.pos} left")

    def unpack(self, fmt: str, what: str):
        width = struct.calcsize(fmt)
        self.need(width, what)
        value = struct.unpack_from(fmt, self.buffer, self.pos)[0]
        self.pos += width
        return value

    def skip(self, n: int, what: str) -> None:
        self.need(n, what)
        self.pos += n

    def string(self, what: str) -> bytes:
        length = self.unpack("<Q", what + " length")
        self.need(length, what)
        value = bytes(self.buffer[self.pos : self.pos + length])
        self.pos += length
        return value

    def value(self, value_type: int, what: str):
        """Skip one value; return it when it is a scalar (for general.alignment)."""
        if value_type in _SCALAR_SIZES:
            start = self.pos
            self.skip(_SCALAR_SIZES[value_type], what)
            return int.from_bytes(self.buffer[start : self.pos], "little")
        if value_type == _STRING:
            self.string(what)
            return None
        if value_type == _ARRAY:
            item_type = self.unpack("<I", what + " item type")
            count = self.unpack("<Q", what + " item count")
            if item_type in _SCALAR_SIZES:
                self.skip(count * _SCALAR_SIZES[item_type], what)  # Python ints: no overflow
            elif item_type == _STRING:
                self.need(count * 8, what)  # every string has at least its u64 length: bounds the loop
                for _ in range(count):
                    self.string(what)
            else:  # llama.cpp's gguf.cpp rejects nested arrays too
                self.fail(f"{what} has array items of type {item_type}")
            return None
        self.fail(f"{what} has value type {value_type}")


def check_layout(path: Path) -> None:
    """Walk every metadata value and tensor info with bounds checks; raise ModelFileError on the first problem."""
    import gguf  # the ggml type table (block size, bytes per block) and the alignment key

    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buffer:
        _, _, n_tensors, n_kv = struct.unpack_from("<4sIQQ", buffer, 0)
        cursor = _Cursor(buffer, path)
        alignment = _DEFAULT_ALIGNMENT
        for index in range(n_kv):
            key = cursor.string(f"metadata key {index}")
            value_type = cursor.unpack("<I", f"type of {key!r}")
            value = cursor.value(value_type, repr(key))
            if key == gguf.Keys.General.ALIGNMENT.encode():
                if value_type != 4 or not value or value & (value - 1):
                    cursor.fail(f"{gguf.Keys.General.ALIGNMENT} must be a power-of-two u32, got {value}")
                alignment = value
        extents = []
        for index in range(n_tensors):
            name = cursor.string(f"tensor {index} name")
            n_dims = cursor.unpack("<I", f"tensor {name!r} n_dims")
            if not 1 <= n_dims <= _MAX_DIMS:
                cursor.fail(f"tensor {name!r} has {n_dims} dimensions")
            dims = [cursor.unpack("<Q", f"tensor {name!r} dims") for _ in range(n_dims)]
            ggml_type = cursor.unpack("<I", f"tensor {name!r} type")
            offset = cursor.unpack("<Q", f"tensor {name!r} offset")
            try:
                block, block_bytes = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(ggml_type)]
            except (ValueError, KeyError):
                cursor.fail(f"tensor {name!r} has unknown type {ggml_type}")
            elements = 1
            for dim in dims:
                elements *= dim
            if not dims or any(dim == 0 for dim in dims) or dims[0] % block or elements >= 2**63:
                cursor.fail(f"tensor {name!r} has impossible shape {dims} for type {ggml_type}")
            if offset % alignment:
                cursor.fail(f"tensor {name!r} offset {offset} is not aligned to {alignment}")
            extents.append((offset, elements // block * block_bytes, name))
        data_start = -(-cursor.pos // alignment) * alignment
        previous_end = 0
        for offset, n_bytes, name in sorted(extents):
            if offset < previous_end:
                cursor.fail(f"tensor {name!r} overlaps the previous tensor")
            if data_start + offset + n_bytes > cursor.size:
                cursor.fail(f"tensor {name!r} ends past the end of the file")
            previous_end = offset + n_bytes


def _field_value(reader, key: str, default=None):
    field_ = reader.fields.get(key)
    if field_ is None:
        return default
    return field_.contents()


def _file_type_name(value: int | None, tensor_types: dict[str, int]) -> str:
    import gguf

    if value is None:
        return max(tensor_types, key=lambda name: tensor_types[name]) if tensor_types else "unknown"
    try:
        name = gguf.LlamaFileType(value).name
    except ValueError:
        return f"type {value}"
    return name.removeprefix("MOSTLY_").removeprefix("ALL_")


def _parse(path: Path) -> GGUFInfo:
    import gguf
    from gguf import Keys

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
    arch = _field_value(reader, Keys.General.ARCHITECTURE)
    if not arch:
        raise ModelFileError(f"{path} has no {Keys.General.ARCHITECTURE} key: not a model GGUF.")
    provenance = {
        key.removeprefix(PROVENANCE_PREFIX): str(_field_value(reader, key))
        for key in reader.fields
        if key.startswith(PROVENANCE_PREFIX)
    }
    return GGUFInfo(
        path=str(path),
        size_bytes=size,
        architecture=str(arch),
        name=str(_field_value(reader, Keys.General.NAME, path.stem)),
        file_type=_file_type_name(_field_value(reader, Keys.General.FILE_TYPE), tensor_types),
        n_params=n_params,
        n_tensors=len(reader.tensors),
        context_length=_field_value(reader, Keys.LLM.CONTEXT_LENGTH.format(arch=arch)),
        tensor_types=tensor_types,
        provenance=provenance,
        kv_bytes_per_token=_kv_bytes_per_token(reader, str(arch)),
    )


def _kv_bytes_per_token(reader, arch: str) -> int | None:
    """Bytes of llama.cpp's default f16 KV cache per token: 2 (K, V) x layers x KV heads x head size x 2 bytes."""
    from gguf import Keys

    layers = _field_value(reader, Keys.LLM.BLOCK_COUNT.format(arch=arch))
    embedding = _field_value(reader, Keys.LLM.EMBEDDING_LENGTH.format(arch=arch))
    heads = _field_value(reader, Keys.Attention.HEAD_COUNT.format(arch=arch))
    if not (isinstance(layers, int) and isinstance(embedding, int) and isinstance(heads, int) and heads > 0):
        return None
    kv_heads = _field_value(reader, Keys.Attention.HEAD_COUNT_KV.format(arch=arch), heads)
    kv_heads = kv_heads if isinstance(kv_heads, int) else heads
    key_size = _field_value(reader, Keys.Attention.KEY_LENGTH.format(arch=arch), embedding // heads)
    value_size = _field_value(reader, Keys.Attention.VALUE_LENGTH.format(arch=arch), embedding // heads)
    return layers * kv_heads * (int(key_size) + int(value_size)) * 2


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
        if not entry or entry["size"] != stat.st_size or entry["mtime_ns"] != stat.st_mtime_ns:
            return None
        if "kv_bytes_per_token" in entry["info"]:  # entries of older versions lack it: re-parse
            return GGUFInfo(**entry["info"])
        return None

    def put(self, path: Path, info: GGUFInfo) -> None:
        if self.cache_file is None:
            return
        entries = self._load()
        stat = path.stat()
        entries[str(path)] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "info": asdict(info)}
        from orchestrator.files import atomic_output

        try:
            with atomic_output(self.cache_file) as partial:
                partial.write_text(json.dumps(entries, indent=1), encoding="utf-8")
        except OSError:
            pass  # a cache: a read-only or full data dir only costs a re-parse next time (and leaves no partial file)


# llama.cpp's split-file naming (llama_split_path, gguf-split): PREFIX-00001-of-00003.gguf.
SPLIT_NAME = re.compile(r"^(?P<prefix>.+)-(?P<number>\d{5})-of-(?P<count>\d{5})\.gguf$")


def split_parts(path: Path) -> list[Path]:
    """Every file of a split GGUF, given its first part (llama.cpp opens the others by name); else [path]."""
    match = SPLIT_NAME.match(Path(path).name)
    if not match or int(match["number"]) != 1:
        return [Path(path)]
    count = int(match["count"])
    return [
        Path(path).with_name(f"{match['prefix']}-{number:05d}-of-{count:05d}.gguf") for number in range(1, count + 1)
    ]


def inspect_gguf(path: Path, cache: GGUFInfoCache | None = None) -> GGUFInfo:
    """Validate a GGUF file completely and describe it; raise ModelFileError if it is unusable.

    For the first part of a split model every part is validated, and the description covers all of them.
    """
    path = Path(path).expanduser().resolve()
    parts = split_parts(path)
    for part in parts:
        check_header(part)
    if cache is not None and (cached := cache.get(path)) is not None:
        return cached
    check_layout(path)
    info = _parse(path)
    for part in parts[1:]:
        check_layout(part)
        _add_part(info, part)
    if cache is not None:
        cache.put(path, info)
    return info


def _add_part(info: GGUFInfo, part: Path) -> None:
    """Count a further part's bytes, tensors and parameters into the first part's description."""
    import gguf

    try:
        reader = gguf.GGUFReader(part)
    except Exception as exc:
        raise ModelFileError(f"{part} is not a valid GGUF file ({exc}). {_fix_hint(part)}") from None
    info.size_bytes += part.stat().st_size
    info.n_tensors += len(reader.tensors)
    for tensor in reader.tensors:
        info.tensor_types[tensor.tensor_type.name] = info.tensor_types.get(tensor.tensor_type.name, 0) + 1
        info.n_params += int(tensor.n_elements)
