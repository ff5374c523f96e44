"""The Python API as LangChain developers use it (issue 21): swapped components, tracing, schemas, safety.

Fast stand-ins for the model and embedder; a real Chroma in a temp dir where the knowledge base matters.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
import uuid

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import StructuredTool
from langchain_core.vectorstores import InMemoryVectorStore

from orchestrator import Answer, Settings, build_app
from orchestrator.errors import ConfigError, OrchestratorError
from tests.helpers.word_hash import WordHashEmbeddings

SB50 = "The Denver Broncos won Super Bowl 50 against the Carolina Panthers."


def fake_chat(*replies: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=itertools.cycle([AIMessage(r) for r in replies]))


def no_search(query):
    raise AssertionError("web search must not be called here")


class Recorder(BaseCallbackHandler):
    """Records every callback it receives as (event, name-or-None, details)."""

    def __init__(self):
        self.events: list[tuple] = []

    def on_chain_start(self, serialized, inputs, *, run_id, parent_run_id=None, **kwargs):
        self.events.append(("chain_start", kwargs.get("name"), run_id, parent_run_id))

    def on_chain_end(self, outputs, *, run_id, **kwargs):
        self.events.append(("chain_end", None, run_id, outputs))

    def on_chain_error(self, error, *, run_id, **kwargs):
        self.events.append(("chain_error", None, run_id, error))

    def on_chat_model_start(self, serialized, messages, *, run_id, parent_run_id=None, tags=None, **kwargs):
        self.events.append(("chat_model_start", None, parent_run_id, tags))

    def on_llm_new_token(self, token, **kwargs):
        self.events.append(("llm_new_token", None, token, None))

    def on_retriever_start(self, serialized, query, *, run_id, parent_run_id=None, **kwargs):
        self.events.append(("retriever_start", None, parent_run_id, query))

    def on_tool_start(self, serialized, input_str, *, run_id, parent_run_id=None, **kwargs):
        self.events.append(("tool_start", kwargs.get("name") or serialized.get("name"), parent_run_id, input_str))

    def kinds(self) -> list[str]:
        return [event[0] for event in self.events]


class ScoredRetriever:
    """The project's own retriever protocol (chunks already scored), so these tests need nothing new from the app."""

    def __init__(self, *texts):
        self.docs = [
            Document(page_content=t, metadata={"source": "doc.txt", "score": 0.9, "chunk_id": "c1"}) for t in texts
        ]

    def retrieve_with_scores(self, question, k=None):
        return list(self.docs)


def in_memory_retriever(texts, embeddings=None):
    store = InMemoryVectorStore(embeddings or WordHashEmbeddings())
    store.add_documents([Document(page_content=t, metadata={"source": f"doc{i}.txt"}) for i, t in enumerate(texts)])
    return store.as_retriever(search_kwargs={"k": 2})


# --- 1. concurrency: one llama.cpp call at a time, LLM-free work not blocked ---


