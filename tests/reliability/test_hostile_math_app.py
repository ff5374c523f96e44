"""The hostile math corpus through the whole app (router, math tool, answer): harmless and fast.

Stand-ins replace only the model, embedder, retriever and search (the strings that are not math then reach
a fake chat model); the router, the math tool and its sandboxed worker are the real ones.
"""

import os
import sys
import time

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from orchestrator import Settings, build_app
from tests.unit.test_app_routes import FakeRetriever, model
from tests.unit.test_math_hostile import FORBIDDEN_MODULES, hostile_payloads

ANSWER_WITHIN_S = 2.0


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("hostile")


@pytest.fixture(scope="module")
def canary(workdir):
    return workdir / "canary" / "pwned"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), math_timeout_s=1.5)
    # With random fake embeddings the router may send a payload anywhere, web included: the search is
    # a stand-in (it finds nothing), so no payload reaches the network.
    app = build_app(
        settings,
        chat_model=model("I can only help with ordinary questions."),
        embeddings=DeterministicFakeEmbedding(size=16),
        retriever=FakeRetriever([]),
        search=lambda query: [],
    )
    warm_up = [
        "/math 1+1",
        "What is 6 times 7?",
        "hello there",
        "/math solve x**2 = 4",
        "/math how many legs do two cats have",
        {"question": "hello", "route": "chat"},
        {"question": "hello", "route": "web"},
    ]
    for question in warm_up:
        app.invoke(
            question if isinstance(question, dict) else {"question": question}
        )  # every route's modules loaded before the counting starts
    return app


def test_corpus_size(canary):
    assert len(hostile_payloads(canary)) >= 30


@pytest.mark.parametrize("index", range(len(hostile_payloads(__import__("pathlib").Path("c")))))
def test_hostile_math_through_the_app(index, app, canary, workdir, monkeypatch):
    payload = hostile_payloads(canary)[index]
    run_dir = workdir / f"run{index}"
    run_dir.mkdir()
    monkeypatch.chdir(run_dir)
    modules_before = set(sys.modules)
    for question in (f"/math {payload}", payload, f"What is {payload}?"):
        started = time.monotonic()
        answer = app.invoke({"question": question})
        elapsed = time.monotonic() - started
        assert elapsed < ANSWER_WITHIN_S, (question, elapsed)
        assert "Traceback" not in (answer.error or "") + answer.answer, question
        if answer.route == "math":  # refused (an error saying why), or a harmless symbolic value
            assert answer.error is not None or "__" not in answer.answer, (question, answer.answer)
    assert not canary.exists() and not canary.parent.exists(), payload
    assert os.listdir(run_dir) == [], payload
    assert set(sys.modules) - modules_before == set(), payload
    assert not any(name in sys.modules for name in FORBIDDEN_MODULES)
