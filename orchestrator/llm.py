"""The only module that touches llama.cpp (llama-cpp-python) and LangChain's llama.cpp integration,
and OpenAI-compatible chat and embedding servers (langchain-openai).

langchain-community is sunset upstream; it is used here only, for ChatLlamaCpp and
LlamaCppEmbeddings, so replacing it is a one-file change.

Models load lazily, once per process: the first call for a (file, load parameters) pair loads
the weights, later calls share them. Sampling parameters (temperature, max_tokens) are per call.
"""

from __future__ import annotations

import functools
import re
import threading
import warnings
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.config import Settings
from orchestrator.errors import ModelFileError, OrchestratorError
from orchestrator.gguf_file import check_chat_model, inspect_gguf
from orchestrator.timing import stage

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings
    from langchain_core.language_models.chat_models import BaseChatModel

_load_lock = threading.Lock()


class LlamaBusyError(OrchestratorError):
    """The model was asked again from a thread whose own generation is still streaming."""


# A hook the server sets for one request (serve/lanes.py): called in the request's context before its
# first call into a chat model, so only requests that will generate take a generation slot.
before_chat_model_call: ContextVar[Callable[[], None] | None] = ContextVar("before_chat_model_call", default=None)


class LlamaLock:
    """One call at a time into one llama.cpp context; a second call from the thread holding it is an error.

    A llama.cpp context is not thread-safe: two generations in one context crashed the process
    (GGML_ASSERT, SIGABRT, segfaults; issue 21). Every call into a loaded model's context
    (generation, embedding, grammar choice) holds that model's lock (see `lock_for`). Different
    contexts may run at once: llama.cpp's rule is one thread per object, and the chat model and the
    embedder are separate models with separate contexts, so a question can be embedded and
    retrieved while another one generates (tests/integration/test_concurrency_real.py checks the
    results are the same as alone). A streamed generation holds its lock between tokens, so a thread
    that starts another call while its own stream is open would wait forever: that raises instead.
    """

    def __init__(self, name: str = "llama.cpp", generates: bool = False) -> None:
        self.name = name
        self.generates = generates  # a chat model's context: calls run the before_chat_model_call hook
        self._lock = threading.Lock()  # not an RLock: a stream may be released by another thread
        self._owner: int | None = None

    def __enter__(self) -> LlamaLock:
        if self._owner == threading.get_ident():
            raise LlamaBusyError(
                "A llama.cpp generation is still streaming in this thread: finish or close that stream "
                "before asking the model again."
            )
        hook = before_chat_model_call.get() if self.generates else None
        if hook is not None:
            hook()
        self._lock.acquire()
        self._owner = threading.get_ident()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._owner = None
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()


_locks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_locks_guard = threading.Lock()


def lock_for(client, kind: str = "chat") -> LlamaLock:
    """The lock of one llama.cpp model (a llama_cpp.Llama): every call into its context holds it.

    kind is "chat" (calls count as generation, see before_chat_model_call) or "embedding".
    """
    with _locks_guard:
        lock = _locks.get(client)
        if lock is None:
            lock = _locks[client] = LlamaLock(f"{kind} model", generates=kind == "chat")
        return lock


def load_threads(n_threads: int | None) -> int:
    """The thread count to load with: the explicit setting, else the thread policy's choice now."""
    if n_threads:
        return n_threads
    from orchestrator.threads import policy

    return policy().threads()


def adapt_threads(client) -> None:
    """Before a call into a model loaded without ORCH_N_THREADS: re-choose its thread count for the load now.

    Hold the model's lock (lock_for). llama_set_n_threads changes the context's threads for the next decode.
    """
    if not getattr(client, "_orch_auto_threads", False):
        return
    from orchestrator.threads import policy

    threads = policy().threads()
    context = getattr(client, "_ctx", None)  # llama-cpp-python's LlamaContext (0.3.x)
    if threads != getattr(client, "_orch_threads", None) and context is not None:
        context.set_n_threads(threads, threads)
        client._orch_threads = threads


