"""decide() on synthetic signals: each rule, and the order in which the rules win."""

import pytest

from orchestrator.chains.router import (
    Signals,
    asks_world_fact,
    changing_fact_cues,
    decide,
    is_about_future,
    split_prefix,
    time_cues,
)

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
    assert decision.route == "math"


def test_recency_words_beat_even_a_strong_document_match():
    # "Who won the most recent cup final?" must not be answered from an article about Super Bowl 50.
    decision = decide(
        signals(docs_score=0.9, time_cues=["most recent"], semantic={"factual": 0.5, "web": 0.4}), THRESHOLD
    )
    assert decision.route == "web"


def test_time_cue_beats_a_weak_docs_match():
    decision = decide(signals(docs_score=0.55, time_cues=["latest"], semantic={"factual": 0.5, "web": 0.4}), THRESHOLD)
    assert decision.route == "web"


def test_time_cue_about_the_future_does_not_go_to_web():
    decision = decide(
        signals(docs_score=0.1, time_cues=["next"], future=True, semantic={"factual": 0.4, "web": 0.3}), THRESHOLD
    )
    assert decision.route == "docs"


def test_personal_small_talk_with_today_is_chat():
    decision = decide(
        signals(
            docs_score=0.1, time_cues=["today"], personal=True, semantic={"chat": 0.55, "web": 0.3, "factual": 0.1}
        ),
        THRESHOLD,
    )
    assert decision.route == "chat"


def test_docs_match_routes_to_docs():
    decision = decide(signals(docs_score=0.62, semantic={"factual": 0.4, "chat": 0.2}), THRESHOLD)
    assert decision.route == "docs" and "0.62" in decision.reason


def test_conversational_request_with_a_docs_match_stays_chat():
    request = decide(signals(docs_score=0.52, is_question=False, semantic={"chat": 0.6, "factual": 0.2}), THRESHOLD)
    assert request.route == "chat"  # "Write a poem about Warsaw" with Warsaw documents
    question = decide(signals(docs_score=0.52, semantic={"chat": 0.6, "factual": 0.2}), THRESHOLD)
    assert question.route == "docs"  # a chatty-sounding question the documents match


def test_factual_question_without_docs_goes_to_docs_for_refusal():
    decision = decide(signals(docs_score=0.2, semantic={"factual": 0.45, "web": 0.3, "chat": 0.2}), THRESHOLD)
    assert decision.route == "docs"


def test_changing_fact_goes_to_web():
    decision = decide(signals(docs_score=0.2, semantic={"web": 0.5, "factual": 0.3}), THRESHOLD)
    assert decision.route == "web"


def test_word_problem_goes_to_math():
    decision = decide(signals(docs_score=None, semantic={"math": 0.6, "factual": 0.3}), THRESHOLD)
    assert decision.route == "math"


def test_weak_signals_are_undecided():
    decision = decide(signals(docs_score=None, semantic={"web": 0.15, "factual": 0.14}), THRESHOLD)
    assert decision.route == "undecided"


def test_weak_factual_question_goes_to_docs_not_to_the_llm():
    from orchestrator.chains.router import Signals

    invented = Signals.for_question(
        "What does the Brannock-Vell protocol regulate?", None, {"factual": 0.19, "web": 0.13, "chat": 0.09}
    )
    assert invented.asks_for_fact and decide(invented, THRESHOLD).route == "docs"
    request = Signals.for_question("Please rephrase this paragraph", None, {"factual": 0.19, "chat": 0.18})
    assert not request.asks_for_fact and decide(request, THRESHOLD).route == "undecided"


def test_decision_records_scores():
    decision = decide(signals(docs_score=0.3, semantic={"web": 0.5, "factual": 0.3}), THRESHOLD)
    assert decision.as_dict()["scores"]["docs_score"] == 0.3


def test_time_word_inside_a_task_is_not_a_news_question():
    from orchestrator.chains.router import Signals

    task = Signals.for_question(
        "Please rephrase: the meeting got moved to next week.", None, {"factual": 0.22, "chat": 0.19}
    )
    assert task.time_cues == ["next"] and not task.is_question
    assert decide(task, THRESHOLD).route != "web"
    news = Signals.for_question("Tell me the latest news about Mars rovers", None, {"factual": 0.3, "web": 0.3})
    assert decide(news, THRESHOLD).route == "web"


