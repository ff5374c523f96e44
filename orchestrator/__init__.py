"""orchestrator: a local-first LLM assistant built from LangChain chains around a llama.cpp GGUF model.

>>> from orchestrator import Settings
>>> Settings(n_ctx=4096).n_ctx
4096
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__all__ = ["Answer", "OrchestratorApp", "Settings", "build_app"]

# Resolved on first access, so `orchestrator --help` does not pay for importing LangChain.
_LAZY = {
    "Answer": "orchestrator.result",
    "OrchestratorApp": "orchestrator.app",
    "Settings": "orchestrator.config",
    "build_app": "orchestrator.app",
}

if TYPE_CHECKING:
    from orchestrator.app import OrchestratorApp, build_app
    from orchestrator.config import Settings
    from orchestrator.result import Answer


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")
