"""orchestrator: a local-first LLM assistant built from LangChain chains around a llama.cpp GGUF model.

>>> from orchestrator import Settings
>>> Settings(n_ctx=4096).n_ctx
4096
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__all__ = ["Answer", "OrchestratorApp", "Settings", "build_app", "make_retriever", "math_tool", "web_search_tool"]

# Resolved on first access, so `orchestrator --help` does not pay for importing LangChain.
_LAZY = {
    "Answer": "orchestrator.result",
    "OrchestratorApp": "orchestrator.app",
    "Settings": "orchestrator.config",
    "build_app": "orchestrator.app",
    "make_retriever": "orchestrator.app",
    "math_tool": "orchestrator.tools.math",
    "web_search_tool": "orchestrator.tools.web_search",
}

if TYPE_CHECKING:
    from orchestrator.app import OrchestratorApp, build_app, make_retriever
    from orchestrator.config import Settings
    from orchestrator.result import Answer
    from orchestrator.tools.math import math_tool
    from orchestrator.tools.web_search import web_search_tool


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")