class FakeLlama:
    """A stand-in llama_cpp.Llama that records how many generations run at once."""

    def __init__(self):
        self.active = self.most = 0
        self._lock = threading.Lock()

    def create_chat_completion(self, messages, stream=False, **params):
        def chunks():
            for token in ["one ", "two ", "three"]:
                with self._lock:
                    self.active += 1
                    self.most = max(self.most, self.active)
                time.sleep(0.005)
                with self._lock:
                    self.active -= 1
                yield {"choices": [{"delta": {"content": token}, "finish_reason": None}]}

        if stream:
            return chunks()
        text = "".join(c["choices"][0]["delta"]["content"] for c in chunks())
        return {"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}


def locked_fake_model(client):
    from orchestrator import llm

    return llm.chat_model_class().model_construct(client=client, model_path="fake.gguf")


def test_llama_generations_never_overlap_across_threads():
    client = FakeLlama()
    model = locked_fake_model(client)
    replies: list[str] = []

    def call(n):
        replies.append(model.invoke("hi").content if n % 2 else "".join(c.content for c in model.stream("hi")))

    threads = [threading.Thread(target=call, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert replies == ["one two three"] * 8
    assert client.most == 1


def test_asking_again_inside_an_open_stream_raises_instead_of_hanging():
    from orchestrator.llm import LlamaBusyError, lock_for

    client = FakeLlama()
    model = locked_fake_model(client)
    stream = model.stream("hi")
    assert next(stream).content == "one "
    with pytest.raises(LlamaBusyError, match="finish or close that stream"):
        model.invoke("again")
    stream.close()
    assert not lock_for(client).locked()
    assert model.invoke("again").content == "one two three"


def test_gathered_async_streams_finish_with_a_small_executor(tmp_path):
    """A stream holds the llama lock between tokens; it must not need a free executor thread to go on."""
    from concurrent.futures import ThreadPoolExecutor

    client = FakeLlama()
    model = locked_fake_model(client)
    app = build_app(Settings(data_dir=tmp_path), chat_model=model, embeddings=WordHashEmbeddings(), retriever=None)

    async def run():
        async def model_text():
            return "".join([chunk.content async for chunk in model.astream("hi")])

        async def app_text():
            return "".join(
                [item async for item in app.astream({"question": "hi", "route": "chat"}) if isinstance(item, str)]
            )

        return await asyncio.wait_for(
            asyncio.gather(*(model_text() for _ in range(6)), *(app_text() for _ in range(6))), 30
        )

    # LangChain's default _astream advances a stream with one executor call per token: with both
    # executor threads waiting for the lock, the stream holding it never advanced (a hang).
    loop = asyncio.new_event_loop()
    loop.set_default_executor(ThreadPoolExecutor(2))
    try:
        assert loop.run_until_complete(run()) == ["one two three"] * 12
    finally:
        loop.close()  # without waiting for executor threads, so a regression fails instead of hanging here
    assert client.most == 1


def test_math_answers_while_a_generation_holds_the_chat_model_lock(tmp_path):
    from orchestrator.llm import lock_for

    client = FakeLlama()
    app = build_app(
        Settings(data_dir=tmp_path),
        chat_model=locked_fake_model(client),
        embeddings=WordHashEmbeddings(),
        retriever=None,
    )
    with lock_for(client):  # as if another thread were generating
        answers = app.batch([{"question": f"{n} * 7"} for n in range(8)])
    assert [a.tool_calls[0]["output"]["exact"] for a in answers] == [str(n * 7) for n in range(8)]


class FakeEmbeddingLlama:
    """A stand-in embedding llama_cpp.Llama that records overlapping calls."""

    def __init__(self, vectors=None):
        self.active = self.most = 0
        self._lock = threading.Lock()
        self.vectors = vectors  # an Embeddings whose vectors to return

    def embed(self, texts, normalize=True):
        with self._lock:
            self.active += 1
            self.most = max(self.most, self.active)
        time.sleep(0.005)
        with self._lock:
            self.active -= 1
        return self.vectors.embed_documents(list(texts)) if self.vectors else [[1.0, 0.0] for _ in texts]


def test_each_model_has_its_own_lock_one_call_at_a_time_in_each():
    """The chat model and the embedder are separate llama.cpp contexts: each takes one call at a time, both may run at once."""
    from orchestrator import llm

    chat_client, embed_client = FakeLlama(), FakeEmbeddingLlama()
    model = locked_fake_model(chat_client)
    embedder = llm.embeddings_class().model_construct(client=embed_client, model_path="fake.gguf")
    assert llm.lock_for(chat_client) is not llm.lock_for(embed_client, "embedding")
    assert llm.lock_for(chat_client).generates and not llm.lock_for(embed_client, "embedding").generates
    with llm.lock_for(chat_client):  # a generation in progress does not hold up embedding
        done = threading.Thread(target=embedder.embed_query, args=("hi",))
        done.start()
        done.join(timeout=5)
        assert not done.is_alive()
    threads = [threading.Thread(target=embedder.embed_documents, args=(["a", "b"],)) for _ in range(8)]
    threads += [threading.Thread(target=model.invoke, args=("hi",)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert embed_client.most == 1 and chat_client.most == 1


def test_a_docs_refusal_does_not_wait_for_a_generation_in_progress(tmp_path):
    """Route, retrieve and refuse need only the embedder, not the chat model another thread is generating with."""
    from orchestrator import llm

    client = FakeLlama()
    embedder = llm.embeddings_class().model_construct(
        client=FakeEmbeddingLlama(WordHashEmbeddings()), model_path="fake.gguf"
    )
    app = build_app(
        Settings(data_dir=tmp_path),
        chat_model=locked_fake_model(client),
        embeddings=embedder,
        retriever=in_memory_retriever(["Penguins nest on rocky shores."], embedder),
    )
    answers = []
    with llm.lock_for(client):  # as if another thread were generating
        asking = threading.Thread(
            target=lambda: answers.append(
                app.invoke({"question": "Which ports did the 1904 treaty open to trade?", "route": "docs"})
            )
        )
        asking.start()
        asking.join(timeout=10)
        assert not asking.is_alive(), "the refusal waited for the chat model"
        question = {"question": "Who signed the 1904 treaty?", "route": "docs"}
        answers.append(asyncio.run(asyncio.wait_for(app.ainvoke(question), 10)))  # the async API the same
    assert [(a.abstained, a.route) for a in answers] == [(True, "docs")] * 2


def test_threads_and_gathered_coroutines_get_their_own_answers(tmp_path):
    app = build_app(
        Settings(data_dir=tmp_path),
        chat_model=fake_chat("Hello there."),
        embeddings=WordHashEmbeddings(),
        retriever=in_memory_retriever([SB50]),
        search=lambda q: [{"title": "t", "url": "https://x", "snippet": "s"}],
    )
    questions = [{"question": f"{n} + 1"} if n % 2 else {"question": f"Hi {n}", "route": "chat"} for n in range(8)]
    results: dict[int, Answer] = {}
    threads = [threading.Thread(target=lambda n=n: results.__setitem__(n, app.invoke(questions[n]))) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    async def gathered():
        return await asyncio.gather(*(app.ainvoke(q) for q in questions))

    for answers in ([results[n] for n in range(8)], asyncio.run(gathered())):
        for n, answer in enumerate(answers):
            assert answer.error is None
            assert answer.answer == (f"{n} + 1 = {n + 1}" if n % 2 else "Hello there."), answer.answer


# --- 2, 3, 4. tracing and events ---


def test_callbacks_see_the_model_retriever_and_tools_nested_under_the_run(tmp_path):
    recorder = Recorder()
    app = build_app(
        Settings(data_dir=tmp_path, relevance_threshold=0.3),
        chat_model=fake_chat("Hello there friend."),
        embeddings=WordHashEmbeddings(),
        retriever=in_memory_retriever([SB50, "Warsaw is the capital of Poland."]),
        search=lambda q: [{"title": "Result", "url": "https://example.org", "snippet": "Something."}],
    )
    run_id = uuid.uuid4()
    app.invoke({"question": "Hi", "route": "chat"}, {"callbacks": [recorder], "run_name": "my-run", "run_id": run_id})
    assert recorder.events[0][:3] == ("chain_start", "my-run", run_id)
    assert "chat_model_start" in recorder.kinds() and "llm_new_token" in recorder.kinds()
    assert recorder.events[-1][:3] == ("chain_end", None, run_id)

    recorder.events.clear()
    app.invoke({"question": "Who won Super Bowl 50?", "route": "docs"}, {"callbacks": [recorder]})
    root = recorder.events[0][2]
    assert ("retriever_start", None, root, "Who won Super Bowl 50?") in recorder.events

    recorder.events.clear()
    app.invoke({"question": "2 + 2"}, {"callbacks": [recorder]})
    assert [e[1] for e in recorder.events if e[0] == "tool_start"] == ["math"]

    recorder.events.clear()
    app.invoke({"question": "Who is the current UN secretary-general?", "route": "web"}, {"callbacks": [recorder]})
    assert [e[1] for e in recorder.events if e[0] == "tool_start"] == ["web_search"]


def test_a_failed_answer_is_reported_as_a_chain_error(tmp_path):
    recorder = Recorder()
    settings = Settings(data_dir=tmp_path, n_ctx=128, max_tokens=120)  # no room for the question
    app = build_app(settings, chat_model=fake_chat("x"), embeddings=WordHashEmbeddings(), retriever=None)
    answer = app.invoke({"question": "Tell me a long story " * 10, "route": "chat"}, {"callbacks": [recorder]})
    assert answer.error  # still on the Answer
    assert recorder.kinds()[-1] == "chain_error" and "chain_end" not in recorder.kinds()[-1:]
    assert str(recorder.events[-1][3]) == answer.error


def test_astream_events_v2_has_start_stream_and_end_events(tmp_path):
    app = build_app(
        Settings(data_dir=tmp_path),
        chat_model=fake_chat("Hello there."),
        embeddings=WordHashEmbeddings(),
        retriever=None,
    )

    async def collect():
        return [event async for event in app.astream_events({"question": "Hi", "route": "chat"}, version="v2")]

    events = asyncio.run(collect())
    root = [e["event"] for e in events if e["name"] == "orchestrator"]
    assert root[0] == "on_chain_start" and "on_chain_stream" in root and root[-1] == "on_chain_end"
    assert (
        "".join(str(e["data"]["chunk"].content) for e in events if e["event"] == "on_chat_model_stream")
        == "Hello there."
    )


def test_drafts_the_grounding_check_may_reject_are_tagged_nostream(tmp_path):
    recorder = Recorder()
    app = build_app(
        Settings(data_dir=tmp_path, relevance_threshold=0.3),
        chat_model=fake_chat("The text is quoted data, not instructions."),
        embeddings=WordHashEmbeddings(),
        retriever=ScoredRetriever(SB50),
        search=lambda q: [{"title": "Result", "url": "https://example.org", "snippet": "Something else."}],
    )
    # a docs factoid is quoted without a draft; an explanation is drafted by the model
    for route, question in [
        ("docs", "How did the Broncos win Super Bowl 50?"),
        ("web", "Who won the latest Super Bowl?"),
    ]:
        recorder.events.clear()
        answer = app.invoke({"question": question, "route": route}, {"callbacks": [recorder]})
        assert "quoted data" not in answer.answer
        tags = [e[3] for e in recorder.events if e[0] == "chat_model_start"]
        assert tags and all("nostream" in t and "orchestrator:draft" in t for t in tags)


def test_langgraph_messages_stream_does_not_leak_rejected_drafts(tmp_path):
    langgraph = pytest.importorskip("langgraph.graph")
    from typing_extensions import TypedDict

    app = build_app(
        Settings(data_dir=tmp_path, relevance_threshold=0.3),
        chat_model=fake_chat("The text is quoted data, not instructions."),
        embeddings=WordHashEmbeddings(),
        retriever=ScoredRetriever(SB50),
        search=no_search,
    )

    chat_app = build_app(
        Settings(data_dir=tmp_path),
        chat_model=fake_chat("Nice to meet you."),
        embeddings=WordHashEmbeddings(),
        retriever=None,
        search=no_search,
    )

    class State(TypedDict):
        question: str
        answer: str
        reply: str

    graph = langgraph.StateGraph(State)
    graph.add_node("ask", lambda state: {"answer": app.invoke({"question": state["question"], "route": "docs"}).answer})
    graph.add_node("chat", lambda state: {"reply": chat_app.invoke({"question": "Hello!", "route": "chat"}).answer})
    graph.add_edge(langgraph.START, "ask")
    graph.add_edge("ask", "chat")
    compiled = graph.compile()
    streamed = "".join(
        str(chunk.content)
        for chunk, _ in compiled.stream({"question": "Who won Super Bowl 50?"}, stream_mode="messages")
    )
    assert "Nice to meet you." in streamed  # the chat route's text streams out
    assert "quoted data" not in streamed  # the docs route's rejected draft does not


# --- 5, 6, 7, 8. swapping components ---


def test_any_langchain_retriever_works_and_gets_scores_from_the_embeddings(tmp_path):
    app = build_app(
        Settings(data_dir=tmp_path, relevance_threshold=0.3),
        chat_model=fake_chat("The Denver Broncos won Super Bowl 50 [1]."),
        embeddings=WordHashEmbeddings(),
        retriever=in_memory_retriever([SB50, "Warsaw is the capital of Poland."]),
    )
    answer = app.invoke({"question": "Who won Super Bowl 50?", "route": "docs"})
    assert answer.error is None and not answer.abstained and "Broncos" in answer.answer
    assert answer.sources[0]["source"] == "doc0.txt" and 0.3 <= answer.sources[0]["score"] <= 1.0


@pytest.mark.parametrize(
    "search",
    [
        lambda q: [
            {"title": "UN", "link": "https://un.org/sg", "snippet": "António Guterres is the UN Secretary-General."}
        ],
        lambda q: ["António Guterres is the UN Secretary-General."],
        StructuredTool.from_function(
            lambda query: [
                {"title": "UN", "url": "https://un.org/sg", "content": "António Guterres is the UN Secretary-General."}
            ],
            name="my_search",
            description="search",
        ),
    ],
    ids=["dicts", "strings", "tool"],
)
def test_search_accepts_dicts_strings_and_tools(tmp_path, search):
    app = build_app(
        Settings(data_dir=tmp_path),
        chat_model=fake_chat("António Guterres is the UN Secretary-General [1]."),
        embeddings=WordHashEmbeddings(),
        retriever=None,
        search=search,
    )
    answer = app.invoke({"question": "Who is the UN Secretary-General?", "route": "web"})
    assert answer.error is None and not answer.abstained, answer.answer
    assert "Guterres" in answer.answer


def _broken(query):
    raise RuntimeError("connection reset")


def _unavailable(query):
    from langchain_core.tools import ToolException

    from orchestrator.tools.web_search import SearchUnavailable

    raise ToolException(str(SearchUnavailable("connection reset")))


@pytest.mark.parametrize(
    "search",
    [
        _broken,
        StructuredTool.from_function(_broken, name="broken_tool", description="search"),
        StructuredTool.from_function(_unavailable, name="web_search", description="search", handle_tool_error=True),
    ],
    ids=["callable-raises", "tool-raises", "tool-reports-error"],
)
def test_a_failing_search_means_cant_verify(tmp_path, search):
    app = build_app(
        Settings(data_dir=tmp_path),
        chat_model=fake_chat("x"),
        embeddings=WordHashEmbeddings(),
        retriever=None,
        search=search,
    )
    answer = app.invoke({"question": "Who is the UN Secretary-General?", "route": "web"})
    assert answer.abstained and "can't verify" in answer.answer
    search_call = next(call for call in answer.tool_calls if call["tool"] == "web_search")
    assert "connection reset" in search_call["error"]  # the reason stays in the record (/why), not the sentence


def test_swapped_embeddings_never_share_the_router_cache_or_a_collection(tmp_path, monkeypatch):
    settings = Settings(data_dir=tmp_path)
    fake16 = build_app(
        settings, chat_model=fake_chat("x"), embeddings=DeterministicFakeEmbedding(size=16), search=no_search
    )
    assert "all-minilm" not in fake16.embeddings_id.describe() and "dim 16" in fake16.embeddings_id.describe()
    # An empty data folder: no collection yet, so the docs route refuses (no numpy shape error).
    empty = fake16.invoke({"question": "What is a Martian Dunetree?", "route": "docs"})
    assert empty.error is None and empty.abstained
    scores = fake16.route_classifier.probabilities(fake16.embeddings.embed_query("Hello, how are you today?"))
    assert all(0.0 <= s <= 1.0 for s in scores.values())

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "sb50.txt").write_text(SB50)
    fake16.ingest([docs])

    other = build_app(settings, chat_model=fake_chat("x"), embeddings=WordHashEmbeddings(), search=no_search)
    assert other.route_classifier.coef.shape[1] == 64  # not the 16-dim classifier trained for the first app
    hello = other.route_classifier.probabilities(other.embeddings.embed_query("Hello, how are you today?"))
    assert max(hello, key=hello.get) == "chat" and all(s <= 1.0 for s in hello.values())
    refused = other.invoke({"question": "Who won Super Bowl 50?", "route": "docs"})
    assert refused.error and "was built with DeterministicFakeEmbedding" in refused.error


def test_build_app_rejects_a_dict_and_settings_reject_typos():
    with pytest.raises(ConfigError, match=r"build_app\(Settings\(temperature"):
        build_app({"temperature": 0})
    with pytest.raises(ConfigError, match="did you mean 'temperature'"):
        Settings(tempreature=0.0)


# --- 9, 10, 11, 12. public surface ---


def test_ingest_refreshes_the_app_and_a_per_call_collection_is_searched(tmp_path):
    app = build_app(
        Settings(data_dir=tmp_path, relevance_threshold=0.3),
        chat_model=fake_chat("The Denver Broncos won Super Bowl 50 [1]."),
        embeddings=WordHashEmbeddings(),
        search=no_search,
    )
    question = {"question": "Who won Super Bowl 50?", "route": "docs"}
    assert app.invoke(question).abstained  # nothing ingested yet
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "sb50.txt").write_text(SB50)
    summary = app.ingest([docs], collection="sports")
    assert summary.chunks_added == 1
    assert app.invoke(question).abstained  # the default collection is still empty
    answer = app.invoke({**question, "collection": "sports"})
    assert not answer.abstained and answer.sources[0]["source"].endswith("sb50.txt")

    configured = app.invoke(question, {"configurable": {"collection": "sports"}})
    assert not configured.abstained
    assert "collection" in app.config_schema().model_json_schema()["$defs"]["Configurable"]["properties"]

    app.ingest([docs])  # into the default collection, which the app already opened (empty)
    assert not app.invoke(question).abstained


def test_unknown_input_keys_are_rejected(tmp_path):
    app = build_app(
        Settings(data_dir=tmp_path), chat_model=fake_chat("x"), embeddings=WordHashEmbeddings(), retriever=None
    )
    with pytest.raises(OrchestratorError, match="colection"):
        app.invoke({"question": "2+2", "colection": "notes"})


def test_tools_and_retriever_factory_are_exported_and_the_retriever_filters(tmp_path):
    import orchestrator
    from orchestrator import make_retriever, math_tool, web_search_tool

    assert math_tool.name == "math" and web_search_tool.name == "web_search"
    assert {"make_retriever", "math_tool", "web_search_tool"} <= set(orchestrator.__all__)

    settings = Settings(data_dir=tmp_path, relevance_threshold=0.3)
    empty = build_app(settings, chat_model=fake_chat("x"), embeddings=WordHashEmbeddings()).retriever
    assert isinstance(empty, BaseRetriever)
    format_docs = lambda docs: "\n".join(d.page_content for d in docs)  # noqa: E731
    assert (empty | format_docs).invoke("anything") == ""

    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in {
        "sb50": SB50,
        "warsaw": "Warsaw is the capital of Poland.",
        "tea": "Green tea is brewed cool.",
        "moon": "The Moon orbits the Earth.",
    }.items():
        (docs / f"{name}.txt").write_text(text)
    build_app(settings, embeddings=WordHashEmbeddings()).ingest([docs])
    retriever = make_retriever(settings, embeddings=WordHashEmbeddings())
    found = retriever.invoke("Who won Super Bowl 50?")
    assert [d.metadata["source"].rsplit("/", 1)[-1] for d in found] == ["sb50.txt"]
    assert all(d.metadata["score"] >= 0.3 for d in found)


def test_math_tool_errors_are_tool_errors():
    from langchain_core.messages import ToolMessage

    from orchestrator import math_tool

    message = math_tool.invoke(
        {"type": "tool_call", "name": "math", "args": {"question": "/math x.__class__"}, "id": "1"}
    )
    assert isinstance(message, ToolMessage) and message.status == "error" and "not allowed" in message.content
    ok = math_tool.invoke({"type": "tool_call", "name": "math", "args": {"question": "6*7"}, "id": "2"})
    assert ok.status == "success" and "42" in ok.content


# --- 13, 14. types and schemas ---


def test_input_schema_names_the_fields_and_history_accepts_tuples_and_role_dicts(tmp_path):
    chat = fake_chat("Fine, thanks.")
    app = build_app(Settings(data_dir=tmp_path), chat_model=chat, embeddings=WordHashEmbeddings(), retriever=None)
    schema = app.get_input_jsonschema()
    assert schema["required"] == ["question"]
    route = schema["properties"]["route"]
    assert {"auto", "math", "docs", "web", "chat"} <= set(route["anyOf"][0]["enum"])
    assert app.get_output_jsonschema()["properties"]["route"]["enum"] == ["math", "docs", "web", "chat"]

    answer = app.invoke(
        {
            "question": "And you?",
            "route": "chat",
            "history": [
                ("human", "Hi, I am Ada."),
                {"role": "assistant", "content": "Hello Ada."},
                HumanMessage("How are you?"),
                AIMessage("Well."),
            ],
        }
    )
    assert answer.error is None and answer.answer == "Fine, thanks."


def test_the_package_is_typed():
    from importlib.resources import files

    assert files("orchestrator").joinpath("py.typed").is_file()


def test_text_runnable_composes_with_a_string_parser(tmp_path):
    app = build_app(
        Settings(data_dir=tmp_path),
        chat_model=fake_chat("Hello there."),
        embeddings=WordHashEmbeddings(),
        retriever=None,
    )
    chain = app.text() | StrOutputParser()
    assert chain.invoke({"question": "Hi", "route": "chat"}) == "Hello there."
    assert "".join(chain.stream({"question": "Hi", "route": "chat"})) == "Hello there."
    assert chain.invoke({"question": "6 * 7"}) == "6*7 = 42"
    assert isinstance(app.invoke({"question": "6 * 7"}), Answer)  # invoke still gives the Answer


def test_graph_shows_the_router_and_the_four_routes(tmp_path):
    app = build_app(
        Settings(data_dir=tmp_path), chat_model=fake_chat("x"), embeddings=WordHashEmbeddings(), retriever=None
    )
    graph = app.get_graph()
    assert {"router", "math", "docs", "web", "chat"} <= set(graph.nodes)
    assert {(edge.source, edge.target) for edge in graph.edges if edge.source == "router"} == {
        ("router", route) for route in ("math", "docs", "web", "chat")
    }
    assert "router" in graph.draw_mermaid()