def prepare_for_seed(client, seed: int | None) -> None:
    """Before a generation with a seed: forget the cached prompt, so the whole prompt is evaluated afresh.

    llama-cpp-python keeps the last prompt's tokens and re-evaluates only what differs, at least the
    last token. The logits of a token evaluated alone differ slightly from the same token evaluated in
    a batch, and at a high temperature that changes the sampled text: asked twice with seed 1234 at
    temperature 1.5, the second request (whose prompt was all cached) said "I am sorry, I cannot
    provide that information." where the first said "The name of this person is not in the list."
    (issue 31). Evaluated afresh, the text was the same every time. The thread count is not the cause:
    logits computed on 1 and on 2 threads were identical (max difference 0.0, default model, this build).
    Costs one prompt evaluation per seeded request. Hold the model's lock (lock_for).
    """
    if seed is not None:
        client.reset()


def _mark_auto_threads(client, auto: bool, threads: int) -> None:
    client._orch_auto_threads = auto
    client._orch_threads = threads


def _prepare_llama_import():
    # The sunset notice is for us, the maintainers, not for the people running the app.
    warnings.filterwarnings("ignore", message=".*langchain-community.*", category=DeprecationWarning)
    # The thread policy (threads.py, with the measurements) chooses OpenMP's wait policy now, before
    # llama_cpp loads: the default (spin, then sleep; ~1.8x faster on free cores) unless others already
    # fill every core, then PASSIVE. The user's own OMP_WAIT_POLICY / GOMP_SPINCOUNT win. Creating the
    # policy here also starts its first CPU-time sample, so the first load has a window to measure.
    from orchestrator.threads import policy

    policy()


def import_llama_cpp():
    """The llama_cpp module, imported with this process's thread settings applied.

    The app's models load through the functions below; the offline tools (bench, compress) need
    llama.cpp's low-level API (logits, the quantizer) and import it through here.
    """
    _prepare_llama_import()
    with stage("import llama.cpp"):
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


@functools.lru_cache(maxsize=1)
def _locked_chat_class() -> type:
    import_llama_cpp()
    with stage("import LangChain's llama.cpp chat model"):
        from langchain_community.chat_models import ChatLlamaCpp

    class LockedChatLlamaCpp(ChatLlamaCpp):
        """ChatLlamaCpp whose generations hold its model's lock (`lock_for`), so concurrent callers take turns."""

        def _generate(self, *args, **kwargs):
            if self.streaming:  # ChatLlamaCpp then generates through _stream, which takes the lock
                return super()._generate(*args, **kwargs)
            with lock_for(self.client):
                adapt_threads(self.client)
                prepare_for_seed(self.client, kwargs.get("seed"))
                return super()._generate(*args, **kwargs)

        def _stream(self, *args, **kwargs):
            from orchestrator.threads import RECHECK_EVERY_TOKENS

            # Held from the first token to the last (or until the consumer closes the stream).
            with lock_for(self.client):
                adapt_threads(self.client)
                prepare_for_seed(self.client, kwargs.get("seed"))
                for count, chunk in enumerate(super()._stream(*args, **kwargs), 1):
                    yield chunk
                    if count % RECHECK_EVERY_TOKENS == 0:  # load that arrived mid-answer
                        adapt_threads(self.client)

        async def _astream(self, messages, stop=None, run_manager=None, **kwargs):
            # LangChain's default advances _stream with one executor call per token; see aio.py for
            # why a stream that holds its model's lock needs a thread of its own instead.
            from orchestrator.aio import iterate_in_own_thread

            sync_manager = run_manager.get_sync() if run_manager else None
            chunks = iterate_in_own_thread(
                lambda: self._stream(messages, stop, sync_manager, **kwargs), "llama-astream"
            )
            async for chunk in chunks:
                yield chunk

    return LockedChatLlamaCpp


