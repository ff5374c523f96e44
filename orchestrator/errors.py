"""Exceptions whose message tells the user what to change. The CLI prints them without a traceback."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path


class OrchestratorError(Exception):
    """Base class: an error the user can act on."""


class ConfigError(OrchestratorError):
    """A setting or input is invalid."""


class ModelFileError(OrchestratorError):
    """A model file is missing, truncated or not a GGUF."""


class ModelNotFoundError(OrchestratorError):
    """A model name is neither in the registry, installed, nor a path."""


class PullError(OrchestratorError):
    """Fetching or building a registry model failed."""


class DiskWriteError(OrchestratorError):
    """A write failed for a reason outside the app: no space left, no permission, a path that is not a folder."""


def os_error_message(exc: OSError, path, action: str = "write", needed_bytes: int | None = None) -> str | None:
    """One sentence naming the real cause of a failed write (disk full, permission, bad path), or None.

    `needed_bytes`, when the caller can estimate it, is how much more the operation needs to finish.
    """
    where = Path(exc.filename) if exc.filename else Path(path)
    if exc.errno == errno.ENOSPC:
        need = (
            f"about {_size(needed_bytes)} more is needed to finish"
            if needed_bytes is not None
            else "a few hundred MB for a knowledge base"
        )
        return (
            f"No space left on the disk holding {where} ({_free_space(where)} free; {need}): free some "
            "space, or point ORCH_DATA_DIR / --output to a disk with room."
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        kind = "the file system is read-only" if exc.errno == errno.EROFS else "permission denied"
        return (
            f"Cannot {action} {where}: {kind}. Give your user write permission on it "
            "(or on its folder), or point ORCH_DATA_DIR / --output somewhere writable."
        )
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        parent = next((p for p in Path(path).parents if p.exists() and not p.is_dir()), where)
        return f"Cannot {action} {path}: {parent} is a file, not a folder. Choose another path."
    return None


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f} MB" if n_bytes >= 100_000 else f"{max(1, round(n_bytes / 1000))} KB"


def _free_space(path: Path) -> str:
    for folder in (path, *path.parents):
        try:
            return _size(shutil.disk_usage(folder).free)
        except OSError:
            continue
    return "unknown"
