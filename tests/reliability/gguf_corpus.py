"""A generated corpus of broken GGUF files, each made from one small valid file by one targeted change.

Layout per the GGUF spec (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md): header
(magic, u32 version, u64 tensor count, u64 kv count), then kvs (u64 key length, key, u32 type, value),
then tensor infos (u64 name length, name, u32 n_dims, u64 dims[n_dims], u32 type, u64 offset),
then aligned tensor data. Byte positions are read off gguf-py's reader of the valid file.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Iterator

import numpy as np

U64_MAX = 2**64 - 1
HUGE_COUNTS = (2**63, U64_MAX, 2**40, 10**6)
BAD_VALUE_TYPES = (13, 255, 2**31, 2**32 - 1)


def write_base_gguf(path: Path) -> Path:
    """A small valid model GGUF with every kind of field the validator must walk over."""
    import gguf

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("reliability-base")
    writer.add_context_length(64)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_float32("llama.rope.freq_base", 10000.0)
    writer.add_bool("tokenizer.ggml.add_bos_token", True)
    writer.add_token_list(["<unk>", "<s>", "</s>", "a", "b"])
    writer.add_token_scores([0.0, 0.0, 0.0, -1.0, -2.0])
    writer.add_tensor("token_embd.weight", np.arange(40, dtype=np.float32).reshape(5, 8))
    writer.add_tensor("output_norm.weight", np.ones(8, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def part_offsets(field) -> list[int]:
    """Absolute byte offset of each part of a gguf-py ReaderField (parts are contiguous)."""
    offsets, position = [], int(field.offset)
    for part in field.parts:
        offsets.append(position)
        position += part.nbytes
    return offsets


def _put(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    packed = struct.pack(fmt, value)
    return data[:offset] + packed + data[offset + len(packed) :]


def mutations(valid: bytes, base_path: Path) -> Iterator[tuple[str, bytes]]:
    """(name, broken bytes) pairs; every one is an invalid GGUF."""
    import gguf

    reader = gguf.GGUFReader(base_path)
    kvs = [f for f in reader.fields.values() if not f.name.startswith("GGUF.")]
    tensors = list(reader.tensors)
    data_start = min(int(t.data_offset) for t in tensors)

    # Truncation: every byte of the header and metadata, then spread through the tensor data.
    for cut in sorted(
        set(range(0, data_start + 1)) | set(np.linspace(data_start, len(valid) - 1, 12, dtype=int).tolist())
    ):
        if cut % 3 == 0 or cut < 32 or cut >= data_start:  # every third byte keeps the corpus quick
            yield f"truncated_at_{cut}", valid[:cut]

    for magic in (b"GGUG", b"gguf", b"GGML", b"\0\0\0\0", b"FUGG", b"\x89PNG"):
        yield f"magic_{magic.hex()}", magic + valid[4:]
    yield "empty_file", b""
    yield "zip_file", b"PK\x03\x04" + bytes(60)
    for version in (0, 1, 4, 2**32 - 1):
        yield f"version_{version}", _put(valid, 4, "<I", version)
    for count in HUGE_COUNTS + (len(tensors) + 1, len(tensors) + 100):
        yield f"tensor_count_{count}", _put(valid, 8, "<Q", count)
    for count in HUGE_COUNTS + (len(reader.fields) + 1, len(kvs) + 50):
        yield f"kv_count_{count}", _put(valid, 16, "<Q", count)
    yield "kv_count_0_keeps_the_kv_bytes", _put(valid, 16, "<Q", 0)

    for field in kvs:
        key_len_at, _, type_at, *value_at = part_offsets(field)
        name = field.name
        for length in (2**63, U64_MAX, len(valid), 0):
            yield f"{name}:key_length_{length}", _put(valid, key_len_at, "<Q", length)
        for value_type in BAD_VALUE_TYPES:
            yield f"{name}:value_type_{value_type}", _put(valid, type_at, "<I", value_type)
        actual = gguf.GGUFValueType(int(field.parts[2][0]))
        if actual == gguf.GGUFValueType.STRING:
            for length in (2**63, U64_MAX, len(valid)):
                yield f"{name}:string_length_{length}", _put(valid, value_at[0], "<Q", length)
            yield f"{name}:string_as_array", _put(valid, type_at, "<I", int(gguf.GGUFValueType.ARRAY))
        elif actual == gguf.GGUFValueType.ARRAY:
            for count in (2**62, U64_MAX, len(valid)):
                yield f"{name}:array_count_{count}", _put(valid, value_at[1], "<Q", count)
            for item_type in BAD_VALUE_TYPES + (int(gguf.GGUFValueType.ARRAY),):
                yield f"{name}:array_item_type_{item_type}", _put(valid, value_at[0], "<I", item_type)
        else:
            yield f"{name}:scalar_as_string", _put(valid, type_at, "<I", int(gguf.GGUFValueType.STRING))

    arch = reader.fields["general.architecture"]
    yield "architecture_as_u32", _put(valid, part_offsets(arch)[2], "<I", int(gguf.GGUFValueType.UINT32))

    for tensor in tensors:
        name_len_at, _, n_dims_at, *rest = part_offsets(tensor.field)
        dims_at, type_at, offset_at = rest
        name = tensor.name
        for length in (2**63, U64_MAX, len(valid)):
            yield f"{name}:name_length_{length}", _put(valid, name_len_at, "<Q", length)
        for n_dims in (5, 255, 2**32 - 1):
            yield f"{name}:n_dims_{n_dims}", _put(valid, n_dims_at, "<I", n_dims)
        for dim in (2**63, U64_MAX, 2**32, 10**9):
            yield f"{name}:dim0_{dim}", _put(valid, dims_at, "<Q", dim)
        for ggml_type in (4, 5, 99, 2**31, 2**32 - 1):  # 4 and 5 were removed from ggml (Q4_2, Q4_3)
            yield f"{name}:tensor_type_{ggml_type}", _put(valid, type_at, "<I", ggml_type)
        yield f"{name}:type_q8_0_wrong_block_shape", _put(valid, type_at, "<I", int(gguf.GGMLQuantizationType.Q8_0))
        for offset in (2**63, U64_MAX, len(valid), len(valid) - data_start - 4, 1):
            yield f"{name}:data_offset_{offset}", _put(valid, offset_at, "<Q", offset)
