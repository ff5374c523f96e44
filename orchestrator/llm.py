"""The only module that touches llama.cpp (llama-cpp-python) and LangChain's llama.cpp integration.

langchain-community is sunset upstream; it is used here only, for ChatLlamaCpp and
LlamaCppEmbeddings, so replacing it is a one-file change.

Models load lazily, once per process: the first call for a (file, load parameters) pair loads
the weights, later calls share them. Sampling parameters (temperature, max_tokens) are per call.
"""

from __future__ import annotations

import functools
import os
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


def _prepare_llama_import():
    # The sunset notice is for us, the maintainers, not for the people running the app.
    warnings.filterwarnings("ignore", message=".*langchain-community.*", category=DeprecationWarning)
    # This llama.cpp build uses OpenMP, whose threads spin at every barrier. With any other process on
    # the cores that collapsed generation from 24 to 1.4 tokens/s here (benchmarks/overhead.py), so
    # threads sleep instead unless the user chose otherwise. Must be set before llama_cpp loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def import_llama_cpp():
    """The llama_cpp module, imported with this process's thread settings applied.

    The app's models load through the functions below; the offline tools (bench, compress) need
    llama.cpp's low-level API (logits, the quantizer) and import it through here.
    """
    _prepare_llama_import()
    import llama_cpp

    return llama_cpp


def release_models() -> None:
    """Free the cached llama.cpp models now.

    Otherwise the caches hold them until interpreter shutdown, when llama-cpp-python's destructor
    may run after its own module globals are gone ("Exception ignored in Llama.__del__").
    """
    import gc

    _load_chat_model.cache_clear()
    _load_embedding_client.cache_clear()
    gc.collect()


@functools.lru_cache(maxsize=4)
def _load_chat_model(model_path: str, n_ctx: int, n_threads: int, n_batch: int, seed: int, verbose: bool):
    _prepare_llama_import()
    from langchain_community.chat_models import ChatLlamaCpp

    try:
        # chat_format is left unset so llama-cpp-python uses the chat template stored in the GGUF.
        model = ChatLlamaCpp(
            model_path=model_path, n_ctx=n_ctx, n_threads=n_threads, n_batch=n_batch,
            seed=seed, verbose=verbose,
            # ChatLlamaCpp passes rope_freq_base=10000 by default, overriding the GGUF's value
            # (100000 for SmolLM2: perplexity 18.78 -> 20.26). 0 means "as the model file says".
            model_kwargs={"rope_freq_base": 0.0, "rope_freq_scale": 0.0},
        )
    except ValueError as exc:
        raise ModelFileError(f"llama.cpp could not load {model_path}: {exc}") from None
    _fold_system_role_if_unsupported(model.client)
    return model


# --- Chat templates without a system role ----------------------------------------------------
# Gemma's template raises "System role not supported", Mistral v0.1/v0.2's raises "Only user and
# assistant roles are supported!", and some (Phi-3-mini) drop a system message silently. The chat
# route always sends one, so for such a template the system text goes in front of the first user
# message instead, as llama.cpp's own chat code does for templates without a system role.

_SYSTEM_PROBE = "orchestrator-system-probe"


def template_keeps_system_role(template: str) -> bool:
    """True when a chat template renders a system message; False when it raises or drops it."""
    from jinja2 import TemplateSyntaxError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str):
        raise ValueError(message)

    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    try:
        compiled = environment.from_string(template)
    except TemplateSyntaxError:  # a tag plain Jinja lacks ({% generation %}): leave the template alone
        return True
    messages = [{"role": "system", "content": _SYSTEM_PROBE}, {"role": "user", "content": "hello"}]
    try:
        text = compiled.render(
            messages=messages, add_generation_prompt=True, bos_token="", eos_token="", raise_exception=raise_exception
        )
    except Exception:  # the template's own raise_exception, or it indexes something it expects
        return False
    return _SYSTEM_PROBE in text


def fold_system_messages(messages: list[dict]) -> list[dict]:
    """The messages with every system text moved to the front of the first user message."""
    system = "\n\n".join(m["content"] for m in messages if m.get("role") == "system" and m.get("content"))
    rest = [m for m in messages if m.get("role") != "system"]
    if not system:
        return rest
    for index, message in enumerate(rest):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            rest[index] = {**message, "content": f"{system}\n\n{message['content']}"}
            return rest
    return [{"role": "user", "content": system}, *rest]


def _fold_system_role_if_unsupported(client) -> None:
    template = client.metadata.get("tokenizer.chat_template")
    if not template or template_keeps_system_role(template):
        return
    from llama_cpp import llama_chat_format

    handler = (
        client.chat_handler
        or client._chat_handlers.get(client.chat_format)
        or llama_chat_format.get_chat_completion_handler(client.chat_format)
    )

    def fold_then_handle(*, messages, **kwargs):
        return handler(messages=fold_system_messages(messages), **kwargs)

    client.chat_handler = fold_then_handle


def chat_model_class() -> type:
    """The LangChain chat model class behind chat_model() (for langchain-tests' standard suites)."""
    _prepare_llama_import()
    from langchain_community.chat_models import ChatLlamaCpp

    return ChatLlamaCpp


def embeddings_class() -> type:
    """The LangChain Embeddings class behind embeddings_model()."""
    return _normalized_embeddings_class()