@functools.lru_cache(maxsize=4)
def _load_chat_model(model_path: str, n_ctx: int, n_threads: int | None, n_batch: int, seed: int, verbose: bool):
    """n_threads None: the thread policy chooses now and again before every generation (threads.py)."""
    chat_class = _locked_chat_class()
    threads = load_threads(n_threads)
    try:
        # chat_format is left unset so llama-cpp-python uses the chat template stored in the GGUF.
        with stage("load the chat model"):
            model = _new_chat_model(chat_class, model_path, n_ctx, threads, n_batch, seed, verbose)
    except ValueError as exc:
        raise ModelFileError(f"llama.cpp could not load {model_path}: {exc}") from None
    _mark_auto_threads(model.client, n_threads is None, threads)
    _fold_system_role_if_unsupported(model.client)
    return model


def _new_chat_model(chat_class, model_path: str, n_ctx: int, threads: int, n_batch: int, seed: int, verbose: bool):
    """ChatLlamaCpp over the GGUF at model_path, with llama.cpp's options as the app needs them."""
    return chat_class(
        model_path=model_path,
        n_ctx=n_ctx,
        n_threads=threads,
        n_batch=n_batch,
        seed=seed,
        verbose=verbose,
        # ChatLlamaCpp passes rope_freq_base=10000 by default, overriding the GGUF's value
        # (100000 for SmolLM2: perplexity 18.78 -> 20.26). 0 means "as the model file says".
        # Prompt processing on the same count (ChatLlamaCpp would leave it at every logical core).
        model_kwargs={"rope_freq_base": 0.0, "rope_freq_scale": 0.0, "n_threads_batch": threads},
    )


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

    environment = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
    )
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


def _chat_template_of(client) -> str | None:
    """The Jinja chat template stored in the loaded GGUF's metadata, if any."""
    from gguf import Keys

    return client.metadata.get(Keys.Tokenizer.CHAT_TEMPLATE)


def _fold_system_role_if_unsupported(client) -> None:
    template = _chat_template_of(client)
    if not template or template_keeps_system_role(template):
        return
    from llama_cpp import llama_chat_format

    handler = (
        client.chat_handler
        or client._chat_handlers.get(client.chat_format)
        or llama_chat_format.get_chat_completion_handler(client.chat_format)
    )

    def fold_then_handle(*, messages, **kwargs):
        # fold_system_messages returns plain dicts of the same shape as llama-cpp-python's message TypedDicts
        return handler(messages=fold_system_messages(messages), **kwargs)  # type: ignore[arg-type]

    client.chat_handler = fold_then_handle


# Besides weights and KV cache, llama.cpp allocates compute buffers and the runtime needs some room.
MEMORY_HEADROOM_BYTES = 512 * 1024 * 1024


