"""orchestrator: a local-first LLM assistant built from LangChain chains around a llama.cpp GGUF model."""

from orchestrator.config import Settings

__all__ = ["Settings"]
