"""File helpers used across the package: streaming sha256, and writing through a temporary name."""

from __future__ import annotations

import hashlib
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from orchestrator.progress import Progress


def sha256_of(path: Path, progress: Progress | None = None, stage: str = "Verifying") -> str:
    """Hash a file in 1 MiB blocks (never the whole file in memory), reporting progress."""
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with Path(path).open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
            done += len(block)
            if progress:
                progress(stage, done, total)
    return digest.hexdigest()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


@contextmanager
def atomic_output(path: Path, *, fsync: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to `path` (a file or a folder); move it into place only if the block succeeds.

    A crash or an exception leaves the previous `path` (or none), never half of a new one: the rename
    is atomic on one file system (os.replace). The temporary name is hidden and unique per process.
    `fsync=True` flushes a file's bytes to disk before the rename.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    _remove(partial)
    try:
        yield partial
        if fsync and partial.is_file():
            _fsync(partial)
        os.replace(partial, path)
    finally:
        _remove(partial)
