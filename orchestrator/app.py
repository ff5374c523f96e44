"""build_app(settings): the single place that wires the components together."""

from __future__ import annotations

import os
import threading
import time
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Literal, Sequence

from langchain_core.messages import AnyMessage
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableConfig, RunnableSerializable
from langchain_core.runnables.config import ensure_config, get_callback_manager_for_config, patch_config
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from orchestrator.chains.chat import chat_messages, without_route_forms
from orchestrator.chains.followup import Standalone
from orchestrator.chains.generate import stream_into
from orchestrator.chains.route_classifier import routing_text
from orchestrator.chains.router import ROUTES, RouteDecision, Signals, decide, decided_without_documents, split_prefix
from orchestrator.config import Settings, validate_collection_name
from orchestrator.errors import ConfigError, OrchestratorError
from orchestrator.result import Answer
from orchestrator.text import clean_question, instruction_and_text
from orchestrator.timing import stage

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings
    from langchain_core.language_models import BaseChatModel

    from orchestrator.knowledge.store import KnowledgeStore

_UNSET: Any = object()
EMPTY_QUESTION = "The question is empty: ask something, e.g. 'What is 40366 / 439?'."
# LangServe's /stream endpoint marks the config like this; its client adds the chunks together (issue 31).
LANGSERVE_ENDPOINT_KEY = "__langserve_endpoint"
# Tags on the model calls whose text the docs, web and math routes check before showing anything:
# LangGraph's stream_mode="messages" skips runs tagged "nostream", so a rejected draft never streams out.
DRAFT_TAGS = ["orchestrator:draft", "nostream", "langsmith:nostream"]


def forced_route(route: Any) -> str | None:
    """The route a caller forces (None for auto or unset); a ConfigError naming the routes for anything else.

    The one route rule: the app's input, `ask`/`batch --route` and the server's `route` field all use it.
    """
    if route in (None, "", "auto"):
        return None
    if route not in ROUTES:
        raise ConfigError(f"Unknown route {route!r}: use auto, {', '.join(ROUTES)}.")
    return route


