"""A cold question opens only what it needs of a data folder that holds a library (issue 30, item 4).

A real Chroma in a temp dir holds the default collection and three others; the route classifier's
reading is fixed, so each test says which kind of question it is. What is asserted is which
collections Chroma is asked for, not how long anything takes (benchmarks/cold_start.py times it).
"""

from __future__ import annotations

import itertools

import pytest
from chromadb.api.client import Client
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from orchestrator import Settings, build_app
from orchestrator.knowledge import store as store_module
from orchestrator.knowledge.store import injected_embeddings_id, open_store
from tests.helpers.word_hash import WordHashEmbeddings

FERRY = "The Orrin Isle ferry leaves the harbour at 07:40 on weekdays and at 09:15 on Sundays."
OTHERS = ("recipes", "invoices", "field-notes")


class FixedReading:
    """A route classifier that reads every question the same way."""

    def __init__(self, **probabilities: float) -> None:
        self.reading = probabilities

    def probabilities(self, vector) -> dict[str, float]:
        return dict(self.reading)


@pytest.fixture
def library(tmp_path):
    """Settings whose data folder holds the default collection (one passage about a ferry) and three others."""
    settings = Settings(data_dir=tmp_path / "data")
    embeddings = WordHashEmbeddings()
    identity = injected_embeddings_id(embeddings)
    default = open_store(settings, embeddings, identity)
    default.add([FERRY], [{"source": "ferry.txt"}], ["ferry-1"])
    for name in OTHERS:
        store = open_store(settings, embeddings, identity, name)
        texts = [f"Entry {i} of the {name}: nothing about boats at all." for i in range(30)]
        store.add(texts, [{"source": f"{name}.txt"}] * len(texts), [f"{name}-{i}" for i in range(len(texts))])
    return settings


@pytest.fixture
def chroma_calls(monkeypatch):
    """The collections Chroma is asked for (by name), and how often the store's client is made or all are listed."""
    calls: dict[str, list] = {"clients": [], "collections": [], "listed": []}
    make_client = store_module._client

    def client(*args, **kwargs):
        calls["clients"].append(args[1:])
        return make_client(*args, **kwargs)

    def recording(method, key):
        def record(self, *args, **kwargs):
            calls[key].append(args[0] if args else kwargs.get("name"))
            return method(self, *args, **kwargs)

        return record

    monkeypatch.setattr(store_module, "_client", client)
    monkeypatch.setattr(Client, "get_collection", recording(Client.get_collection, "collections"))
    monkeypatch.setattr(Client, "get_or_create_collection", recording(Client.get_or_create_collection, "collections"))
    monkeypatch.setattr(Client, "list_collections", recording(Client.list_collections, "listed"))
    return calls


def cold_app(settings: Settings, **reading: float):
    """A new app (nothing opened yet) whose classifier reads every question as given."""
    chat = GenericFakeChatModel(messages=itertools.cycle([AIMessage("Hello! How can I help?")]))
    app = build_app(settings, chat_model=chat, embeddings=WordHashEmbeddings())
    app._route_classifier = FixedReading(**reading)
    return app


def test_small_talk_opens_no_collection(library, chroma_calls):
    app = cold_app(library, chat=0.98, factual=0.01, math=0.005, web=0.005)
    answer = app.invoke("Hi")
    assert answer.route == "chat" and answer.answer
    assert answer.route_reason["scores"]["documents_searched"] is False
    assert chroma_calls == {"clients": [], "collections": [], "listed": []}


def test_a_question_the_documents_may_answer_opens_only_its_collection(library, chroma_calls):
    app = cold_app(library, chat=0.02, factual=0.95, math=0.01, web=0.02)
    answer = app.invoke("When does the Orrin Isle ferry leave the harbour on Sundays?")
    assert answer.route == "docs" and answer.route_reason["scores"]["rule"] == "documents match"
    assert set(chroma_calls["collections"]) == {"default"}
    assert chroma_calls["listed"] == []  # the library's other collections are never opened or counted


def test_chatty_wording_still_consults_the_documents(library, chroma_calls):
    # Read as chat, but not surely enough to keep it off the docs route: rule 6 needs the documents' score.
    app = cold_app(library, chat=0.6, factual=0.3, math=0.05, web=0.05)
    answer = app.invoke("Tell me, when does the Orrin Isle ferry leave the harbour on Sundays?")
    assert set(chroma_calls["collections"]) == {"default"}
    assert answer.route == "docs" and answer.route_reason["scores"]["rule"] == "documents match"
