"""Issue 31, items 15, 18, 19, 20: the Python API's smaller gaps, each with what it should say or do."""

from __future__ import annotations

import os
import subprocess
import sys
import weakref
from pathlib import Path

import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, PromptTemplate
from langchain_core.tools import tool
from pydantic import ValidationError

from orchestrator import Settings, build_app
from orchestrator.app import AppInput
from orchestrator.errors import ConfigError, OrchestratorError
from tests.helpers.fake_chat import ScriptedChatModel
from tests.helpers.word_hash import WordHashEmbeddings

ROOT = Path(__file__).resolve().parents[2]


def fake(*replies: str) -> ScriptedChatModel:
    return ScriptedChatModel(replies=list(replies), history=[])


def docs_app(tmp_path, **settings) -> object:
    return build_app(
        Settings(data_dir=tmp_path / "data", relevance_threshold=0.3, **settings),
        chat_model=fake("The lighthouse is painted red [1]."),
        embeddings=WordHashEmbeddings(),
    )


NOTE = "The Harrowgate lighthouse is painted red and white, and its lamp was lit in 1871.\n"


# --- 15: documents ingested by another process are seen without a restart -----------------------

INGEST_ELSEWHERE = """
import sys
from pathlib import Path
from orchestrator import Settings, build_app
from tests.helpers.fake_chat import ScriptedChatModel
from tests.helpers.word_hash import WordHashEmbeddings
app = build_app(Settings(data_dir=Path(sys.argv[1])), chat_model=ScriptedChatModel(replies=[], history=[]),
                embeddings=WordHashEmbeddings())
app.ingest([sys.argv[2]])
"""


def test_an_open_app_sees_documents_another_process_ingested(tmp_path):
    app = docs_app(tmp_path)
    first = tmp_path / "first.txt"
    first.write_text("The Tollen ferry leaves at nine every morning.\n", encoding="utf-8")
    app.ingest(first)
    question = {"question": "What colour is the Harrowgate lighthouse painted?", "route": "docs"}
    assert app.invoke(question).abstained  # not there yet
    note = tmp_path / "lighthouse.txt"
    note.write_text(NOTE, encoding="utf-8")
    subprocess.run(
        [sys.executable, "-c", INGEST_ELSEWHERE, str(tmp_path / "data"), str(note)],
        cwd=ROOT,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
    )
    answer = app.invoke(question)
    assert not answer.abstained and answer.sources[0]["source"].endswith("lighthouse.txt")


def test_the_write_stamp_is_read_before_each_retrieval_and_reading_does_not_change_it(tmp_path, monkeypatch):
    import orchestrator.app as app_module

    app = docs_app(tmp_path)
    note = tmp_path / "lighthouse.txt"
    note.write_text(NOTE, encoding="utf-8")
    app.ingest(note)
    opened: list[bool] = []
    real_open = app_module.open_retriever

    def counting_open(*args, **kwargs):
        opened.append(kwargs.get("fresh", False))
        return real_open(*args, **kwargs)

    monkeypatch.setattr(app_module, "open_retriever", counting_open)
    for _ in range(3):
        answer = app.invoke({"question": "What colour is the Harrowgate lighthouse painted?", "route": "docs"})
        assert answer.sources and answer.sources[0]["source"].endswith("lighthouse.txt")
    assert opened == [False]  # opened once; three questions read the stamp and found no write


# --- 18: a LangChain tool as search= keeps its results' URLs and titles --------------------------


def test_a_langchain_tool_returning_dicts_keeps_urls_and_titles():
    from orchestrator.tools.web_search import run_search

    @tool
    def my_search(query: str) -> list[dict]:
        """Search my intranet."""
        return [
            {"title": "Ferry timetable", "url": "https://intranet.example/ferry", "snippet": "Leaves at nine."},
            {"title": "Harbour news", "link": "https://intranet.example/news", "body": "A new quay opened."},
        ]

    results = run_search(my_search, "ferry times")
    assert [(r.title, r.url, r.snippet) for r in results] == [
        ("Ferry timetable", "https://intranet.example/ferry", "Leaves at nine."),
        ("Harbour news", "https://intranet.example/news", "A new quay opened."),
    ]


def test_a_tool_returning_text_that_starts_with_a_bracket_stays_text():
    from orchestrator.tools.web_search import run_search

    @tool
    def text_search(query: str) -> str:
        """Search returning prose."""
        return "[Archive] The quay opened in 1999."

    assert run_search(text_search, "quay")[0].snippet == "[Archive] The quay opened in 1999."


