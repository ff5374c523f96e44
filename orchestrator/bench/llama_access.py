"""The benchmark's access to llama.cpp: per-position logits and raw decode timing.

The chat wrapper in orchestrator/llm.py does not expose these, so the bench drives llama_cpp.Llama
directly; llama_cpp is still imported through orchestrator.llm.import_llama_cpp, inside the functions,
so importing this module stays cheap."""

from __future__ import annotations

from pathlib import Path

from orchestrator.errors import OrchestratorError


def load_llama(path: str | Path, n_ctx: int, n_threads: int, logits_all: bool = False, n_batch: int = 512):
    """A llama_cpp.Llama on `path`, quiet, with the given context; raise OrchestratorError if it fails."""
    try:
        from orchestrator.llm import import_llama_cpp

        llama_cpp = import_llama_cpp()
    except ImportError as exc:
        raise OrchestratorError(
            f"llama-cpp-python is not importable ({exc}); install the project with `pip install -e .`."
        ) from None
    try:
        return llama_cpp.Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_batch=min(n_batch, n_ctx),
            n_ubatch=min(n_batch, n_ctx),
            n_threads=n_threads,
            n_threads_batch=n_threads,
            logits_all=logits_all,
            verbose=False,
        )
    except (ValueError, RuntimeError) as exc:
        raise OrchestratorError(f"llama.cpp could not load {path}: {exc}") from None


def llama_version() -> str:
    try:
        from orchestrator.llm import import_llama_cpp

        llama_cpp = import_llama_cpp()
    except ImportError:
        return "not installed"
    return getattr(llama_cpp, "__version__", "unknown")


def tokenize_text(llm, text: str) -> list[int]:
    """Tokens of the whole text with the model's own BOS rule, as common_tokenize(ctx, text, true)."""
    return llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)


def window_logits(llm, window_tokens: list[int]):
    """Logits (n_ctx x n_vocab) for one window from a fresh KV cache.

    As perplexity.cpp, the window's first token is replaced by BOS when the vocabulary adds BOS,
    so each window starts like a document.
    """
    from orchestrator.llm import import_llama_cpp

    llama_cpp = import_llama_cpp()
    import numpy as np

    tokens = list(window_tokens)
    if llama_cpp.llama_vocab_get_add_bos(llama_cpp.llama_model_get_vocab(llm.model)):
        tokens[0] = llm.token_bos()
    llm.reset()
    llm.eval(tokens)
    return np.array(llm.scores[: len(tokens)], dtype=np.float32)


def argmax_last_logits(llm) -> int:
    """Greedy pick from the last decoded position's logits (llama_get_logits_ith(ctx, -1))."""
    from orchestrator.llm import import_llama_cpp

    llama_cpp = import_llama_cpp()
    import numpy as np

    pointer = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
    return int(np.argmax(np.ctypeslib.as_array(pointer, shape=(llm.n_vocab(),))))