def check_context_fits(info, n_ctx: int) -> None:
    """Refuse an ORCH_N_CTX beyond the model's trained context, or whose KV cache would not fit in free memory."""
    from orchestrator.errors import ConfigError

    trained = info.context_length
    if isinstance(trained, int) and n_ctx > trained:
        raise ConfigError(
            f"ORCH_N_CTX={n_ctx:,} is more than the {trained:,} tokens {info.name} was trained with: "
            f"set ORCH_N_CTX to {trained:,} or less."
        )
    available = available_memory_bytes()
    if info.kv_bytes_per_token is None or available is None:
        return
    needed = info.size_bytes + info.kv_bytes_per_token * n_ctx + MEMORY_HEADROOM_BYTES
    if needed > available:
        fits = max(0, (available - info.size_bytes - MEMORY_HEADROOM_BYTES) // info.kv_bytes_per_token)
        raise ConfigError(
            f"ORCH_N_CTX={n_ctx:,} needs about {needed / 1e9:.1f} GB of memory for {info.name} (weights "
            f"{info.size_bytes / 1e9:.2f} GB + KV cache {info.kv_bytes_per_token * n_ctx / 1e9:.1f} GB), but only "
            f"{available / 1e9:.1f} GB is available: set ORCH_N_CTX to {fits:,} or less, or free memory."
        )


def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux), the memory a new allocation can get without swapping; None elsewhere."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def chat_model_class() -> type:
    """The LangChain chat model class behind chat_model() (for langchain-tests' standard suites)."""
    return _locked_chat_class()


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
    info = inspect_gguf(model_path, info_cache(settings))  # llama.cpp only ever opens a validated file
    check_chat_model(info)
    check_context_fits(info, settings.n_ctx)
    with _load_lock:
        base = _load_chat_model(
            str(model_path),
            settings.n_ctx,
            settings.n_threads,
            settings.n_batch,
            settings.seed,
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
    # No lock: tokenising reads only the model's vocabulary, never a context, and llama.cpp means
    # llama_tokenize to stay thread-safe (ggml-org/llama.cpp#9369). So counting never waits for a
    # generation (tests/integration/test_concurrency_real.py counts during one).
    return len(client.tokenize(text.encode("utf-8"), add_bos=False, special=True))


# llama-cpp-python's message when a prompt does not fit (Llama._create_completion).
_CONTEXT_OVERFLOW = re.compile(r"Requested tokens \((\d+)\) exceed context window of (\d+)")


def context_overflow(exc: BaseException) -> tuple[int, int] | None:
    """(tokens requested, context size) when llama.cpp refused a prompt longer than its context, else None."""
    match = _CONTEXT_OVERFLOW.search(str(exc)) if isinstance(exc, ValueError) else None
    return (int(match.group(1)), int(match.group(2))) if match else None


def context_window(model: BaseChatModel, default: int) -> int:
    """The context size the model was loaded with."""
    client = llama_client(model)
    return client.n_ctx() if client is not None else default


# --- OpenAI-compatible servers (llm_backend=openai) ----------------------------------------------

OPENAI_TIMEOUT_S = 120.0


@functools.lru_cache(maxsize=1)
def _server_chat_class():
    from langchain_openai import ChatOpenAI

    class ServerChatOpenAI(ChatOpenAI):
        """ChatOpenAI that states the token limit under both names OpenAI-compatible servers read.

        langchain-openai sends only `max_completion_tokens`, which llama_cpp.server ignores (a request
        limited to 5 tokens produced 1,246); older servers read `max_tokens`, newer ones either
        (tests/integration/test_openai_backend.py counts the tokens).
        """

        def _get_request_payload(self, input_, *, stop=None, **kwargs) -> dict:
            payload = super()._get_request_payload(input_, stop=stop, **kwargs)
            if payload.get("max_completion_tokens") is not None:
                payload.setdefault("max_tokens", payload["max_completion_tokens"])
            return payload

    return ServerChatOpenAI


def openai_chat_model(settings: Settings, **overrides) -> BaseChatModel:
    """A chat model on any OpenAI-compatible server (llama-server, vLLM, llama_cpp.server), via langchain-openai."""
    from pydantic import SecretStr

    sampling = {"temperature": settings.temperature, "max_tokens": settings.max_tokens, **overrides}
    return _server_chat_class()(
        base_url=settings.openai_base_url,
        model=settings.openai_model,
        seed=settings.seed,
        # Local servers usually need no key, but the client insists on one.
        api_key=settings.openai_api_key or SecretStr("no-key"),
        timeout=OPENAI_TIMEOUT_S,
        max_retries=2,
        stream_usage=True,
        **sampling,
    )


def backend_failure(exc: BaseException) -> tuple[int, str] | None:
    """(HTTP status, reason) when `exc` says the chat model's server failed, else None.

    503 when it could not be reached or did not answer in time, 502 when it answered with a server
    error; a request the backend refused (4xx) is not its failure.
    """
    try:
        import openai
    except ImportError:
        return None
    if isinstance(exc, (openai.APIConnectionError, openai.APITimeoutError)):
        return 503, "the model's server could not be reached"
    if isinstance(exc, openai.InternalServerError):
        return 502, f"the model's server answered {exc.status_code}"
    return None


# --- Embeddings -------------------------------------------------------------------------------

# BERT attention is not causal, so llama.cpp needs each whole sequence inside one micro-batch:
# n_ubatch must cover the longest sequence (512 tokens for all-MiniLM-L6-v2).
EMBEDDING_CONTEXT = 512


def embedding_load_options(threads: int) -> dict:
    """llama_cpp.Llama's options for the embedder (benchmarks load raw llama.cpp with the same ones)."""
    # Embedding runs on the batch thread count; flash attention was ~2.6x faster here with the
    # same vectors (benchmarks/embedding_throughput.py).
    return {
        "embedding": True,
        "n_ctx": EMBEDDING_CONTEXT,
        "n_batch": EMBEDDING_CONTEXT,
        "n_ubatch": EMBEDDING_CONTEXT,
        "n_threads": threads,
        "n_threads_batch": threads,
        "flash_attn": True,
    }


@functools.lru_cache(maxsize=2)
def _load_embedding_client(model_path: str, n_threads: int | None, verbose: bool):
    Llama = import_llama_cpp().Llama
    threads = load_threads(n_threads)
    try:
        with stage("load the embedding model"):
            client = Llama(model_path, **embedding_load_options(threads), verbose=verbose)
    except ValueError as exc:
        raise ModelFileError(f"llama.cpp could not load the embedding model {model_path}: {exc}") from None
    _mark_auto_threads(client, n_threads is None, threads)
    return client


@functools.lru_cache(maxsize=1)
def _normalized_embeddings_class():
    _prepare_llama_import()
    from langchain_community.embeddings import LlamaCppEmbeddings

    class NormalizedLlamaCppEmbeddings(LlamaCppEmbeddings):
        """LlamaCppEmbeddings returns raw pooled vectors; sentence-transformers' model normalises them."""

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            if not texts:
                return []
            with lock_for(self.client, "embedding"):
                adapt_threads(self.client)
                return [list(map(float, v)) for v in self.client.embed(list(texts), normalize=True)]

        def embed_query(self, text: str) -> list[float]:
            return self.embed_documents([text])[0]

    return NormalizedLlamaCppEmbeddings


def embeddings_model(settings: Settings, model_path: Path | None = None) -> Embeddings:
    """The configured LangChain Embeddings, L2-normalised: llama.cpp in-process, or an OpenAI-compatible server.

    An explicit model_path always means llama.cpp.
    """
    match settings.embeddings_backend if model_path is None else "llamacpp":
        case "openai":
            return server_embeddings_model(settings)
        case _:
            return llamacpp_embeddings_model(settings, model_path)


def llamacpp_embeddings_model(settings: Settings, model_path: Path | None = None) -> Embeddings:
    """A LangChain Embeddings for a GGUF embedding model: mean-pooled (per the GGUF), L2-normalised."""
    from orchestrator.models import info_cache, resolve_model

    if model_path is None:
        model_path = resolve_model(settings.embedding_model, settings)
    inspect_gguf(model_path, info_cache(settings))
    with _load_lock:
        client = _load_embedding_client(str(model_path), settings.n_threads, settings.llama_verbose)
    embeddings_class = _normalized_embeddings_class()
    return embeddings_class(client=client, model_path=str(model_path), verbose=settings.llama_verbose)


# --- Embeddings on an OpenAI-compatible server (embeddings_backend=openai) ---------------------------

EMBEDDING_PROBE_TEXT = "dimension probe"
# Texts per /v1/embeddings request: ingest's own batches stay whole, and one request stays well under
# the body limits servers set (TEI's default is 2 MB).
EMBEDDINGS_PER_REQUEST = 64


class EmbeddingServerError(OrchestratorError):
    """The embedding server gave vectors the knowledge base cannot use (another size than before, none at all)."""


def l2_normalized(vector: list[float]) -> list[float]:
    """The vector scaled to length 1 (as llama.cpp's embed(normalize=True) gives); a zero vector stays zero."""
    norm = sum(x * x for x in vector) ** 0.5
    return [float(x) / norm for x in vector] if norm > 0 else [float(x) for x in vector]


@functools.lru_cache(maxsize=1)
def _server_embeddings_class():
    from langchain_openai import OpenAIEmbeddings

    class ServerEmbeddings(OpenAIEmbeddings):
        """OpenAIEmbeddings for any /v1/embeddings server: plain strings in, L2-normalised vectors out.

        Every vector must have the size the first one had, so a server swapped for one running another
        model fails here instead of writing vectors of two models into one collection.
        """

        _first_dimension: int | None = None  # a pydantic private attribute: the size of the first vector seen

        def served_model(self) -> tuple[str, int]:
            """(the model name the server reports, the size of its vectors), from one probe request."""
            with self._server_errors():
                response = self.client.create(input=[EMBEDDING_PROBE_TEXT], model=self.model, encoding_format="float")
            if not response.data:
                raise EmbeddingServerError(f"The embedding server at {self.openai_api_base} returned no vector.")
            dimension = len(response.data[0].embedding)
            self._check_dimension([dimension])
            return str(response.model or self.model), dimension

        def _check_dimension(self, sizes: list[int]) -> None:
            if self._first_dimension is None and sizes:
                self._first_dimension = sizes[0]
            expected = self._first_dimension
            wrong = sorted({size for size in sizes if size != expected})
            if wrong:
                raise EmbeddingServerError(
                    f"The embedding server at {self.openai_api_base} (model {self.model!r}) returned vectors of size "
                    f"{wrong[0]} after vectors of size {expected}: it now runs another model. Point "
                    "ORCH_EMBEDDINGS_BASE_URL back at the server that built the collection, or re-ingest with --reset."
                )

        @contextmanager
        def _server_errors(self) -> Iterator[None]:
            import openai

            try:
                yield
            except (openai.APIConnectionError, openai.APITimeoutError) as exc:
                raise EmbeddingServerError(
                    f"The embedding server at {self.openai_api_base} could not be reached ({exc}): start it, or "
                    "set ORCH_EMBEDDINGS_BASE_URL to where it runs."
                ) from None
            except openai.APIStatusError as exc:
                hint = " (is ORCH_EMBEDDINGS_SERVER_MODEL the name it serves?)" if exc.status_code in (400, 404) else ""
                raise EmbeddingServerError(
                    f"The embedding server at {self.openai_api_base} answered {exc.status_code} to a request for "
                    f"model {self.model!r}{hint}: {exc.message}"
                ) from None

        def _normalized(self, vectors: list[list[float]]) -> list[list[float]]:
            self._check_dimension([len(vector) for vector in vectors])
            return [l2_normalized(vector) for vector in vectors]

        def embed_documents(self, texts: list[str], chunk_size: int | None = None, **kwargs) -> list[list[float]]:
            if not texts:
                return []
            with self._server_errors():
                return self._normalized(super().embed_documents(list(texts), chunk_size, **kwargs))

        def embed_query(self, text: str, **kwargs) -> list[float]:
            return self.embed_documents([text], **kwargs)[0]

        async def aembed_documents(
            self, texts: list[str], chunk_size: int | None = None, **kwargs
        ) -> list[list[float]]:
            if not texts:
                return []
            with self._server_errors():
                return self._normalized(await super().aembed_documents(list(texts), chunk_size, **kwargs))

        async def aembed_query(self, text: str, **kwargs) -> list[float]:
            return (await self.aembed_documents([text], **kwargs))[0]

    return ServerEmbeddings


def server_embeddings_model(settings: Settings) -> Embeddings:
    """Embeddings from an OpenAI-compatible /v1/embeddings server (llama-server, vLLM, TEI, Infinity), via langchain-openai."""
    from pydantic import SecretStr

    return _server_embeddings_class()(
        base_url=settings.embeddings_base_url,
        model=settings.embeddings_server_model,
        api_key=settings.embeddings_api_key or SecretStr("no-key"),
        # Send the texts as they are: the length check tokenises with tiktoken (which downloads its
        # encodings) or a Hugging Face tokenizer, and only fits OpenAI's own models anyway.
        check_embedding_ctx_length=False,
        tiktoken_enabled=False,
        # openai-python asks for base64 unless told otherwise; not every server can send it.
        model_kwargs={"encoding_format": "float"},
        chunk_size=EMBEDDINGS_PER_REQUEST,
        timeout=OPENAI_TIMEOUT_S,
        max_retries=2,
    )


def served_embeddings_model(embeddings: Embeddings) -> tuple[str, int]:
    """(model name, vector size) of an embedding server's model, asked once (embeddings from server_embeddings_model)."""
    probe = getattr(embeddings, "served_model", None)
    if probe is None:
        raise TypeError(f"{type(embeddings).__name__} does not come from an embedding server")
    return probe()


def json_schema_grammar(schema: dict) -> str:
    """The GBNF grammar llama.cpp builds for a JSON schema (what a response_format schema becomes).

    ValueError when it cannot: llama-cpp-python's chat handler would otherwise fall back, silently, to
    any JSON. Bound the schema first (serve/json_schema.py): the grammar grows with its counts.
    """
    import json

    import_llama_cpp()
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        return json_schema_to_gbnf(json.dumps(schema))
    except Exception as exc:  # noqa: BLE001 - the converter raises whatever its code meets (KeyError, ...)
        raise ValueError(f"{type(exc).__name__}: {exc}") from None


# --- Tool calling ------------------------------------------------------------------------------


def template_renders_tools(template: str) -> bool:
    """True when a chat template writes the `tools` it is given into the prompt (Llama 3.x, Qwen2.5 do)."""
    import json

    from jinja2.sandbox import ImmutableSandboxedEnvironment

    probe = "orchestrator_tool_probe"
    tools = [
        {
            "type": "function",
            "function": {"name": probe, "description": "probe", "parameters": {"type": "object", "properties": {}}},
        }
    ]

    def raise_exception(message: str):
        raise ValueError(message)

    environment = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
    )
    environment.filters["tojson"] = lambda value, indent=None, **_: json.dumps(value, indent=indent)
    try:
        text = environment.from_string(template).render(
            messages=[{"role": "user", "content": "hello"}],
            tools=tools,
            add_generation_prompt=True,
            bos_token="",
            eos_token="",
            raise_exception=raise_exception,
            date_string="1 Jan 2026",
            strftime_now=lambda fmt: "01 Jan 2026",
        )
    except Exception:  # a template that raises on tools, or a tag plain Jinja lacks
        return False
    return probe in text


def chat_template(model: BaseChatModel) -> str | None:
    """The Jinja chat template stored in a llama.cpp model's GGUF (None for other backends)."""
    client = llama_client(model)
    return _chat_template_of(client) if client is not None else None


def forced_tool_call(model: BaseChatModel, messages: list[dict], tools: list[dict]) -> str | None:
    """Offer `tools` the way the model's chat template offers them and let the model call one.

    The reply is grammar-constrained to {"name": "<one of the tool names>"}, so it always parses;
    arguments are not generated (the caller needs only the choice). None for other backends.
    """
    client = llama_client(model)
    if client is None:
        return None
    from llama_cpp import LlamaGrammar

    names = " | ".join('"' + tool["function"]["name"] + '"' for tool in tools)
    grammar = LlamaGrammar.from_string(f'root ::= "{{\\"name\\": \\"" name "\\"}}"\nname ::= {names}', verbose=False)
    with lock_for(client):
        adapt_threads(client)
        response = client.create_chat_completion(
            messages=messages, tools=tools, tool_choice="auto", grammar=grammar, temperature=0.0, max_tokens=24
        )
    return response["choices"][0]["message"].get("content") or ""