# --- 19: an empty question is refused by the input schema ----------------------------------------


@pytest.mark.parametrize("question", ["", "   ", "\n\t"])
def test_a_blank_question_fails_the_input_schema(question):
    with pytest.raises(ValidationError, match="The question is empty"):
        AppInput.model_validate({"question": question})


# --- 20: close(), ingest of one path, missing collections, history, composition --------------------


def test_close_releases_the_models_and_the_math_worker(tmp_path, monkeypatch):
    import orchestrator.llm
    from orchestrator.tools import math as math_tool

    class Loaded:
        """Stands for a llama.cpp model the app loaded itself."""

    released: list[bool] = []
    monkeypatch.setattr(orchestrator.llm, "chat_model", lambda settings: Loaded())
    monkeypatch.setattr(orchestrator.llm, "release_models", lambda: released.append(True))
    app = build_app(Settings(data_dir=tmp_path), embeddings=WordHashEmbeddings(), retriever=None)
    model = weakref.ref(app.chat_model)
    assert app.invoke("What is 6 * 7?").answer.startswith("6*7 = 42")
    worker = math_tool._worker()._process
    assert worker is not None and worker.poll() is None
    with app:
        pass
    assert model() is None and released == [True]
    assert worker.poll() is not None  # the SymPy worker process has exited
    assert app.invoke("What is 6 * 8?").answer.startswith("6*8 = 48")  # usable again: it restarts on demand


@pytest.mark.parametrize("as_str", [True, False])
def test_ingest_takes_a_single_path(tmp_path, as_str):
    app = docs_app(tmp_path)
    note = tmp_path / "lighthouse.txt"
    note.write_text(NOTE, encoding="utf-8")
    summary = app.ingest(str(note) if as_str else note)
    assert summary.chunks_added >= 1


def test_a_collection_that_does_not_exist_is_named_as_such(tmp_path):
    app = docs_app(tmp_path)
    note = tmp_path / "lighthouse.txt"
    note.write_text(NOTE, encoding="utf-8")
    app.ingest(note, collection="coast")
    answer = app.invoke({"question": "What colour is the lighthouse?", "route": "docs", "collection": "coats"})
    assert answer.error is not None
    assert "There is no collection 'coats'" in answer.error and "coast" in answer.error
    assert "empty" not in answer.error


def test_an_empty_knowledge_base_still_says_it_is_empty(tmp_path):
    answer = docs_app(tmp_path).invoke({"question": "What colour is the lighthouse?", "route": "docs"})
    assert answer.error is None and "the knowledge base is empty" in answer.answer


@pytest.mark.parametrize("history", ["abc", {"role": "user", "content": "hi"}, 7])
def test_history_must_be_a_list(tmp_path, history):
    with pytest.raises(OrchestratorError, match="history is a list of earlier turns"):
        docs_app(tmp_path).invoke({"question": "Hi", "route": "chat", "history": history})


def test_history_as_a_list_still_works(tmp_path):
    app = docs_app(tmp_path)
    app.invoke({"question": "Hi", "route": "chat", "history": [("human", "I am Ada"), ("ai", "Hello Ada")]})
    assert app.chat_model.history[-1][1:] == [("human", "I am Ada"), ("ai", "Hello Ada"), ("human", "Hi")]


@pytest.mark.parametrize(
    "prompt", [PromptTemplate.from_template("What is {x}?"), ChatPromptTemplate.from_messages([("human", "{x}")])]
)
def test_a_prompt_piped_into_the_app_gets_a_message_naming_app_text(tmp_path, prompt):
    with pytest.raises(OrchestratorError) as error:
        (prompt | docs_app(tmp_path)).invoke({"x": "2+2"})
    assert "not a " in str(error.value) and "app.text()" in str(error.value)
    assert "validation error" not in str(error.value)


def test_an_output_parser_after_the_app_gets_a_message_naming_app_text(tmp_path):
    app = docs_app(tmp_path)
    for compose in (lambda: app | StrOutputParser(), lambda: app.pipe(StrOutputParser())):
        with pytest.raises(ConfigError, match=r"app\.text\(\) \| StrOutputParser\(\)"):
            compose()
    assert (app.text() | StrOutputParser()).invoke("What is 2+3?").endswith("= 5")
