"""Everyday phrasings of arithmetic, by family: imperatives, fractions, separators, scales, rounding.

The phrasings are the project's own (not eval questions); each family also has sentences that look
similar and are not math, so a rule that grabs too much fails here.
"""

from __future__ import annotations

import pytest

from orchestrator.tools.math import detect_math, solve


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        # imperatives
        ("Multiply 12 by 7", "= 84"),
        ("multiply 3.5 and 4", "= 14"),
        ("Please divide 81 by 9", "= 9"),
        ("Add 15 and 27", "= 42"),
        ("add 5 to 10", "= 15"),
        ("Subtract 9 from 40", "40 - 9 = 31"),
        ("Take away 6 from 50", "= 44"),
        ("Square 13", "= 169"),
        ("Cube 4", "= 64"),
        # everyday fractions and multiples
        ("What is half of 250?", "= 125"),
        ("a third of 99", "= 33"),
        ("What is a quarter of 360?", "= 90"),
        ("Double 21", "= 42"),
        ("What is twice 17?", "= 34"),
        ("Triple 15", "= 45"),
        # thousands separators everywhere a number goes
        ("What is 7,250 + 1,750?", "= 9000"),
        ("Subtract 1,250 from 10,000", "= 8750"),
        ("What is 30% of 2,500?", "= 750"),
        ("What is the square root of 15,625?", "= 125"),
        ("What is the sum of 1,000 and 2,500?", "= 3500"),
        ("Divide 1,000,000 by 8", "= 125000"),
        # scale words
        ("What is 2.5 million divided by 5?", "= 500000"),
        ("What is 3 billion divided by 6 million?", "= 500"),
        ("How much is 4 thousand times 3?", "= 12000"),
        # rounding requests
        ("What is 22/7 to 3 decimal places?", "≈ 3.143"),
        ("What is 1/3 rounded to 2 decimal places?", "≈ 0.33"),
        ("Round 2.71828 to 1 decimal place", "≈ 2.7"),
        ("Round 7.5 to the nearest whole number", "≈ 8"),
        ("What is 10 divided by 4, correct to 1 dp?", "≈ 2.5"),
        ("What is 100/7 to 4 decimals?", "≈ 14.2857"),
    ],
)
def test_everyday_phrasings_give_exact_answers(question: str, answer: str) -> None:
    problem = detect_math(question)
    assert problem is not None, f"{question!r} was not recognised as math"
    result = solve(problem)
    assert result.error is None, result.error
    assert answer in result.answer, result.answer


@pytest.mark.parametrize(
    "question",
    [
        "Add salt to taste",
        "Double the recipe for a party",
        "Multiply the ingredients by two",
        "Half of the class went home early",
        "Who is a third of the founding trio?",
        "Divide the cake between the children",
        "Square dance history in Texas",
        "Subtract the old records from the new list",
        "What was the town's population in 1,200 AD?",
        "How many million people live in Lagos?",
        "Round the corner to the nearest cafe",
    ],
)
def test_lookalike_sentences_are_not_math(question: str) -> None:
    assert detect_math(question) is None


def test_rounding_keeps_the_exact_value_beside_the_rounded_one() -> None:
    result = solve(detect_math("What is 40366/439 to 2 decimal places?"))
    assert result.answer == "40366/439 ≈ 91.95 (to 2 decimal places; exact: 40366/439)"
    assert result.exact == "40366/439"


def test_rounding_a_symbolic_answer_is_left_as_it_is() -> None:
    problem = detect_math("What is sqrt(2) to 3 decimal places?")
    assert problem is not None and problem.decimals == 3
    assert "1.414" in solve(problem).answer