def test_a_recent_year_with_a_document_match_goes_to_the_documents():
    decision = decide(signals(docs_score=0.6, time_cues=["2026"], semantic={"factual": 0.3, "web": 0.28}), THRESHOLD)
    assert decision.route == "docs"
    no_docs = decide(signals(docs_score=0.1, time_cues=["2026"], semantic={"factual": 0.3, "web": 0.28}), THRESHOLD)
    assert no_docs.route == "web"


@pytest.mark.parametrize(
    "question",
    [
        "How many albums has the band released?",
        "How many goals have the twins scored for their club?",
        "How much money has the sequel earned?",
        "How many bridges has the city built?",
        "Who is the wealthiest woman alive?",
        "Who is the most decorated swimmer?",
        "Which is the longest running musical of all time?",
        "What is the deepest mine in the world?",
        "Who is the CEO of the bakery chain?",
        "Who is the head coach of the rowing team?",
        "Who are the co-chairs of the committee?",
        "who is the mayor of the town?",
        "How old is the lead singer?",
        "When did the club last win the cup?",
        "Who won the title the last time it was held?",
        "Where was the last edition of the fair held?",
        "Who has won the most titles in the league?",
        "Which club has the highest average attendance?",
        "What country has the largest fleet?",
        "Who holds the record for the fastest lap?",
        "Which runner holds the world record?",
        "In which city was the fastest sprinter in the world born?",
        "What language does the world's most followed streamer speak?",
        "How long has it been since the bridge opened?",
        "How many years ago did the canal open?",
        "How long ago was the comet last seen?",
        "What is the base price of the electric hatchback?",
        "Is the average diesel price in the region under $2 a litre?",
        "How much is the price of an ounce of silver?",
        "What are the prices of the cheapest flights to the island?",
    ],
)
def test_changing_facts_without_a_time_word_are_recognised(question):
    assert changing_fact_cues(question)


@pytest.mark.parametrize(
    "question",
    [
        "How many wheels does a tricycle have?",
        "How many forms have to be signed?",
        "How many rooms were added in 1950?",
        "Who was the tallest emperor?",
        "What is the largest lake in the park?",
        "Who wrote the second letter?",
        "Who was the president of the club in 1950?",
        "Who is the author of the ode?",
        "How long does the battery last?",
        "What was the last word of the poem?",
        "How old was the king when he died?",
        "Who had the most votes in 1950?",
        "Which club had the highest attendance that season?",
        "Who broke the record in 1936?",
        "What was the price of bread in 1800?",
        "How much did the ticket price rise after the war?",
        "How much does membership cost for visitors?",
        "How long did the siege last?",
        "How many more stations did the railway have planned?",
        "How long is the bridge?",
        "What is the largest city in the province?",
        "Which tribe lived in the forest in the north?",
    ],
)
def test_settled_facts_are_not_changing_facts(question):
    assert changing_fact_cues(question) == []


def test_a_changing_fact_goes_to_web_over_a_weak_docs_match():
    decision = decide(
        signals(docs_score=0.3, changing_fact=["running total"], semantic={"factual": 0.5, "web": 0.4}), 0.25
    )
    assert decision.route == "web"


def test_a_changing_fact_stays_on_docs_when_the_documents_clearly_cover_it():
    decision = decide(
        signals(docs_score=0.7, changing_fact=["running total"], semantic={"factual": 0.5, "web": 0.4}), 0.25
    )
    assert decision.route == "docs"


def test_signals_carry_the_changing_fact_cues():
    assert Signals.for_question("How many novels has the poet published?", 0.1, {}).changing_fact == ["running total"]


@pytest.mark.parametrize(
    "question, factual",
    [
        ("Who invented the paper clip?", True),
        ("How many moons does the planet have?", True),
        ("What did the queen wear at her coronation?", True),
        ("What is a nice gift for my sister?", False),  # personal and an opinion
        ("What is a good title for a blog post?", False),
        ("What can you help with?", False),
        ("What's up?", False),
        ("Write a limerick about rain.", False),
    ],
)
def test_world_facts_are_told_from_conversation(question, factual):
    assert asks_world_fact(question) is factual


def test_a_world_fact_that_reads_like_chat_goes_to_docs_not_chat():
    # Chat would answer from the model's memory; the docs route answers from the documents or refuses.
    semantic = {"chat": 0.6, "factual": 0.3, "web": 0.2}
    assert decide(signals(docs_score=0.1, world_fact=True, semantic=semantic), 0.25).route == "docs"
    assert decide(signals(docs_score=0.1, world_fact=False, semantic=semantic), 0.25).route == "chat"
