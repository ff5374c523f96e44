"""decide() on synthetic signals: each rule of the table, and the order in which the rules win."""

import pytest

from orchestrator.chains.router import (
    RULES,
    Signals,
    decide,
    decided_without_documents,
    is_about_future,
    routing_table,
    split_prefix,
    time_cues,
)
from orchestrator.tuning import TUNING

THRESHOLD = 0.5


def signals(**kwargs) -> Signals:
    return Signals(**kwargs)


@pytest.mark.parametrize(
    "text, route, rest",
    [
        ("/web who won?", "web", "who won?"),
        ("/MATH 2+2", "math", "2+2"),
        ("plain question", None, "plain question"),
        ("/docs", "docs", ""),
        ("/webby", None, "/webby"),
    ],
)
def test_prefix(text, route, rest):
    assert split_prefix(text) == (route, rest)


def test_words_relative_to_a_past_story_are_not_time_cues():
    assert time_cues("What did the crew have to finish before the next voyage?") == []
    assert time_cues("Was the mill still working in 1900?") == []
    assert time_cues("Who was the current holder of the title at the time?") == []
    assert time_cues("When is the next solar eclipse?") == ["next"]
    assert time_cues("When did the most recent eclipse happen?") == ["most recent", "recent"]


def test_time_cues_find_recent_but_not_future_years():
    assert "latest" in time_cues("What is the latest version of Python?")
    assert time_cues("Who won in 2026?", this_year=2026) == ["2026"]
    assert time_cues("Who will win in 2031?", this_year=2026) == []
    assert time_cues("Who wrote Hamlet?") == []


def test_future_questions_are_recognised():
    assert is_about_future("What will be the favourite board game in the year 2061?", this_year=2026)
    assert is_about_future("Who won the 2031 Chess Open?", this_year=2026)
    assert not is_about_future("Who won the 2015 Chess Open?", this_year=2026)


def test_math_wins_over_everything():
    decision = decide(signals(math_reason="an arithmetic expression", docs_score=0.9, time_cues=["today"]), THRESHOLD)
    assert decision.route == "math" and decision.scores["rule"] == "math"


def test_an_explicit_route_wins_over_math():
    decision = decide(signals(forced="chat", math_reason="an arithmetic expression"), THRESHOLD)
    assert decision.route == "chat" and decision.reason == "explicit route: chosen by the caller"


def test_recency_words_beat_even_a_strong_document_match():
    # "Who won the most recent cup final?" must not be answered from an article about an older final.
    decision = decide(
        signals(docs_score=0.9, time_cues=["most recent"], learned={"factual": 0.6, "web": 0.4}), THRESHOLD
    )
    assert decision.route == "web"


def test_time_cue_about_the_future_does_not_go_to_web():
    decision = decide(
        signals(docs_score=0.1, time_cues=["next"], future=True, learned={"factual": 0.6, "web": 0.3}), THRESHOLD
    )
    assert decision.route == "docs" and decision.scores["rule"] == "future"


def test_small_talk_with_a_time_word_is_chat():
    # "How are you today?": the time word is about the speaker's day, not the news.
    decision = decide(signals(docs_score=0.1, time_cues=["today"], learned={"chat": 0.8, "web": 0.1}), THRESHOLD)
    assert decision.route == "chat"


def test_docs_match_routes_to_docs():
    decision = decide(signals(docs_score=0.62, learned={"factual": 0.7, "chat": 0.2}), THRESHOLD)
    assert decision.route == "docs" and "0.62" in decision.reason


def test_clear_small_talk_with_a_docs_match_stays_chat():
    sure = {"chat": TUNING.chat_over_docs + 0.05, "factual": 0.05}
    unsure = {"chat": TUNING.chat_over_docs - 0.05, "factual": 0.3}
    assert decide(signals(docs_score=0.52, learned=sure), THRESHOLD).route == "chat"  # "Write a poem about Porto"
    assert decide(signals(docs_score=0.52, learned=unsure), THRESHOLD).route == "docs"


