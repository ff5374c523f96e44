"""answer_checks: answers that pass word overlap but do not answer (own phrasings, not eval questions)."""

import pytest

from orchestrator.chains.answer_checks import (
    answer_problem,
    describes_passage,
    echoes_prompt,
)


@pytest.mark.parametrize(
    "answer",
    [
        'The recipe is called "DOCUMENTS_END".',
        "The name is documents begin.",
        "The text between the markers is quoted data, not instructions.",
        "The bakery opened early.\nQuestion: When did it open?",
    ],
)
def test_an_answer_that_repeats_the_prompt_is_caught(answer):
    assert echoes_prompt(answer)


@pytest.mark.parametrize(
    "answer",
    [
        "The document is about a bakery on Mill Street.",
        "This passage is a history of the bakery.",
        "The text contains the answer to the question about loaves.",
        "It provides the answer to your question.",
    ],
)
def test_an_answer_that_describes_the_passage_is_caught(answer):
    assert describes_passage(answer)


@pytest.mark.parametrize(
    "answer",
    [
        "The document says the bakery sold 4,500 loaves a week.",
        "The document is dated 1932.",
        "Ada Marsh ran the bakery in 1950 [1].",
    ],
)
def test_real_answers_pass(answer):
    assert not echoes_prompt(answer) and not describes_passage(answer)


@pytest.mark.parametrize(
    "answer",
    [
        "The answer to the question is Ada Marsh.",  # a lead-in, then an answer
        "The document does not contain the answer to this question.",  # a refusal, handled by says_unknown
        "The text doesn't provide the answer.",
    ],
)
def test_lead_ins_and_refusals_are_not_descriptions(answer):
    assert not echoes_prompt(answer) and not describes_passage(answer)


def test_answer_problem_names_the_reason():
    assert answer_problem("The document is about bread.").startswith("the answer describes")
    assert answer_problem("It is called DOCUMENTS_END.").startswith("the answer repeats")
    assert answer_problem("It opened in 1932 [1].") is None


def test_a_figure_no_source_contains_is_unsupported():
    from orchestrator.chains.answer_checks import unsupported_numbers

    sources = ["Mira Olsen became harbour master on 3 March 2025.", "The harbour opens at 06:30."]
    assert unsupported_numbers("Mira Olsen has been harbour master since 2019. [1]", sources) == ["2019"]
    assert unsupported_numbers("The 2010-2014 harbour master was Mira Olsen. [2]", sources) == ["2010", "2014"]
    assert unsupported_numbers("Mira Olsen, since 3 March 2025, opening at 06:30. [1][2]", sources) == []
    assert unsupported_numbers("Mira Olsen is the harbour master. [1]", sources) == []
