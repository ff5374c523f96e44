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


def os_error_message(exc: OSError, path, action: str = "write") -> str | None:
    """One sentence naming the real cause of a failed write (disk full, permission, bad path), or None."""
    where = Path(exc.filename) if exc.filename else Path(path)
    if exc.errno == errno.ENOSPC:
        return (f"No space left on the disk holding {where} ({_free_space(where)} free): free some space "
                "(a few hundred MB for a knowledge base), or point ORCH_DATA_DIR / --output to a disk with room.")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        kind = "the file system is read-only" if exc.errno == errno.EROFS else "permission denied"
        return (f"Cannot {action} {where}: {kind}. Give your user write permission on it "
                "(or on its folder), or point ORCH_DATA_DIR / --output somewhere writable.")
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        parent = next((p for p in Path(path).parents if p.exists() and not p.is_dir()), where)
        return f"Cannot {action} {path}: {parent} is a file, not a folder. Choose another path."
    return None


def _free_space(path: Path) -> str:
    for folder in (path, *path.parents):
        try:
            return f"{shutil.disk_usage(folder).free / 1e6:.0f} MB"
        except OSError:
            continue
    return "unknown"