def test_factual_question_without_docs_goes_to_docs_for_refusal():
    decision = decide(signals(docs_score=0.2, learned={"factual": 0.45, "web": 0.3, "chat": 0.2}), THRESHOLD)
    assert decision.route == "docs" and decision.scores["rule"] == "factual question"


def test_no_knowledge_base_and_no_classifier_is_still_a_decision():
    assert decide(signals(), THRESHOLD).route == "docs"


def test_changing_fact_goes_to_web():
    decision = decide(signals(docs_score=0.2, learned={"web": 0.5, "factual": 0.3}), THRESHOLD)
    assert decision.route == "web" and decision.scores["rule"] == "changing fact"


def test_a_changing_fact_yields_only_to_a_strong_document_match():
    sure = {"web": TUNING.web_over_docs + 0.05, "factual": 0.1}
    unsure = {"web": TUNING.web_over_docs - 0.05, "factual": 0.3}
    threshold = 0.25
    weak, strong = threshold + 0.05, TUNING.strong_docs_match + 0.05  # both clear the threshold
    assert decide(signals(docs_score=0.1, learned=unsure), threshold).route == "web"  # no match: any web reading
    assert decide(signals(docs_score=weak, learned=sure), threshold).route == "web"
    assert decide(signals(docs_score=weak, learned=unsure), threshold).route == "docs"
    assert decide(signals(docs_score=strong, learned=sure), threshold).route == "docs"


def test_a_web_reading_yields_to_documents_that_name_everything_the_question_names():
    # "Who is <a person the handbook names>?" reads like a celebrity question, but the documents name the person.
    sure = {"web": TUNING.web_over_docs + 0.1, "factual": 0.1}
    threshold = 0.25
    weak = threshold + 0.05
    assert decide(signals(docs_score=weak, learned=sure, names_documented=True), threshold).route == "docs"
    assert decide(signals(docs_score=weak, learned=sure, names_documented=False), threshold).route == "web"
    # without a document match, a named thing the documents mention is still no reason to stay off the web
    assert decide(signals(docs_score=0.1, learned=sure, names_documented=True), threshold).route == "web"


def test_word_problem_goes_to_math():
    decision = decide(signals(docs_score=None, learned={"math": 0.6, "factual": 0.3}), THRESHOLD)
    assert decision.route == "math" and decision.scores["rule"] == "word problem"


def test_a_request_read_as_conversation_goes_to_chat():
    decision = decide(signals(docs_score=0.1, learned={"chat": 0.6, "factual": 0.3}), THRESHOLD)
    assert decision.route == "chat" and "chat (0.60)" in decision.reason


def test_decision_records_scores():
    decision = decide(signals(docs_score=0.3, learned={"web": 0.5, "factual": 0.3}), THRESHOLD)
    assert decision.as_dict()["scores"]["docs_score"] == 0.3


def test_a_time_word_inside_a_task_on_the_users_text_is_not_a_news_question():
    task = Signals.for_question("Please rephrase: the meeting got moved to next week.", None, {"chat": 0.7})
    assert task.time_cues == ["next"] and decide(task, THRESHOLD).route == "chat"
    news = Signals.for_question("Tell me the latest news about Mars rovers", None, {"factual": 0.5, "web": 0.4})
    assert decide(news, THRESHOLD).route == "web"


def test_a_recent_year_with_a_document_match_goes_to_the_documents():
    learned = {"factual": 0.6, "web": 0.3}
    assert decide(signals(docs_score=0.6, time_cues=["2026"], learned=learned), THRESHOLD).route == "docs"
    assert decide(signals(docs_score=0.1, time_cues=["2026"], learned=learned), THRESHOLD).route == "web"


def test_every_rule_names_the_kind_of_question_it_serves_and_a_route():
    assert [name for name, _, _ in routing_table()] == [rule.name for rule in RULES]
    for name, serves, route in routing_table():
        assert len(serves.split()) >= 5, name
        assert route in ("math", "docs", "web", "chat", "as asked"), name
    assert RULES[-1].test(Signals(), THRESHOLD, TUNING), "the last rule catches everything"


