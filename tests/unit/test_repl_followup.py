"""Follow-ups made standalone from the previous turn (issue 20 item 4): the issue's own examples and controls."""

import pytest

from orchestrator.chains.followup import PreviousTurn, entities, make_standalone, subject_of


@pytest.mark.parametrize(
    ("first", "route", "answer", "followup", "expected"),
    [
        (
            "How many items can a member borrow?",
            "docs",
            "Members may borrow up to 7 items [1].",
            "and for how long?",
            "For how long can a member borrow?",
        ),
        (
            "Who is the head librarian?",
            "docs",
            "The head librarian is Tomasz Wren [1].",
            "What is his name again?",
            "What is Tomasz Wren's name?",
        ),
        ("12*7", "math", "12*7 = 84", "and multiplied by 2?", "84 multiplied by 2"),
        (
            "When is the library open?",
            "docs",
            "Tuesday to Saturday [1].",
            "and on Thursdays?",
            "When is the library open on Thursdays?",
        ),
        (
            "How much does membership cost for visitors?",
            "docs",
            "12 euros per year [1].",
            "what about island residents?",
            "How much does membership cost for island residents?",
        ),
        (
            "Who won Super Bowl 50?",
            "docs",
            "The Denver Broncos won Super Bowl 50 [1].",
            "Who did they defeat?",
            "Who did Denver Broncos defeat?",
        ),
        (
            "Who did Martin Luther marry?",
            "docs",
            "Martin Luther married Katharina von Bora [1].",
            "When did he help her escape from the convent?",
            "When did Martin Luther help Katharina von Bora escape from the convent?",
        ),
        (
            "What is the capital of Poland?",
            "docs",
            "Warsaw [1].",
            "What is its largest city?",
            "What is Poland's largest city?",
        ),
        (
            "When was Nikola Tesla born?",
            "docs",
            "10 July 1856 [1].",
            "In which village?",
            "In which village was Nikola Tesla born?",
        ),
    ],
)
def test_followups_stand_alone(first, route, answer, followup, expected):
    rewritten = make_standalone(followup, PreviousTurn(first, route, answer))
    assert rewritten.question == expected and rewritten.rule


@pytest.mark.parametrize(
    "question",
    [
        "Who is the British prime minister?",
        "What is 2+2?",
        "Thanks!",
        "Write a haiku about autumn.",
        "When did the Lisbon harbour expansion take place?",
    ],
)
def test_standalone_questions_are_left_alone(question):
    previous = PreviousTurn("Who is the head librarian?", "docs", "The head librarian is Tomasz Wren [1].")
    assert make_standalone(question, previous).question == question


def test_no_previous_turn_changes_nothing():
    assert make_standalone("and for how long?", None).question == "and for how long?"


def test_a_refusal_names_no_one():
    previous = PreviousTurn(
        "Who is the head librarian?", "docs", "Your documents don't contain an answer to that.", abstained=True
    )
    assert make_standalone("What is his name again?", previous).question == "What is the head librarian's name?"


def test_subjects_and_entities():
    assert subject_of("Who is the head librarian?") == "the head librarian"
    assert subject_of("When did Tesla enroll at the Austrian Polytechnic?") == "Tesla"
    assert entities("Martin Luther married Katharina von Bora [1].") == ["Martin Luther", "Katharina von Bora"]


def test_a_full_name_in_the_answer_wins_over_a_single_word():
    previous = PreviousTurn(
        "Who was named Super Bowl 50 MVP?",
        "docs",
        'From the documents: "Denver linebacker Von Miller was named Super Bowl MVP." [1]',
    )
    assert (
        make_standalone("How many sacks did he record?", previous).question == "How many sacks did Von Miller record?"
    )


@pytest.mark.parametrize(
    ("first", "followup", "expected"),
    [
        (
            "How many photographs does the local history collection hold?",
            "Who took the oldest one?",
            "Who took the oldest photograph?",
        ),
        (
            "How many counties is Southern California traditionally described as?",
            "and how many made up the initial definition?",
            "How many counties made up the initial definition?",
        ),
    ],
)
def test_the_counted_noun_fills_in(first, followup, expected):
    assert make_standalone(followup, PreviousTurn(first, "docs", "x")).question == expected
