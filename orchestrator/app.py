"""build_app(settings): the single place that wires the components together."""

from __future__ import annotations

import time
from functools import cached_property
from typing import Any, Callable, Iterator

from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ensure_config, get_callback_manager_for_config

from orchestrator.chains.chat import chat_messages
from orchestrator.chains.generate import stream_into
from orchestrator.chains.router import ROUTES, RouteDecision, Signals, decide, split_prefix
from orchestrator.config import PROJECT_ROOT, Settings
from orchestrator.errors import OrchestratorError
from orchestrator.result import Answer

ROUTER_EXAMPLES = PROJECT_ROOT / "data" / "router_examples.jsonl"
_UNSET: Any = object()


def parse_input(value: Any) -> tuple[str, list, str | None]:
    """(question, history, forced route) from {"question", "history"?, "route"?} or a plain string."""
    if isinstance(value, str):
        value = {"question": value}
    if not isinstance(value, dict) or not isinstance(value.get("question"), str):
        raise OrchestratorError('The app takes {"question": "..."} (optionally "history" and "route"): got ' + repr(value)[:80])
    if not value["question"].strip():
        raise OrchestratorError("The question is empty: ask something, e.g. 'What is 40366 / 439?'.")
    route = value.get("route") or None
    if route == "auto":
        route = None
    if route is not None and route not in ROUTES:
        raise OrchestratorError(f"Unknown route {route!r}: use one of auto, {', '.join(ROUTES)}.")
    return value["question"], list(value.get("history") or []), route


