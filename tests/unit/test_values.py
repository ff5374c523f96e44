"""The values an answer states, the kind a question asks for, and the span that answers it (chains/values.py)."""

import pytest

from orchestrator.chains.values import answer_span, asked_kinds, fits, normalised_values, unfaithful_values


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How far is the quarry from the village?", "length"),
        ("What is the distance between the two piers?", "length"),
        ("How long does the crossing take?", "duration"),
        ("How much does a day pass cost?", "money"),
        ("What does the Juniper plan charge for a replacement card?", "money"),
        ("What percentage of the grant goes to travel?", "percentage"),
        ("When does the pool close on Sundays?", "time"),
        ("When was the lighthouse built?", "date"),
        ("How many lanes does the pool have?", "count"),
        ("Who chairs the parish council?", "name"),
    ],
)
def test_the_kind_a_question_asks_for(question, kind):
    assert asked_kinds(question)[0].name == kind


def test_an_untyped_question_asks_for_no_kind():
    assert asked_kinds("What colour is the ferry?") == ()


def test_a_duration_does_not_fit_a_distance_and_a_length_does():
    kinds = asked_kinds("How far is the quarry from the village?")
    assert not fits(kinds, "The quarry is a 20 minutes drive from the village.")
    assert fits(kinds, "The quarry lies 6 miles north of the village.")
    assert fits(asked_kinds("How long does the crossing take?"), "The crossing takes 20 minutes.")


def test_the_clause_that_names_what_the_question_adds_gives_the_span():
    sentence = "The pool is open Monday to Friday from 07:00 to 21:00, and on Sundays until 13:00."
    assert answer_span("When is the pool open on Sundays?", sentence) == "until 13:00"
    assert answer_span("When is the pool open on Fridays?", sentence) == "from 07:00 to 21:00"


def test_the_count_next_to_the_asked_noun_is_the_span():
    sentence = "The choir has 42 singers and 3 conductors."
    assert answer_span("How many singers does the choir have?", sentence) == "42"
    assert answer_span("How many conductors does the choir have?", sentence) == "3"


def test_a_value_the_question_already_gives_is_not_the_span():
    assert answer_span("What happened in 1902 when the bridge opened?", "In 1902 the bridge opened.") is None
    assert (
        answer_span("Who succeeded Marta Ilves as mayor?", "Marta Ilves was succeeded by Oskar Rand.") == "Oskar Rand"
    )


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("09:00", "9 am"),
        ("9:00", "09:00"),
        ("$1,200", "1200 dollars"),
        ("1,200.00 euros", "$1200"),
        ("7.50", "7.5"),
        ("8 pm", "20:00"),
    ],
)
def test_the_same_value_written_two_ways_normalises_the_same(a, b):
    assert normalised_values(a) == normalised_values(b)


def test_a_different_value_does_not_normalise_the_same():
    assert normalised_values("17:00") != normalised_values("20:00")
    assert normalised_values("$7.50") != normalised_values("$75")


def test_unfaithful_values_are_the_numbers_and_names_the_evidence_lacks():
    evidence = "Incoming domestic wires cost $7.50 each; the desk opens at 9 am."
    assert unfaithful_values("An incoming wire costs $7.50 [1], and the desk opens at 09:00.", evidence) == []
    assert unfaithful_values("It costs $30, says Dana Whitfield.", evidence) == ["30", "dana", "whitfield"]


def test_a_question_naming_a_price_asks_for_money_unless_it_asks_which_fee():
    assert asked_kinds("monthly maintenance fee for the juniper plan")[0].name == "money"
    assert asked_kinds("Which fee is waived for members over 60?") == ()


def test_an_explanation_asks_for_no_kind():
    assert asked_kinds("How does the fee waiver work?") == ()
    assert asked_kinds("Why is there a late fee?") == ()


def test_a_count_is_never_the_number_inside_a_percentage_or_an_amount():
    sentence = "Owners holding 25% or more must show ID; the card costs $12."
    assert answer_span("How many owners must show ID?", sentence) is None
    assert answer_span("How many owners must show ID?", "Up to 3 owners must show ID.") == "3"


def test_a_question_about_closing_or_opening_marks_that_end_of_the_hours():
    row = "Sunday: 10:00–16:30"
    assert answer_span("When does the museum close on Sunday?", row) == "16:30"
    assert answer_span("What time does the museum open on Sunday?", row) == "10:00"
    assert answer_span("When is the museum open on Sunday?", row) == "10:00–16:30"
    # Both ends asked ("how late is it open"): the whole range stays.
    assert answer_span("How late is the museum open on Sunday?", row) == "10:00–16:30"
    assert answer_span("When does the museum close on Sunday?", "Sunday: open until 16:30") == "until 16:30"


def test_a_capitalised_function_word_opening_the_sentence_is_no_name():
    assert answer_span("Who is Ilse Marrow?", "The harbour master is Ilse Marrow.") is None
    assert answer_span("Who runs the ferry office?", "The ferry office is run by Ilse Marrow.") == "Ilse Marrow"