def chat_model(settings: Settings, model_path: Path | None = None, **overrides) -> BaseChatModel:
    """The configured LangChain chat model: llama.cpp in-process, or an OpenAI-compatible server.

    An explicit model_path always means llama.cpp. Sampling settings come from `settings` unless
    overridden (temperature=..., max_tokens=...).
    """
    match settings.llm_backend if model_path is None else "llamacpp":
        case "openai":
            return openai_chat_model(settings, **overrides)
        case _:
            return llamacpp_chat_model(settings, model_path, **overrides)


def llamacpp_chat_model(settings: Settings, model_path: Path | None = None, **overrides) -> BaseChatModel:
    """A LangChain chat model for the GGUF at model_path (default: the configured model)."""
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
    """The llama_cpp.Llama behind a chat model from chat_model(), for tokenising and grammars (else None)."""
    client = getattr(model, "client", None)
    # Other models have a `client` too (ChatOpenAI's is an openai resource): only llama.cpp's counts.
    return client if type(client).__module__.startswith("llama_cpp") else None


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


# --- OpenAI-compatible servers (llm_backend=openai) ----------------------------------------------

OPENAI_TIMEOUT_S = 120.0


def openai_chat_model(settings: Settings, **overrides) -> BaseChatModel:
    """A chat model on any OpenAI-compatible server (llama-server, vLLM, llama_cpp.server), via langchain-openai."""
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    sampling = {"temperature": settings.temperature, "max_tokens": settings.max_tokens, **overrides}
    return ChatOpenAI(
        base_url=settings.openai_base_url, model=settings.openai_model, seed=settings.seed,
        # Local servers usually need no key, but the client insists on one.
        api_key=settings.openai_api_key or SecretStr("no-key"),
        timeout=OPENAI_TIMEOUT_S, max_retries=2, stream_usage=True, **sampling,
    )


# --- Embeddings -------------------------------------------------------------------------------

# BERT attention is not causal, so llama.cpp needs each whole sequence inside one micro-batch:
# n_ubatch must cover the longest sequence (512 tokens for all-MiniLM-L6-v2).
EMBEDDING_CONTEXT = 512


@functools.lru_cache(maxsize=2)
def _load_embedding_client(model_path: str, n_threads: int, verbose: bool):
    _prepare_llama_import()
    from llama_cpp import Llama

    try:
        # Embedding runs on the batch thread count; flash attention was ~2.6x faster here with the
        # same vectors (benchmarks/embedding_throughput.py).
        return Llama(
            model_path, embedding=True, n_ctx=EMBEDDING_CONTEXT, n_batch=EMBEDDING_CONTEXT,
            n_ubatch=EMBEDDING_CONTEXT, n_threads=n_threads, n_threads_batch=n_threads,
            flash_attn=True, verbose=verbose,
        )
    except ValueError as exc:
        raise ModelFileError(f"llama.cpp could not load the embedding model {model_path}: {exc}") from None


@functools.lru_cache(maxsize=1)
def _normalized_embeddings_class():
    _prepare_llama_import()
    from langchain_community.embeddings import LlamaCppEmbeddings

    class NormalizedLlamaCppEmbeddings(LlamaCppEmbeddings):
        """LlamaCppEmbeddings returns raw pooled vectors; sentence-transformers' model normalises them."""

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            if not texts:
                return []
            with _load_lock:  # one llama.cpp context is not safe to use from two threads at once
                return [list(map(float, v)) for v in self.client.embed(list(texts), normalize=True)]

        def embed_query(self, text: str) -> list[float]:
            return self.embed_documents([text])[0]

    return NormalizedLlamaCppEmbeddings


def embeddings_model(settings: Settings, model_path: Path | None = None) -> Embeddings:
    """A LangChain Embeddings for a GGUF embedding model: mean-pooled (per the GGUF), L2-normalised."""
    from orchestrator.models import info_cache, resolve_model

    if model_path is None:
        model_path = resolve_model(settings.embedding_model, settings)
    inspect_gguf(model_path, info_cache(settings))
    with _load_lock:
        client = _load_embedding_client(str(model_path), settings.threads, settings.llama_verbose)
    embeddings_class = _normalized_embeddings_class()
    return embeddings_class(client=client, model_path=str(model_path), verbose=settings.llama_verbose)


# --- Constrained choice ------------------------------------------------------------------------


def constrained_choice(model: BaseChatModel, prompt: str, choices: list[str]) -> str:
    """Ask the model to pick one of `choices`, with a GBNF grammar so it can answer nothing else."""
    client = llama_client(model)
    if client is None:  # another backend: take the first choice named in a free answer
        text = str(model.invoke(prompt).content).lower()
        return next((choice for choice in choices if choice in text), choices[-1])
    from llama_cpp import LlamaGrammar

    alternatives = " | ".join(f'"{choice}"' for choice in choices)
    grammar = LlamaGrammar.from_string(f"root ::= {alternatives}", verbose=False)
    with _load_lock:
        response = client.create_chat_completion(
            messages=[{"role": "user", "content": prompt}], grammar=grammar, temperature=0.0, max_tokens=8
        )
    text = response["choices"][0]["message"]["content"].strip()
    return text if text in choices else choices[-1]