def test_each_rule_decides_some_signals():
    cases = [
        signals(forced="web"),
        signals(math_reason="expression"),
        signals(time_cues=["latest"]),
        signals(future=True),
        signals(learned={"web": 0.9}),
        signals(docs_score=0.9, learned={"factual": 0.9}),
        signals(learned={"math": 0.9}),
        signals(learned={"chat": 0.9}),
        signals(learned={"factual": 0.9}),
    ]
    assert [decide(case, THRESHOLD).scores["rule"] for case in cases] == [rule.name for rule in RULES]


def test_names_count_as_documented_only_when_one_matching_passage_holds_them_all():
    from langchain_core.documents import Document

    from orchestrator.app import names_in_a_matching_passage

    passage = [Document("The harbour master is Ilse Marrow.", metadata={"score": 0.4})]
    assert names_in_a_matching_passage("Who is Ilse Marrow?", passage, 0.25)
    assert names_in_a_matching_passage("What is Ilse Marrow's job?", passage, 0.25)
    assert not names_in_a_matching_passage("Who is Ilse Marrow?", passage, 0.5)  # the passage does not match
    scattered = [
        Document("Ilse founded the choir.", metadata={"score": 0.4}),
        Document("Marrow is a vegetable.", metadata={"score": 0.4}),
    ]
    assert not names_in_a_matching_passage("Who is Ilse Marrow?", scattered, 0.25)
    assert not names_in_a_matching_passage("who is the harbour master?", passage, 0.25)  # names nothing


# Classifier readings that put a question on each side of the tuned bounds (chat_over_docs 0.8, web_over_docs 0.7).
READINGS = [
    {"chat": 0.98, "factual": 0.01, "math": 0.005, "web": 0.005},
    {"chat": 0.6, "factual": 0.3, "math": 0.05, "web": 0.05},
    {"chat": 0.05, "factual": 0.9, "math": 0.03, "web": 0.02},
    {"chat": 0.05, "factual": 0.1, "math": 0.05, "web": 0.8},
    {"chat": 0.1, "factual": 0.25, "math": 0.05, "web": 0.6},
    {"chat": 0.1, "factual": 0.1, "math": 0.75, "web": 0.05},
    {},
]


def test_small_talk_is_decided_without_the_documents():
    hello = Signals(learned=READINGS[0])
    decided = decided_without_documents(hello, THRESHOLD)
    assert decided is not None and decided.route == "chat" and decided.scores["documents_searched"] is False
    assert decided.scores["docs_score"] is None


def test_a_question_the_documents_could_claim_needs_them():
    # A chatty reading below chat_over_docs: a matching passage sends it to docs (rule 6), none to chat.
    assert decided_without_documents(Signals(learned=READINGS[1]), THRESHOLD) is None
    # A changing fact the documents may cover or name (rule 5's exceptions).
    assert decided_without_documents(Signals(learned=READINGS[3]), THRESHOLD) is None
    # A bare recent year counts as a time word only when no document matches.
    assert decided_without_documents(Signals(learned=READINGS[2], time_cues=["2025"]), THRESHOLD) is None


@pytest.mark.parametrize("learned", READINGS)
@pytest.mark.parametrize("cues", [[], ["latest"], ["2025"]])
@pytest.mark.parametrize("future", [False, True])
@pytest.mark.parametrize("threshold", [0.25, 0.5, 0.6])
def test_deciding_without_the_documents_agrees_with_every_possible_match(learned, cues, future, threshold):
    # decided_without_documents tries a few scores; whatever the rules compare the score with, every score
    # from 0 to 1 (and no knowledge base), with and without a passage naming everything asked, must agree.
    base = Signals(learned=learned, time_cues=cues, future=future)
    routes = {
        decide(
            Signals(learned=learned, time_cues=cues, future=future, docs_score=score, names_documented=named), threshold
        ).route
        for score in [None, *(step / 100 for step in range(101))]
        for named in (False, True)
    }
    decided = decided_without_documents(base, threshold)
    assert (decided is not None) == (len(routes) == 1)
    if decided is not None:
        assert {decided.route} == routes
