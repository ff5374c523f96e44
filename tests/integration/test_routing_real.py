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


# Requests kept apart from the route set (other entities and wordings), by the kind the classifier must read.
CHANGING_FACTS = [
    "How many albums has the band released?",
    "How much money has the sequel earned?",
    "Who is the wealthiest woman alive?",
    "Which is the longest running musical of all time?",
    "Who is the CEO of the bakery chain?",
    "who is the mayor of the town?",
    "How old is the lead singer?",
    "Who holds the record for the fastest lap?",
    "What is the base price of the electric hatchback?",
    "How much is an ounce of platinum going for?",
    "price of a barrel of brent",
    "usd to chf",
    "Tell me who chairs the Bundesbank",
    "Could you check what Tencent shares trade at?",
]
SETTLED_FACTS = [
    "How many wheels does a tricycle have?",
    "Who was the tallest emperor?",
    "Who wrote the second letter?",
    "Who was the president of the club in 1950?",
    "What was the last word of the poem?",
    "How old was the king when he died?",
    "Who broke the record in 1936?",
    "What was the price of bread in 1800?",
    "How long did the siege last?",
    "Which tribe lived in the forest in the north?",
    "How much does membership cost for visitors?",
    "What time does the sauna close on Fridays?",
]
MADE_UP_REQUESTS = [
    "Can you explain the Harrowgate–Lindqvist lemma?",
    "Tell me about the Order of the Copper Heron",
    "Describe the Mirewald Uprising.",
    "Give me a short biography of Admiral Tessaly Vorn.",
    "I need the details of the Kaldrian trade compact",
    "explain the brisenthal equation pls",
    "Tell me abuot the Ostwyn Glacier treaty",
    "the Pennock-Arday scale explained",
    "Could you summarise the plot of the novel 'The Glass Orchard of Umber'?",
    "What's the story behind the Sunken Library of Carvessa?",
]
SMALL_TALK_AND_CREATIVE = [
    "Hey, nice evening isn't it?",
    "Good afternoon!",
    "Thanks, you've been really helpful.",
    "See you around!",
    "How's it going?",
    "Can you suggest a name for my new cat?",
    "What should I call my goldfish?",
    "Write a four-line poem about a bicycle.",
    "Tell me a story about a brave little snail.",
    "Make up a riddle for my kids.",
    "Give me a motivational quote to start the day.",
    "Any ideas for a rainy Sunday afternoon?",
    "I'm bored, entertain me.",
    "Write a birthday message for my colleague Anna.",
    "Suggest a catchy slogan for a lemonade stand.",
    "Could you turn this into a formal sentence: gonna be late, sorry",
    "Shorten this: We would like to inform you that the office will remain closed on Monday.",
    "How do you say 'good luck' in Italian?",
    "Ça va bien, merci ! Et toi ?",
    "¿Me cuentas un chiste?",
    "What's your favourite colour?",
    "Cheer me up, I had a rough day.",
]


def _learned(app, question):
    probabilities = app.route_classifier.probabilities(app.embeddings.embed_query(question))
    return max(probabilities, key=probabilities.get)


@pytest.mark.parametrize(
    "questions, expected, at_least",
    [
        (CHANGING_FACTS, {"web"}, 0.85),
        pytest.param(
            SETTLED_FACTS,
            {"factual"},
            0.85,
            marks=pytest.mark.xfail(
                reason="measured 8/12 on 2026-12-07: settled counts and old prices read as math or web "
                "(docs/quality.md, 'Learned routing')",
                strict=False,
            ),
        ),
        (MADE_UP_REQUESTS, {"factual"}, 0.9),
        (SMALL_TALK_AND_CREATIVE, {"chat"}, 0.9),
    ],
    ids=["changing facts", "settled facts", "made-up things asked as requests", "small talk and creative"],
)
def test_the_classifier_reads_requests_it_never_saw(app, questions, expected, at_least):
    wrong = [(q, label) for q in questions if (label := _learned(app, q)) not in expected]
    share = 1 - len(wrong) / len(questions)
    print(f"{share:.2f} right; wrong: {wrong}")
    assert share >= at_least, wrong


def test_a_made_up_thing_asked_as_a_request_never_gets_a_chat_answer(app):
    for question in MADE_UP_REQUESTS:
        answer = app.invoke({"question": question})
        assert answer.route != "chat", (question, answer.answer)


@pytest.mark.xfail(
    reason="measured 9/10 on 2026-12-07: 'the Pennock-Arday scale explained' reads as math, whose route "
    "declines to compute it but is not marked abstained (docs/quality.md, 'Learned routing')",
    strict=False,
)
def test_a_made_up_thing_asked_as_a_request_is_refused_by_docs_or_web(app):
    for question in MADE_UP_REQUESTS:
        answer = app.invoke({"question": question})
        assert answer.route in ("docs", "web") and answer.abstained, (question, answer.route, answer.answer)
