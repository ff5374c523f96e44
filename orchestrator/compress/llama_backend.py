"""The compression steps' only contact with llama.cpp (through llama-cpp-python).

Tokenizing with the model's own vocabulary, quantizing with llama.cpp's quantizer (optionally with
an importance matrix), and computing logits for agreement checks.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from pathlib import Path
from typing import Iterator

import numpy as np

from orchestrator.errors import OrchestratorError


@contextlib.contextmanager
def _quiet_stderr(enabled: bool = True) -> Iterator[None]:
    """Silence llama.cpp's C-level log lines, which bypass Python's sys.stderr."""
    if not enabled:
        yield
        return
    saved = os.dup(2)
    with open(os.devnull, "wb") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def quantize_types() -> dict[str, int]:
    """Every llama_ftype the installed llama.cpp offers, by its usual name (Q4_K_M, F16, ...)."""
    from orchestrator.llm import import_llama_cpp

    llama_cpp = import_llama_cpp()

    types = {}
    for name in dir(llama_cpp):
        if name.startswith("LLAMA_FTYPE_MOSTLY_"):
            types[name.removeprefix("LLAMA_FTYPE_MOSTLY_")] = getattr(llama_cpp, name)
    types["F32"] = llama_cpp.LLAMA_FTYPE_ALL_F32
    return dict(sorted(types.items()))


def _imatrix_array(imatrix: dict[str, np.ndarray]):
    """A NULL-terminated C array of llama_model_imatrix_data (llama.h), plus the buffers it points to."""
    from orchestrator.llm import import_llama_cpp

    llama_cpp = import_llama_cpp()

    entries = (llama_cpp.llama_model_imatrix_data * (len(imatrix) + 1))()
    keep_alive = []
    for index, (name, values) in enumerate(sorted(imatrix.items())):
        buffer = np.ascontiguousarray(values, dtype=np.float32)
        keep_alive.append(buffer)
        entries[index].name = name.encode()
        entries[index].data = buffer.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        entries[index].size = buffer.size
    entries[len(imatrix)].name = None
    return entries, keep_alive


def quantize_file(
    src: Path, dst: Path, ftype: int, imatrix: dict[str, np.ndarray] | None = None, threads: int = 0
) -> None:
    """Run llama.cpp's quantizer (llama_model_quantize) from `src` to `dst`."""
    from orchestrator.llm import import_llama_cpp

    llama_cpp = import_llama_cpp()

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = threads
    params.allow_requantize = True  # a quantized source is dequantized to float first, as llama-quantize does
    keep_alive = None
    if imatrix:
        entries, buffers = _imatrix_array(imatrix)
        keep_alive = (entries, buffers)
        params.imatrix = ctypes.cast(entries, type(params.imatrix))
    with _quiet_stderr():
        status = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params))
    del keep_alive
    if status != 0:
        raise OrchestratorError(
            f"llama.cpp could not quantize {src.name} (status {status}). Some types (IQ1/IQ2, TQ) need an "
            "importance matrix (--calibration) or specific tensor shapes; try Q4_K_M or Q8_0."
        )


@contextlib.contextmanager
def load(path: Path, n_ctx: int = 512, logits_all: bool = False, vocab_only: bool = False, threads: int | None = None):
    """A llama_cpp.Llama for `path`, closed afterwards."""
    from orchestrator.llm import import_llama_cpp

    llama_cpp = import_llama_cpp()

    with _quiet_stderr():
        llm = llama_cpp.Llama(
            str(path),
            n_ctx=n_ctx,
            logits_all=logits_all,
            vocab_only=vocab_only,
            verbose=False,
            n_threads=threads,
            n_batch=min(n_ctx, 512),
        )
    try:
        yield llm
    finally:
        llm.close()


def tokenize(path: Path, text: str, add_bos: bool = False) -> list[int]:
    """Tokens of `text` in the model's own vocabulary (only the vocabulary is loaded)."""
    with load(path, vocab_only=True) as llm:
        return llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=False)


def logits(path: Path, tokens: list[int], threads: int | None = None) -> np.ndarray:
    """llama.cpp's logits (tokens × vocab) for one sequence."""
    with load(path, n_ctx=max(len(tokens), 64), logits_all=True, threads=threads) as llm:
        llm.eval(tokens)
        return np.array(llm.scores[: len(tokens)], dtype=np.float32)