class OrchestratorApp(Runnable[dict, Answer]):
    """The assistant as a LangChain Runnable.

    invoke() returns an Answer; stream() yields text, then the Answer. Components load on first use;
    pass chat_model, embeddings, retriever or search to replace them (tests inject fakes this way).

    >>> app = build_app()
    >>> answer = app.invoke({"question": "What is 40366 / 439?"})
    >>> answer.route, answer.answer
    ('math', '40366/439 = 91.9498861047836 (exact: 40366/439)')
    >>> (app | (lambda a: a.route)).invoke({"question": "/math 2**10"})
    'math'
    """

    def __init__(self, settings: Settings, chat_model=None, embeddings=None, retriever=_UNSET, search: Callable | None = None):
        self.settings = settings
        self._chat_model = chat_model
        self._embeddings = embeddings
        self._retriever = retriever
        self._search = search
        self._warm_math_worker()

    @staticmethod
    def _warm_math_worker() -> None:
        """Start the SymPy worker process in the background, so the first math answer is fast."""
        import threading

        from orchestrator.tools.math import warm_up

        threading.Thread(target=warm_up, name="math-warm-up", daemon=True).start()

    # --- components, loaded lazily ---

    @property
    def chat_model(self):
        if self._chat_model is None:
            from orchestrator.llm import chat_model

            self._chat_model = chat_model(self.settings)
        return self._chat_model

    @property
    def embeddings(self):
        if self._embeddings is None:
            from orchestrator.llm import embeddings_model

            self._embeddings = embeddings_model(self.settings)
        return self._embeddings

    @property
    def retriever(self):
        """The hybrid retriever over the configured collection, or None when it is empty."""
        if self._retriever is _UNSET:
            from orchestrator.knowledge.retrieval import HybridRetriever
            from orchestrator.knowledge.store import list_collections, open_store

            self._retriever = None
            if any(c.name == self.settings.collection and c.count > 0 for c in list_collections(self.settings)):
                from orchestrator.knowledge.store import embedding_model_id
                from orchestrator.models import resolve_model

                model_path = resolve_model(self.settings.embedding_model, self.settings)
                store = open_store(self.settings, self.embeddings, embedding_model_id(model_path, self.embeddings))
                if store.count() > 0:
                    self._retriever = HybridRetriever.from_settings(store, self.settings)
        return self._retriever

    def forget_retriever(self) -> None:
        """Re-open the collection on next use (after an ingest changed it)."""
        self._retriever = _UNSET

    @property
    def search(self) -> Callable:
        if self._search is None:
            from orchestrator.tools.web_search import web_search

            settings = self.settings

            def search(query: str):
                return web_search(
                    query, max_results=settings.search_max_results, timeout_s=settings.search_timeout_s,
                    cache_dir=settings.data_dir / "cache" / "web_search", cache_ttl_s=settings.search_cache_ttl_s,
                )

            self._search = search
        return self._search

    @cached_property
    def semantic_router(self):
        from orchestrator.chains.router import SemanticRouter, load_examples

        return SemanticRouter(
            load_examples(ROUTER_EXAMPLES), self.embeddings.embed_documents,
            cache_dir=self.settings.data_dir / "cache", model_key=self.settings.embedding_model,
        )

    def _prompt(self, name: str) -> str:
        return self.settings.prompt_text(name)

    # --- routing ---

    def route(self, question: str, forced: str | None = None) -> tuple[RouteDecision, list | None]:
        """Decide the route; also return the retrieved chunks so the docs route need not search twice."""
        if forced:
            return RouteDecision(forced, "chosen by the caller"), None
        from orchestrator.tools.math import detect_math

        problem = detect_math(question)
        if problem is not None:
            return decide(Signals(math_reason=problem.reason or problem.kind), self.settings.relevance_threshold), None
        docs = self.retriever.retrieve_with_scores(question) if self.retriever is not None else None
        signals = Signals.for_question(
            question,
            docs_score=max((d.metadata.get("score", 0.0) for d in docs), default=0.0) if docs is not None else None,
            semantic=self.semantic_router.scores(self.embeddings.embed_query(question)),
        )
        decision = decide(signals, self.settings.relevance_threshold)
        if decision.route == "undecided":
            decision = self._llm_fallback(question, decision)
        return decision, docs

    def _llm_fallback(self, question: str, decision: RouteDecision) -> RouteDecision:
        """Only when every other signal is weak: a grammar-constrained choice between chat and factual."""
        from orchestrator.llm import constrained_choice

        choice = constrained_choice(self.chat_model, self._prompt("router_fallback.txt").format(question=question), ["chat", "factual"])
        route = "chat" if choice == "chat" else "docs"
        return RouteDecision(route, f"weak signals; the LLM classified it as {choice}", {**decision.scores, "llm": choice})

    # --- answering ---

    def stream(self, input: dict, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[str | Answer]:
        config = ensure_config(config)
        callbacks = get_callback_manager_for_config(config)
        run = callbacks.on_chain_start(None, input if isinstance(input, dict) else {"question": input}, name="orchestrator")
        try:
            final = None
            for item in self._answer(input, config, run):
                final = item
                yield item
        except BaseException as exc:
            run.on_chain_error(exc)
            raise
        run.on_chain_end(final.to_row() if isinstance(final, Answer) else {})

    def _answer(self, input: Any, config: RunnableConfig, run=None) -> Iterator[str | Answer]:
        question, history, forced = parse_input(input)
        prefixed, question = split_prefix(question)
        start = time.perf_counter()
        answer = Answer(question=question)
        try:
            decision, docs = self.route(question, forced or prefixed)
            answer.route = decision.route
            answer.route_reason = decision.as_dict()
            _announce_route(run, decision)
            yield from self._run_route(decision.route, question, history, answer, docs, start)
        except OrchestratorError as exc:
            answer.error = str(exc)
        answer.latency_s = round(time.perf_counter() - start, 3)
        yield answer

    def _run_route(self, route: str, question: str, history: list, answer: Answer, docs, start: float) -> Iterator[str]:
        from orchestrator.chains.docs import answer_from_docs
        from orchestrator.chains.math_route import answer_math
        from orchestrator.chains.web import answer_from_web

        settings = self.settings
        if route == "math":
            # Plain expressions never load the LLM; only a word problem asks it for an expression.
            yield from answer_math(question, answer, settings.math_timeout_s, lambda: self.chat_model, self._prompt("math_translate.txt"))
        elif route == "docs":
            yield from answer_from_docs(
                question, answer, self.retriever, self.chat_model, self._prompt("docs_answer.txt"),
                settings.relevance_threshold, self.embeddings, docs=docs,
            )
            if answer.abstained and settings.allow_unverified:
                yield from self._unverified(question, answer, start)
        elif route == "web":
            yield from answer_from_web(question, answer, self.search, self.chat_model, self._prompt("web_answer.txt"))
        else:
            yield from self._chat(question, history, answer, start)

    def _chat(self, question: str, history: list, answer: Answer, start: float) -> Iterator[str]:
        settings = self.settings
        from orchestrator.llm import count_tokens

        messages = chat_messages(
            self._prompt(settings.system_prompt_file), history, question, settings.n_ctx, settings.max_tokens,
            lambda text: count_tokens(self.chat_model, text),
        )
        pieces = []
        for text in stream_into(answer, self.chat_model.stream(messages), start):
            pieces.append(text)
            yield text
        answer.answer = "".join(pieces).strip()

    def _unverified(self, question: str, answer: Answer, start: float) -> Iterator[str]:
        """ORCH_ALLOW_UNVERIFIED: after the refusal, the model's own answer, labelled as such."""
        from langchain_core.prompts import ChatPromptTemplate

        chain = ChatPromptTemplate.from_messages([("human", self._prompt("unverified_answer.txt"))]) | self.chat_model
        label = "\n\nUnverified (from the model's memory, no source checked): "
        yield label
        pieces = list(stream_into(answer, chain.stream({"question": question}), start))
        yield from pieces
        answer.answer += label + "".join(pieces).strip()

    def invoke(self, input: dict, config: RunnableConfig | None = None, **kwargs: Any) -> Answer:
        result = None
        for item in self.stream(input, config, **kwargs):
            result = item
        assert isinstance(result, Answer)
        return result

    # One llama.cpp context must not run two generations at once, so batches run in order here;
    # `orchestrator batch --workers N` gets concurrency from N processes instead.
    def batch(self, inputs: list, config=None, *, return_exceptions: bool = False, **kwargs: Any) -> list:
        configs = config if isinstance(config, list) else [config] * len(inputs)
        results = []
        for item, item_config in zip(inputs, configs):
            try:
                results.append(self.invoke(item, item_config, **kwargs))
            except Exception as exc:
                if not return_exceptions:
                    raise
                results.append(exc)
        return results

    async def abatch(self, inputs: list, config=None, *, return_exceptions: bool = False, **kwargs: Any) -> list:
        import asyncio

        return await asyncio.to_thread(self.batch, inputs, config, return_exceptions=return_exceptions, **kwargs)

    async def astream(self, input: dict, config: RunnableConfig | None = None, **kwargs: Any):
        """Async streaming: the sync stream, advanced in a worker thread so the event loop stays free."""
        import asyncio

        iterator = iter(self.stream(input, config, **kwargs))
        done = object()
        while (item := await asyncio.to_thread(next, iterator, done)) is not done:
            yield item


def _announce_route(run, decision: RouteDecision) -> None:
    """A LangChain custom event "orchestrator_route" as soon as the route is chosen (the REPL names it)."""
    if run is None:
        return
    from langchain_core.callbacks.manager import dispatch_custom_event

    dispatch_custom_event("orchestrator_route", decision.as_dict(), config={"callbacks": run.get_child()})


def build_app(settings: Settings | None = None, **components) -> OrchestratorApp:
    """Wire the app from settings; pass chat_model=, embeddings=, retriever= or search= to swap a component."""
    return OrchestratorApp(settings or Settings(), **components)
