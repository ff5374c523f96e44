"""Calibration text -> token chunks -> activation statistics (importance matrix, Wanda, Block Influence).

The shipped calibration text is data/calibration/calibration.txt (Wikipedia, CC BY-SA 4.0); the
benchmark evaluates on data/calibration/evaluation.txt, which shares no article with it.
"""

from __future__ import annotations

from pathlib import Path

from orchestrator.compress import llama_backend
from orchestrator.compress.gguf_io import GGUFModel
from orchestrator.compress.llama_numpy import ActivationStats, collect_stats
from orchestrator.errors import ConfigError
from orchestrator.progress import Progress
from orchestrator.resources import calibration_file, evaluation_file

DEFAULT_CALIBRATION_FILE = calibration_file()
DEFAULT_EVALUATION_FILE = evaluation_file()


def read_text(path: Path | None) -> str:
    """The text of a calibration file (the shipped one when `path` is None)."""
    path = Path(path).expanduser() if path is not None else DEFAULT_CALIBRATION_FILE
    if not path.is_file():
        raise ConfigError(f"Calibration text {path} does not exist; pass --calibration with a UTF-8 text file.")
    text = path.read_text(encoding="utf-8", errors="replace")
    if len(text.strip()) < 200:
        raise ConfigError(
            f"Calibration text {path} is too short ({len(text)} characters); give at least a few paragraphs."
        )
    return text


def token_chunks(model_path: Path, text: str, n_chunks: int, chunk_len: int) -> list[list[int]]:
    """Up to `n_chunks` consecutive chunks of `chunk_len` tokens, each starting with BOS (as llama-imatrix does)."""
    tokens = llama_backend.tokenize(model_path, text)
    with llama_backend.load(model_path, vocab_only=True) as llm:
        bos = llm.token_bos()
    body = chunk_len - 1
    chunks = [[bos] + tokens[start : start + body] for start in range(0, len(tokens) - body + 1, body)]
    if not chunks:
        raise ConfigError(f"The calibration text has only {len(tokens)} tokens; {chunk_len} are needed for one chunk.")
    return chunks[:n_chunks]


def calibrate(
    model: GGUFModel,
    text_path: Path | None = None,
    n_chunks: int = 8,
    chunk_len: int = 256,
    progress: Progress | None = None,
) -> ActivationStats:
    """Activation statistics of `model` (already read from model.path) on the calibration text."""
    if n_chunks < 1 or chunk_len < 8:
        raise ConfigError("Calibration needs at least 1 chunk of at least 8 tokens.")
    chunks = token_chunks(model.path, read_text(text_path), n_chunks, chunk_len)
    return collect_stats(model, chunks, progress, total=sum(len(chunk) for chunk in chunks))
