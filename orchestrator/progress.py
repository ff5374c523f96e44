"""The progress callback every long step takes: `progress(stage, done, total)` (total 0 = unknown)."""

from __future__ import annotations

from typing import Callable

Progress = Callable[[str, int, int], None]