class AppInput(BaseModel):
    """What the app takes: a question, optionally a forced route, the conversation so far and a collection."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(description="The question or instruction.")
    route: Literal["auto", "math", "docs", "web", "chat"] | None = Field(
        default=None, description="Force a route; auto or unset lets the router decide."
    )
    history: list[AnyMessage] = Field(
        default_factory=list,
        description="Earlier turns: messages, (role, text) tuples or {'role', 'content'} dicts.",
    )
    collection: str | None = Field(default=None, description="Knowledge-base collection for this question.")

    @field_validator("question", mode="after")
    @classmethod
    def _clean_question(cls, value: str) -> str:
        # Before routing and before any prompt, log or terminal sees it (text.clean_question); then a
        # question with nothing left ("\x00") is as blank as "".
        value = clean_question(value)
        if not value.strip():
            raise ValueError(EMPTY_QUESTION)
        return value

    @field_validator("route", mode="before")
    @classmethod
    def _known_route(cls, value: Any) -> Any:
        try:
            forced_route(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value or None

    @field_validator("history", mode="before")
    @classmethod
    def _messages(cls, value: Any) -> Any:
        from langchain_core.messages import convert_to_messages

        if value is not None and not isinstance(value, (list, tuple)):
            # A str would be read letter by letter, a dict key by key, each as one message.
            raise ValueError(
                f"history is a list of earlier turns, not a {type(value).__name__}: e.g. "
                '[("human", "Hi"), ("ai", "Hello!")] or [{"role": "user", "content": "Hi"}]'
            )
        return convert_to_messages(value or [])

    @field_validator("collection", mode="after")
    @classmethod
    def _collection_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return validate_collection_name(value)
        except OrchestratorError as exc:
            raise ValueError(str(exc)) from None


def parse_input(value: Any) -> AppInput:
    """The validated input, from an AppInput, a {"question": ...} dict or a plain string."""
    from langchain_core.prompt_values import PromptValue

    if isinstance(value, PromptValue):  # `prompt | app`
        raise OrchestratorError(
            f"The app takes a question, not a {type(value).__name__} from a prompt template: it writes its own "
            'prompts. Give it {"question": "..."} or the question as a string (e.g. `{"question": prompt | '
            "(lambda p: p.to_string())} | app`); app.text() is the app as a Runnable of text."
        )
    if isinstance(value, str):
        value = {"question": value}
    if isinstance(value, AppInput):
        parsed = value
    else:
        try:
            parsed = AppInput.model_validate(value)
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(part) for part in problem["loc"]) or "input"
            message = problem["msg"].removeprefix("Value error, ")
            raise OrchestratorError(
                f'Invalid input ({where}: {message}): the app takes {{"question": "..."}}, optionally with '
                '"route", "history" and "collection".'
            ) from None
    return parsed


def too_long_message(question: str, needed: int, window: int) -> str:
    """What to do when a prompt built around `question` did not fit the model's context window."""
    fits = max(0, len(question) * (window // 2) // max(needed, 1))  # leave half for instructions, evidence, answer
    return (
        f"The question is too long for the model ({len(question):,} characters; the prompt needed {needed:,} tokens "
        f"and the context window holds {window:,}). Shorten it to about {fits:,} characters, or raise ORCH_N_CTX."
    )


# English text runs about 4 characters a token; a question longer than the whole window at that rate
# cannot fit, whichever route answers it (the docs route may quote without the model, so it must be
# refused before routing work, not only when llama.cpp overflows).
_CHARS_PER_TOKEN = 4


def names_in_a_matching_passage(question: str, docs: Sequence[Any], threshold: float) -> bool:
    """The question names something, and one passage that matches it holds every name it gives (router.Signals).

    One passage, not the whole collection: "King" and "Stephen" each occur somewhere in many libraries.
    """
    from orchestrator.text import names, words

    asked = {name.lower().removesuffix("'s").removesuffix("’s") for name in names(question)}  # Wren's -> wren
    return bool(asked) and any(
        doc.metadata.get("score", 0.0) >= threshold and asked <= set(words(doc.page_content)) for doc in docs
    )


def check_question_fits(question: str, window: int) -> None:
    """Refuse a question that alone would fill the model's context window, on every route but math."""
    needed = len(question) // _CHARS_PER_TOKEN
    if needed > window:
        raise OrchestratorError(too_long_message(question, needed, window))


class OrchestratorApp(Runnable[AppInput, Answer]):
    """The assistant as a LangChain Runnable.

    invoke() returns an Answer; stream() yields text, then the Answer (app.text() streams text only).
    Components load on first use; pass chat_model, embeddings, retriever or search to replace them.
    Safe to call from many threads or coroutines: each llama.cpp model runs one call at a time (see llm.py),
    math and other LLM-free work does not wait for it.

    >>> app = build_app()
    >>> answer = app.invoke({"question": "What is 40366 / 439?"})
    >>> answer.route, answer.answer
    ('math', '40366/439 = 91.9498861047836 (exact: 40366/439)')
    >>> (app | (lambda a: a.route)).invoke({"question": "/math 2**10"})
    'math'
    """

    name: str | None = "orchestrator"

    def __init__(
        self,
        settings: Settings,
        chat_model: BaseChatModel | None = None,
        embeddings: Embeddings | None = None,
        retriever: BaseRetriever | None = _UNSET,  # None: no knowledge base; left out: the configured one
        search: Any = None,
    ):
        if not isinstance(settings, Settings):
            raise ConfigError(
                f"build_app takes a Settings object, not {type(settings).__name__}: "
                "use build_app(Settings(temperature=0.0)) instead of build_app({'temperature': 0})."
            )
        self.settings = settings
        self.knowledge_problem: str | None = None  # why the knowledge base cannot be opened (read-only, ...), if so
        self._chat_model = chat_model
        self._chat_model_injected = chat_model is not None  # then settings.model names no file of it
        self._embeddings = embeddings
        self._embeddings_injected = embeddings is not None
        self._custom_retriever = retriever is not _UNSET
        self._retrievers: dict[str, Any] = {} if retriever is _UNSET else {settings.collection: retriever}
        self._store_stamps: dict[str, Any] = {}  # the knowledge base's write stamp when each retriever opened
        self._search = search
        self._route_classifier: Any = None
        self._model_params: Any = _UNSET  # the chat model's parameter count, read once when router=auto
        # Components load lazily; two first questions at once must not load them twice.
        self._components_lock = threading.RLock()
        self._warm_math_worker()

    def close(self) -> None:
        """Release what the app holds: its llama.cpp models (chat, embeddings) and the SymPy worker process.

        Components passed in are left to their owner. The app still works after close(): what it needs
        loads again on first use. Also `with build_app() as app: ...`.
        """
        import sys

        from orchestrator.tools.math import shutdown_worker

        with self._components_lock:
            if not self._chat_model_injected:
                self._chat_model = None
            if not self._embeddings_injected:
                self._embeddings = None
            if not self._custom_retriever:
                self._retrievers.clear()
            self._route_classifier = None
        if "orchestrator.llm" in sys.modules:  # llama.cpp was loaded: free its cached models
            sys.modules["orchestrator.llm"].release_models()
        shutdown_worker()

    def __enter__(self) -> "OrchestratorApp":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __or__(self, other: Any) -> Any:
        _check_reads_answers(other)
        return super().__or__(other)

    def pipe(self, *others: Any, name: str | None = None) -> Any:
        for other in others[:1]:
            _check_reads_answers(other)
        return super().pipe(*others, name=name)

    @staticmethod
    def _warm_math_worker() -> None:
        """Start the SymPy worker process in the background, so the first math answer is fast."""
        from orchestrator.tools.math import warm_up

        threading.Thread(target=warm_up, name="math-warm-up", daemon=True).start()

    # --- typing ---

    @property
    def InputType(self) -> type[AppInput]:  # noqa: N802 (LangChain's name)
        return AppInput

    @property
    def OutputType(self) -> type[Answer]:  # noqa: N802 (LangChain's name)
        return Answer

    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        return AppInput

    def get_output_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        return Answer

    def get_graph(self, config: RunnableConfig | None = None):
        """The app's structure: the router, then one of the four routes, then the Answer."""
        from langchain_core.runnables import RunnableLambda
        from langchain_core.runnables.graph import Graph

        graph = Graph()
        start = graph.add_node(AppInput, "input")
        router = graph.add_node(RunnableLambda(lambda x: x, name="router"), "router")
        end = graph.add_node(Answer, "answer")
        graph.add_edge(start, router)
        for route in ROUTES:
            node = graph.add_node(RunnableLambda(lambda x: x, name=f"{route}_route"), route)
            graph.add_edge(router, node, conditional=True)
            graph.add_edge(node, end)
        return graph

    @property
    def config_specs(self) -> list:
        """Per-call settings through config["configurable"] (LangServe shows them in its config schema)."""
        from langchain_core.runnables.utils import ConfigurableFieldSpec

        return [
            ConfigurableFieldSpec(
                id="collection",
                annotation=str | None,
                default=None,
                name="Collection",
                description="Knowledge-base collection to search (the input's 'collection' wins when both are given).",
            )
        ]

    def text(self) -> Runnable[AppInput, str]:
        """This app as a Runnable of text: invoke gives the answer text, stream only its text chunks.

        Its chunks add up to the answer, so it composes with parsers: `app.text() | StrOutputParser()`.
        """
        return AnswerText(app=self)

    # --- components, loaded lazily ---

    @property
    def chat_model(self):
        with self._components_lock:
            if self._chat_model is None:
                from orchestrator.llm import chat_model

                self._chat_model = chat_model(self.settings)
            return self._chat_model

    @property
    def embeddings(self):
        with self._components_lock:
            if self._embeddings is None:
                from orchestrator.llm import embeddings_model

                self._embeddings = embeddings_model(self.settings)
            return self._embeddings

    @cached_property
    def embeddings_id(self):
        """Which embeddings this app uses: the model file's identity, or (injected ones) their class and output."""
        with self._components_lock:
            return embeddings_identity(self.settings, self.embeddings, injected=self._embeddings_injected)

    @property
    def retriever(self):
        """A LangChain retriever over the configured collection (finds nothing when it is empty)."""
        return self.retriever_for(self.settings.collection)

    def retriever_for(self, collection: str):
        """The retriever for one collection: the hybrid retriever, or an EmptyRetriever when it holds nothing."""
        from orchestrator.knowledge.retrieval import EmptyRetriever

        with self._components_lock:
            reopen = collection in self._retrievers and self._written_since_opened(collection)
            if reopen:  # another process (an ingest, a /forget) wrote to the store since
                del self._retrievers[collection]
            if collection not in self._retrievers:
                if self._custom_retriever:
                    raise ConfigError(
                        f"This app was built with its own retriever, so it cannot search collection {collection!r}: "
                        "leave out 'collection' or build the app without retriever=."
                    )
                self._store_stamps[collection] = self._store_stamp()
                self._retrievers[collection] = self._open_retriever(collection, fresh=reopen)
            retriever = self._retrievers[collection]
        return EmptyRetriever() if retriever is None else retriever

    def _store_stamp(self) -> Any:
        """The embedded store's write stamp (its SQLite files' size and mtime: a few stat calls), None for a server."""
        if self._custom_retriever or self.settings.chroma_host:
            return None
        from orchestrator.knowledge.keyword_check import chroma_stamp
        from orchestrator.knowledge.store import chroma_dir

        return chroma_stamp(chroma_dir(self.settings))

    def _written_since_opened(self, collection: str) -> bool:
        """Has the store been written since this collection's retriever was opened (checked before each retrieval)?"""
        return not self._custom_retriever and self._store_stamp() != self._store_stamps.get(collection)

    def _open_retriever(self, collection: str, fresh: bool = False):
        from orchestrator.knowledge.store import KnowledgeStoreUnwritable

        try:
            return open_retriever(self.settings, self.embeddings, self.embeddings_id, collection, fresh=fresh)
        except KnowledgeStoreUnwritable as exc:
            # Not damage: questions that need no documents still work; docs questions get this message.
            self.knowledge_problem = str(exc)
            return None

    def _open_store(self, collection: str, reset: bool = False):
        from orchestrator.knowledge.store import open_store

        return open_store(self.settings, self.embeddings, self.embeddings_id, collection, reset=reset)

    def knowledge_store(self, collection: str | None = None, *, fresh: bool = False, progress=None):
        """A collection's store (default: the configured one) opened with this app's embeddings.

        The CLI ingests into, lists and forgets files through it; `progress` shows a first pull of the
        embedding model; `fresh` as in knowledge.store.open_store.
        """
        from orchestrator.knowledge.store import open_store

        if progress is not None and not self._embeddings_injected and self.settings.embeddings_backend == "llamacpp":
            from orchestrator.models import resolve_model

            resolve_model(self.settings.embedding_model, self.settings, progress=progress)
        name = validate_collection_name(collection or self.settings.collection)
        return open_store(self.settings, self.embeddings, self.embeddings_id, name, fresh=fresh)

    def _knowledge(self, collection: str | None):
        """The retriever the docs route searches, or None when there are no documents to search."""
        from orchestrator.knowledge.retrieval import EmptyRetriever

        retriever = self.retriever_for(collection or self.settings.collection)
        return None if isinstance(retriever, EmptyRetriever) else retriever

    def _missing_collection(self, collection: str | None) -> str | None:
        """What to say when a collection named by the caller or the settings does not exist but others do.

        None otherwise: the default collection before anything was ingested into it is simply empty.
        """
        name = collection or self.settings.collection
        if self._custom_retriever or name == Settings.model_fields["collection"].default:
            return None
        from orchestrator.knowledge.store import list_collections

        names = sorted(c.name for c in list_collections(self.settings))
        if not names or name in names:
            return None
        return (
            f"There is no collection {name!r} in the knowledge base; its collections are {', '.join(names)}. "
            f"Choose one of those, or add documents to {name!r} first (`orchestrator ingest PATH --collection {name}`)."
        )

    def with_chat_model(self, chat_model) -> "OrchestratorApp":
        """This app answering with another chat model (e.g. one bound to a request's sampling options); other components are shared."""
        import copy

        clone = copy.copy(self)
        clone._chat_model = chat_model
        return clone

    def forget_retriever(self) -> None:
        """Re-open the collections on next use (after something else changed them)."""
        with self._components_lock:
            if not self._custom_retriever:
                self._retrievers.clear()
            self.knowledge_problem = None

    def ingest(
        self,
        paths: str | Path | Sequence[str | Path],
        collection: str | None = None,
        *,
        reset: bool = False,
        prune: bool = False,
        progress=None,
    ):
        """Add files or folders to a collection (default: the configured one) and answer from them at once.

        Unchanged files are skipped; returns the IngestSummary (files seen, chunks added/removed/total).
        """
        from orchestrator.knowledge.ingest import ingest_paths

        if isinstance(paths, (str, os.PathLike)):  # one path (a str would otherwise be read letter by letter)
            paths = [paths]
        name = validate_collection_name(collection or self.settings.collection)
        store = self._open_store(name, reset=reset)
        summary = ingest_paths(list(paths), store, self.settings, progress=progress, prune=prune)
        with self._components_lock:
            if not self._custom_retriever:
                self._retrievers.pop(name, None)
        return summary

    @property
    def search(self) -> Any:
        """The web search: a callable or LangChain tool from query to results."""
        with self._components_lock:
            if self._search is None:
                from orchestrator.tools.web_search import web_search

                settings = self.settings

                def search(query: str):
                    return web_search(
                        query,
                        max_results=settings.search_max_results,
                        timeout_s=settings.search_timeout_s,
                        cache_dir=settings.data_dir / "cache" / "web_search",
                        cache_ttl_s=settings.search_cache_ttl_s,
                    )

                self._search = search
            return self._search

    @property
    def route_classifier(self):
        """The learned router for this app's embeddings: the shipped one when it was trained on them, else trained."""
        with self._components_lock:
            if self._route_classifier is None:
                from orchestrator.chains.route_classifier import EmbedderKey, load_or_train, load_route_set
                from orchestrator.resources import route_classifier_file, route_examples_file

                identity = self.embeddings_id
                self._route_classifier = load_or_train(
                    load_route_set(route_examples_file()),
                    self.embeddings.embed_documents,
                    # Keyed on the embeddings in use, so a swapped-in model never reads another's weights.
                    EmbedderKey(identity.name, identity.sha256, identity.dimension),
                    shipped=route_classifier_file(),
                    cache_dir=self.settings.data_dir / "cache",
                )
            return self._route_classifier

    def _prompt(self, name: str) -> str:
        return self.settings.prompt_text(name)

    # --- routing ---

    def route(
        self,
        question: str,
        forced: str | None = None,
        collection: str | None = None,
        config: RunnableConfig | None = None,
    ) -> tuple[RouteDecision, list | None]:
        """Decide the route; also return the retrieved chunks so the docs route need not search twice."""
        with stage("route the question"):
            return self._decide_route(question, forced, collection, config)

    def needs_model(self, question: str, route: str | None = None) -> bool:
        """Whether answering `question` (with `route` forced, or "auto") may call the chat model.

        False only for a math problem SymPy solves as written, the same test the router applies first;
        the server uses it to answer such questions without waiting for a generation slot.
        """
        from orchestrator.tools.math import detect_math

        prefixed, text = split_prefix(question)
        forced = forced_route(route) or prefixed
        return forced not in (None, "math") or detect_math(text) is None

    def _decide_route(
        self, question: str, forced: str | None, collection: str | None, config: RunnableConfig | None
    ) -> tuple[RouteDecision, list | None]:
        if forced:
            return decide(Signals(forced=forced), self.settings.relevance_threshold), None
        from orchestrator.knowledge.retrieval import scored_documents
        from orchestrator.tools.math import detect_math
        from orchestrator.tools.word_problems import solve_by_template

        problem = detect_math(question)  # the test `needs_model` repeats for the server
        if problem is not None:
            return decide(Signals(math_reason=problem.reason or problem.kind), self.settings.relevance_threshold), None
        if solve_by_template(question) is not None:  # "Tom has 12 marbles and gives 5 away. How many are left?"
            return decide(
                Signals(math_reason="a word problem a template reads"), self.settings.relevance_threshold
            ), None
        threshold = self.settings.relevance_threshold
        learned = self.route_classifier.probabilities(self.embeddings.embed_query(routing_text(question)))
        tool_router = self._tool_router_on()
        if not tool_router:  # the tool router reads the documents' score itself
            decided = decided_without_documents(Signals.for_question(question, None, learned), threshold)
            if decided is not None and decided.route != "docs":  # small talk: no collection is opened
                return decided, None
        docs_score: float | None
        if self._shares_no_term(question, collection):  # its docs score would be 0: Chroma stays closed
            docs, docs_score = None, 0.0
        else:
            with stage("open the knowledge base (Chroma)"):
                retriever = self._knowledge(collection)
            docs = scored_documents(retriever, question, self.embeddings, config) if retriever is not None else None
            docs_score = max((d.metadata.get("score", 0.0) for d in docs), default=0.0) if docs is not None else None
        signals = Signals.for_question(
            question,
            docs_score=docs_score,
            learned=learned,
            names_documented=names_in_a_matching_passage(question, docs or [], threshold),
        )
        decision = decide(signals, threshold)
        if tool_router:
            decision = self._tool_route(question, signals, decision)
        return decision, docs

    def _shares_no_term(self, question: str, collection: str | None) -> bool:
        """The cheap first relevance check (knowledge/keyword_check.py): True when no question term is in the collection."""
        if self._custom_retriever or self.settings.chroma_host:
            return False
        from orchestrator.knowledge.keyword_check import shares_no_term
        from orchestrator.knowledge.store import BM25_DIRNAME, chroma_dir

        name = collection or self.settings.collection
        return shares_no_term(self.settings.data_dir / BM25_DIRNAME / name, chroma_dir(self.settings), question)

    def _tool_router_on(self) -> bool:
        """Does the chat model choose the route by tool calling (setting `router`; auto: >= 1B parameters)?"""
        from orchestrator.chains.tool_router import use_tool_router

        if self.settings.router != "auto":
            return use_tool_router(self.settings.router, None)
        if self._model_params is _UNSET:
            self._model_params = self._chat_model_params()
        return use_tool_router("auto", self._model_params)

    def _chat_model_params(self) -> int | None:
        """The chat model's parameter count from its GGUF (None for a server model, one passed in, or an unreadable file)."""
        from orchestrator.errors import OrchestratorError
        from orchestrator.gguf_file import inspect_gguf
        from orchestrator.models import info_cache, resolve_model

        if self.settings.llm_backend != "llamacpp" or self._chat_model_injected:
            return None
        try:
            return inspect_gguf(
                resolve_model(self.settings.model, self.settings, auto_pull=False), info_cache(self.settings)
            ).n_params
        except (OrchestratorError, OSError):
            return None

    def _tool_route(self, question: str, signals: Signals, decision: RouteDecision) -> RouteDecision:
        from orchestrator.chains.tool_router import tool_route

        return tool_route(
            self.chat_model,
            question,
            signals,
            decision,
            self._prompt("router_tools.txt"),
            self.settings.relevance_threshold,
        )

    # --- answering ---

    # Runnable.stream yields the output type; this one yields the text first, then the Answer (documented).
    def stream(  # type: ignore[override]
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[str | Answer]:
        config = ensure_config(config)
        callbacks = get_callback_manager_for_config(config)
        run = callbacks.on_chain_start(
            None,
            input if isinstance(input, dict) else {"question": input},
            name=config.get("run_name") or self.get_name(),
            run_id=config.pop("run_id", None),
        )
        # Inner calls (chat model, retriever, tools) report under this run.
        inner = patch_config(config, callbacks=run.get_child())
        addable = served_by_langserve_stream(config)
        streamed: list[str] = []
        try:
            final = None
            for item in self._answer(input, inner):
                final = item
                # Only LangServe's /stream sees the dict chunks; the type states what Python callers get.
                yield addable_chunk(item, streamed) if addable else item  # type: ignore[misc]
        except BaseException as exc:
            run.on_chain_error(exc)
            raise
        if isinstance(final, Answer) and final.error:
            run.on_chain_error(AnswerError(final.error))
        else:
            run.on_chain_end(final.to_row() if isinstance(final, Answer) else {})

    def _answer(self, input: Any, config: RunnableConfig) -> Iterator[str | Answer]:
        request = parse_input(input)
        configured = (config.get("configurable") or {}).get("collection")
        if request.collection is None and configured:
            request = AppInput.model_validate(
                {**request.model_dump(exclude={"history"}), "history": request.history, "collection": configured}
            )
        prefixed, typed = split_prefix(request.question)
        forced = request.route if request.route != "auto" else None
        start = time.perf_counter()
        answer = Answer(question=typed)
        followup = self.standalone(typed, request.history, forced or prefixed)
        question = answer.standalone_question = followup.question
        try:
            if followup.clarification is not None:
                yield from _ask_back(answer, followup)
                answer.latency_s = round(time.perf_counter() - start, 3)
                yield answer
                return
            decision, docs = self.route(question, forced or prefixed, request.collection, config)
            answer.route = decision.route  # type: ignore[assignment]  # the router returns one of ROUTES
            answer.route_reason = decision.as_dict()
            if followup.rule is not None:
                answer.route_reason["followup"] = {"rule": followup.rule, "standalone": question}
            _announce_route(config, decision)
            if decision.route != "math":
                check_question_fits(question, self.settings.n_ctx)
            yield from self._run_route(decision.route, question, request, answer, docs, start, config)
        except OrchestratorError as exc:
            answer.error = str(exc)
        except ValueError as exc:
            from orchestrator.llm import context_overflow

            overflow = context_overflow(exc)
            if overflow is None:
                raise
            answer.error = too_long_message(question, *overflow)
        answer.latency_s = round(time.perf_counter() - start, 3)
        yield answer

    def standalone(self, question: str, history: Sequence[Any], route: str | None = None) -> Standalone:
        """The question made to stand alone from the conversation's last turn (chains/followup.py).

        A question that stands alone, one forced to the chat route (which reads the history itself) or one
        without a history is returned unchanged; the REPL calls this to show what it asked.
        """
        from langchain_core.messages import convert_to_messages

        from orchestrator.chains.followup import make_standalone, previous_turn

        if route == "chat" or not history:
            return Standalone(question)
        return make_standalone(question, previous_turn(convert_to_messages(list(history))))

    def _run_route(
        self, route: str, question: str, request: AppInput, answer: Answer, docs, start: float, config: RunnableConfig
    ) -> Iterator[str]:
        from orchestrator.chains.docs import answer_from_docs
        from orchestrator.chains.math_route import answer_math
        from orchestrator.chains.web import answer_from_web

        settings = self.settings
        drafts: RunnableConfig = {**config, "tags": [*config.get("tags", []), *DRAFT_TAGS]}
        if route == "math":
            # Plain expressions never load the LLM; only a word problem asks it for an expression.
            yield from answer_math(
                question,
                answer,
                settings.math_timeout_s,
                lambda: self.chat_model,
                lambda: self._prompt("math_translate.txt"),
                config=drafts,
            )
        elif route == "docs":
            if self._knowledge(request.collection) is None:
                problem = self.knowledge_problem or self._missing_collection(request.collection)
                if problem:
                    raise OrchestratorError(problem)
            yield from answer_from_docs(
                question,
                answer,
                self._knowledge(request.collection),
                self.chat_model,
                self._prompt("docs_answer.txt"),
                settings.relevance_threshold,
                self.embeddings,
                docs=docs,
                config=drafts,
            )
            if answer.abstained and settings.allow_unverified:
                yield from self._unverified(question, answer, start, config)
        elif route == "web":
            yield from answer_from_web(
                question, answer, self.search, self.chat_model, self._prompt("web_answer.txt"), config=drafts
            )
        else:
            yield from self._chat(question, request.history, answer, start, config)

    def _chat(
        self, question: str, history: list, answer: Answer, start: float, config: RunnableConfig
    ) -> Iterator[str]:
        settings = self.settings
        from orchestrator.llm import count_tokens

        task = instruction_and_text(question)
        # A task on the user's own text gets a prompt of its own and the text on its own lines: with the
        # companion prompt the 135M model apologised for the text ("gonna be late, sorry") instead of rewriting it.
        messages = chat_messages(
            self._prompt("text_task_system.txt" if task else settings.system_prompt_file),
            history,
            f"{task[0]}:\n{task[1]}" if task else question,
            settings.n_ctx,
            settings.max_tokens,
            lambda text: count_tokens(self.chat_model, text),
        )
        pieces = []
        # The chat route's own voice only: no citations, quote labels or refusals copied from other routes.
        for text in without_route_forms(stream_into(answer, self.chat_model.stream(messages, config), start)):
            pieces.append(text)
            yield text
        answer.answer = "".join(pieces).strip()

    def _unverified(self, question: str, answer: Answer, start: float, config: RunnableConfig) -> Iterator[str]:
        """ORCH_ALLOW_UNVERIFIED: after the refusal, the model's own answer, labelled as such."""
        from langchain_core.prompts import ChatPromptTemplate

        chain = ChatPromptTemplate.from_messages([("human", self._prompt("unverified_answer.txt"))]) | self.chat_model
        label = "\n\nUnverified (from the model's memory, no source checked): "
        yield label
        pieces = list(stream_into(answer, chain.stream({"question": question}, config), start))
        yield from pieces
        answer.answer += label + "".join(pieces).strip()

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Answer:
        result = None
        for item in self.stream(input, config, **kwargs):
            result = item
        assert isinstance(result, Answer)
        return result

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Answer:
        result = None
        async for item in self.astream(input, config, **kwargs):
            result = item
        assert isinstance(result, Answer)
        return result

    async def astream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any):
        """Async streaming: the sync stream, run in a thread of its own so the event loop stays free."""
        from orchestrator.aio import iterate_in_own_thread

        async for item in iterate_in_own_thread(lambda: self.stream(input, config, **kwargs), "orchestrator-astream"):
            yield item


def served_by_langserve_stream(config: RunnableConfig) -> bool:
    """Is this run the one LangServe's /stream endpoint serves (not a step of a chain it serves)?

    LangServe marks the config's metadata with the endpoint; a step of a chain has a parent run.
    """
    endpoint = (config.get("metadata") or {}).get(LANGSERVE_ENDPOINT_KEY)
    return endpoint == "stream" and getattr(config.get("callbacks"), "parent_run_id", None) is None


def not_served(config: RunnableConfig | None) -> RunnableConfig:
    """The config for a wrapper's inner app.stream: the wrapper, not the app, is what LangServe serves."""
    config = ensure_config(config)
    metadata = {k: v for k, v in (config.get("metadata") or {}).items() if k != LANGSERVE_ENDPOINT_KEY}
    return {**config, "metadata": metadata}


def addable_chunk(item: str | Answer, streamed: list[str]) -> dict:
    """One chunk of a LangServe stream: {"answer": text} for text, then the Answer's other fields.

    LangServe's client adds a stream's chunks together, and str + Answer cannot be added; these dicts
    (AddableDict) add up to the Answer as a dict, its text as streamed. `streamed` collects the text so far.
    """
    from langchain_core.runnables.utils import AddableDict

    if isinstance(item, str):
        streamed.append(item)
        return AddableDict(answer=item)
    row = item.to_row()
    text = "".join(streamed)
    rest = row.pop("answer")
    return AddableDict(row, answer=rest[len(text) :] if rest.startswith(text) else "")


def _check_reads_answers(other: Any) -> None:
    """Refuse `app | parser`: an output parser reads text or messages, and the app gives an Answer."""
    from langchain_core.output_parsers import BaseLLMOutputParser, BaseOutputParser

    if isinstance(other, (BaseOutputParser, BaseLLMOutputParser)):
        raise ConfigError(
            f"The app gives an Answer, not text, so {type(other).__name__} cannot read it: use "
            f"app.text() | {type(other).__name__}() (the answer's text, streamed), or app | (lambda a: a.answer)."
        )


class AnswerError(OrchestratorError):
    """A question the app answered with an error (the Answer's `error`), reported to callbacks as a failed run."""


class AnswerText(RunnableSerializable[AppInput, str]):
    """An OrchestratorApp as a Runnable of text (see OrchestratorApp.text)."""

    app: Any

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> str:
        return "".join(self.stream(input, config, **kwargs))

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[str]:
        for item in self.app.stream(input, not_served(config), **kwargs):
            if isinstance(item, str):
                yield item

    async def astream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any):
        async for item in self.app.astream(input, not_served(config), **kwargs):
            if isinstance(item, str):
                yield item

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> str:
        return "".join([item async for item in self.astream(input, config, **kwargs)])

    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        return AppInput


def embeddings_identity(settings: Settings, embeddings, injected: bool):
    """The EmbeddingModelId of the embeddings in use: the configured GGUF's, or that of embeddings passed in."""
    from orchestrator.knowledge.store import embedding_model_id, injected_embeddings_id

    if injected:
        return injected_embeddings_id(embeddings)
    if settings.embeddings_backend == "openai":
        from orchestrator.knowledge.store import served_embedding_model_id
        from orchestrator.llm import served_embeddings_model

        return served_embedding_model_id(*served_embeddings_model(embeddings))
    from orchestrator.models import resolve_model

    return embedding_model_id(resolve_model(settings.embedding_model, settings), embeddings)


def open_knowledge_store(
    settings: Settings,
    collection: str | None = None,
    reset: bool = False,
    progress=None,
    fresh: bool = False,
    verify: bool = True,
) -> KnowledgeStore:
    """A collection opened with the configured embedding model (pulled on first use), for the CLI and `eval`.

    The app's own collections are opened by OrchestratorApp with its (possibly injected) embeddings;
    `fresh` and `verify` as in knowledge.store.open_store.
    """
    from orchestrator.knowledge.store import open_store
    from orchestrator.llm import embeddings_model

    if settings.embeddings_backend == "llamacpp":
        from orchestrator.models import resolve_model

        resolve_model(settings.embedding_model, settings, progress=progress)  # a first use pulls it, with progress
    embeddings = embeddings_model(settings)
    identity = embeddings_identity(settings, embeddings, injected=False)
    return open_store(settings, embeddings, identity, collection, reset, fresh, verify=verify)


def open_retriever(settings: Settings, embeddings, identity, collection: str, fresh: bool = False):
    """The hybrid retriever (relevance-filtered) over a collection, or an EmptyRetriever when it holds nothing.

    `fresh` re-reads the store from disk, after another process wrote to it (see knowledge.store.open_store).
    """
    from orchestrator.knowledge.retrieval import EmptyRetriever, HybridRetriever
    from orchestrator.knowledge.store import collection_size, open_store

    if not collection_size(settings, collection):  # missing or empty; the library's other collections stay closed
        return EmptyRetriever()
    store = open_store(settings, embeddings, identity, collection, fresh=fresh, read_only=True)
    if store.count() == 0:
        return EmptyRetriever()
    return HybridRetriever.from_settings(store, settings, filter_irrelevant=True)


def make_retriever(settings: Settings | None = None, collection: str | None = None, embeddings=None) -> BaseRetriever:
    """A LangChain retriever over a knowledge-base collection (default: the configured one).

    Hybrid vector + BM25 search; invoke() returns only chunks whose relevance `score` reaches
    settings.relevance_threshold, and an empty or missing collection gives a retriever that finds nothing.
    """
    settings = settings or Settings()
    injected = embeddings is not None
    if embeddings is None:
        from orchestrator.llm import embeddings_model

        embeddings = embeddings_model(settings)
    identity = embeddings_identity(settings, embeddings, injected)
    return open_retriever(settings, embeddings, identity, validate_collection_name(collection or settings.collection))


def _ask_back(answer: Answer, followup: Standalone) -> Iterator[str]:
    """A follow-up the rules cannot complete ("and times 3?" after an answer with two numbers): ask which is meant."""
    assert followup.clarification is not None
    answer.route = "math"
    answer.abstained = True
    answer.answer = followup.clarification
    answer.route_reason = {"reason": "a math follow-up on an answer without a single number", "followup": followup.rule}
    yield answer.answer


def _announce_route(config: RunnableConfig, decision: RouteDecision) -> None:
    """A LangChain custom event "orchestrator_route" as soon as the route is chosen (the REPL names it).

    `config` is the app run's inner config, whose callbacks have the app's run as their parent.
    """
    from langchain_core.callbacks.manager import dispatch_custom_event

    if getattr(config.get("callbacks"), "parent_run_id", None) is None:
        return
    dispatch_custom_event("orchestrator_route", decision.as_dict(), config=config)


def build_app(settings: Settings | None = None, **components: Any) -> OrchestratorApp:
    """Wire the app from settings; pass chat_model=, embeddings=, retriever= or search= to swap a component."""
    return OrchestratorApp(settings or Settings(), **components)
