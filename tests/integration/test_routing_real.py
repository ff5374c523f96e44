"""The router with the real GGUF embedder, on labelled cases kept apart from the router's own examples."""

import json
from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from orchestrator import Settings, build_app
from orchestrator.tools.web_search import SearchUnavailable

pytestmark = pytest.mark.integration
CASES = [
    json.loads(line)
    for line in (Path(__file__).parent.parent / "fixtures" / "router_cases.jsonl").read_text().splitlines()
]


def offline_search(query):
    raise SearchUnavailable("no network / DNS failure")


@pytest.fixture(scope="module")
def app(embedding_model_path, tmp_path_factory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("routing"), embedding_model=str(embedding_model_path))
    chat = GenericFakeChatModel(messages=iter([AIMessage("chat")] * 100))  # only the LLM fallback would use it
    return build_app(settings, chat_model=chat, retriever=None, search=offline_search)


def test_route_accuracy_on_labelled_cases(app):
    wrong = []
    for case in CASES:
        answer = app.invoke({"question": case["question"]})
        expected = case["expected"]
        ok = answer.route == expected or (
            expected == "refuse" and answer.route in ("docs", "chat") and answer.abstained
        )
        if expected == "refuse" and answer.route == "docs":
            ok = ok and answer.abstained
        if not ok:
            wrong.append((case["question"], expected, answer.route, answer.route_reason.get("reason")))
    accuracy = 1 - len(wrong) / len(CASES)
    print(f"route accuracy {accuracy:.2f}; wrong: {wrong}")
    assert accuracy >= 0.85, f"route accuracy {accuracy:.2f}; wrong: {wrong}"


def test_every_answer_explains_its_route(app):
    answer = app.invoke({"question": "What is the latest version of Firefox?"})
    assert answer.route == "web"
    assert answer.route_reason["reason"] and "latest" in answer.route_reason["scores"]["time_cues"]
