"""Math may only rearrange what the question says (issue 29 item 4): rule phrasings, templates, and the
check every model-written expression must pass."""

import pytest

from orchestrator.tools.math import detect_math, solve, solve_word_problem
from orchestrator.tools.word_problems import check_translation, solve_by_template, stated_quantities


@pytest.mark.parametrize(
    ("question", "value"),
    [
        ("what do I get if I divide 40,366 by 439", "91.9498"),
        ("Take 1,000,000 and subtract 87,654.", "912346"),
        ("add up 4, 8 and 15", "27"),
        ("What would you get if you multiply 12 by 7?", "84"),
        ("Start with 80, then add 15", "95"),
        ("take 5 away from 12", "7"),
        ("12 percent of 250", "30"),
    ],
)
def test_everyday_phrasings_are_read_by_the_rules(question, value):
    assert detect_math(question) is not None
    assert value in solve(question).answer


@pytest.mark.parametrize(
    ("question", "value"),
    [
        ("Tom has 12 marbles and gives 5 away. How many are left?", "7"),
        ("If I have 3 apples and buy 4 more, how many do I have?", "7"),
        ("A train covers 150 km in 3 hours. What is its speed?", "50"),
        ("A bus ticket costs 4 euros. How much do 6 tickets cost?", "24"),
        ("Thirty stickers are shared equally among five friends. How many does each get?", "6"),
        ("A lamp costs 60 dollars and is 20% off. What is the price now?", "48"),
    ],
)
def test_word_problems_solved_by_a_template_never_ask_the_model(question, value):
    def model(_):
        raise AssertionError("the model was asked")

    result = solve_word_problem(question, model)
    assert result.translated_by == "template" and result.answer.split("=")[-1].strip().startswith(value), result


def test_a_translation_that_invents_a_number_is_refused():
    question = "Nadia's class planted some rows of beans; how many beans if each row got a few?"
    result = solve_word_problem(question, lambda _: "12*7")
    assert result.refused and "12, 7" in result.answer and "84" not in result.answer


def test_a_translation_that_only_rearranges_the_question_is_computed():
    question = "Nadia planted 6 rows of beans and her brother doubled it. How many rows in all, roughly?"
    assert solve_by_template(question) is None  # one stated quantity: no template fits
    result = solve_word_problem(question, lambda _: "6+6")
    assert not result.refused and "12" in result.answer


@pytest.mark.parametrize(
    ("question", "expression", "refused"),
    [
        ("Tom has 12 marbles and gives five away.", "12-5", False),
        ("Tom has 12 marbles and gives five away.", "12-5-5-5", True),  # more operations than quantities
        ("A coat is 80 dollars with 25% off.", "80*(1-25/100)", False),
        ("what do I get if I divide 40,366 by 439", "12*7", True),
        ("Take 1,000,000 and subtract 87,654.", "12*7 - 87654", True),
    ],
)
def test_check_translation(question, expression, refused):
    assert (check_translation(question, expression) is not None) is refused


def test_stated_quantities_read_digits_and_words():
    values = [str(q.value) for q in stated_quantities("forty-two boxes, a dozen eggs, 1,200 km and 3.5 million")]
    assert values == ["42", "12", "1200", "3500000.0"]


def test_the_models_own_result_is_dropped_and_sympy_computes():
    question = "Anna is 12 and her brother is 3 years older. How old is he?"
    result = solve_word_problem(question, lambda _: "12 + 3 = 45")
    assert not result.refused and result.answer == "12 + 3 = 15"
    copied = solve_word_problem(question, lambda _: "12*7 = 84")
    assert copied.refused and "84" not in copied.answer.split("(")[0]
