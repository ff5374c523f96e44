"""The only module that touches llama.cpp (llama-cpp-python) and LangChain's llama.cpp integration.

langchain-community is sunset upstream; it is used here only, for ChatLlamaCpp and
LlamaCppEmbeddings, so replacing it is a one-file change.

Models load lazily, once per process: the first call for a (file, load parameters) pair loads
the weights, later calls share them. Sampling parameters (temperature, max_tokens) are per call.
"""

from __future__ import annotations

import functools
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.config import Settings
from orchestrator.errors import ModelFileError
from orchestrator.gguf_file import inspect_gguf

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings
    from langchain_core.language_models.chat_models import BaseChatModel

_load_lock = threading.Lock()


def _quiet_community_import():
    # The sunset notice is for us, the maintainers, not for the people running the app.
    warnings.filterwarnings("ignore", message=".*langchain-community.*", category=DeprecationWarning)


@functools.lru_cache(maxsize=4)
def _load_chat_model(model_path: str, n_ctx: int, n_threads: int, n_batch: int, seed: int, verbose: bool):
    _quiet_community_import()
    from langchain_community.chat_models import ChatLlamaCpp

    try:
        # chat_format is left unset so llama-cpp-python uses the chat template stored in the GGUF.
        return ChatLlamaCpp(
            model_path=model_path, n_ctx=n_ctx, n_threads=n_threads, n_batch=n_batch,
            seed=seed, verbose=verbose,
        )
    except ValueError as exc:
        raise ModelFileError(f"llama.cpp could not load {model_path}: {exc}") from None


def chat_model(settings: Settings, model_path: Path | None = None, **overrides) -> BaseChatModel:
    """A LangChain chat model for the GGUF at model_path (default: the configured model).

    Sampling settings come from `settings` unless overridden (temperature=..., max_tokens=...).
    """
    from orchestrator.models import info_cache, resolve_model

    if model_path is None:
        model_path = resolve_model(settings.model, settings)
    inspect_gguf(model_path, info_cache(settings))  # llama.cpp only ever opens a validated file
    with _load_lock:
        base = _load_chat_model(
            str(model_path), settings.n_ctx, settings.threads, settings.n_batch, settings.seed,
            settings.llama_verbose,
        )
    sampling = {"temperature": settings.temperature, "max_tokens": settings.max_tokens, **overrides}
    # model_copy shares the loaded llama.cpp client; only the sampling fields differ.
    return base.model_copy(update=sampling)


def llama_client(model: BaseChatModel):
    """The llama_cpp.Llama behind a chat model from chat_model(), for tokenising and grammars."""
    return getattr(model, "client", None)


def count_tokens(model: BaseChatModel, text: str) -> int:
    """Tokens `text` takes in this model's vocabulary (a rough 4-chars estimate for other models)."""
    client = llama_client(model)
    if client is None:
        return max(1, len(text) // 4)
    return len(client.tokenize(text.encode("utf-8"), add_bos=False, special=True))


def context_window(model: BaseChatModel, default: int) -> int:
    """The context size the model was loaded with."""
    client = llama_client(model)
    return client.n_ctx() if client is not None else default
