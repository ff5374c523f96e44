"""Everyday phrasings of arithmetic, by family: imperatives, fractions, separators, scales, rounding,
lists, percentage changes, percentages, logarithms and comparisons.

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


# --- lists, percentage changes, percentages of, logarithms, comparisons ----------------------


@pytest.mark.parametrize(
    "question, answer",
    [
        # lists: sums, products, averages of three or more numbers
        ("What is the average of 4, 8 and 15?", "average of 4, 8, 15 = 9"),
        ("mean of 2, 3, 4, 5", "average of 2, 3, 4, 5 = 3.5 (exact: 7/2)"),
        ("What's the sum of 1,200, 300 and 45?", "sum of 1200, 300, 45 = 1545"),
        ("Calculate the total of 7, 8, and 9", "total of 7, 8, 9 = 24"),
        ("the product of 2, 3 and 7", "product of 2, 3, 7 = 42"),
        # a percentage change relative to the amount
        ("What is 20% off 45?", "45 - 20% = 36"),
        ("What is 250 plus 8%?", "250 + 8% = 270"),
        ("What's 1,000 - 12.5%?", "1000 - 12.5% = 875"),
        ("Reduce 60 by 25 percent", "60 - 25% = 45"),
        ("Increase 40 by 10%", "40 + 10% = 44"),
        ("300 decreased by 5%", "300 - 5% = 285"),
        # one number as a percentage of another
        ("What percent of 80 is 20?", "20 as a percentage of 80 = 25%"),
        ("What percentage is 9 of 36?", "9 as a percentage of 36 = 25%"),
        ("Express 7/8 as a percentage", "7/8 as a percentage = 87.5% (exact: 175/2)"),
        ("What is 45 as a percentage of 60?", "45 as a percentage of 60 = 75%"),
        # logarithms: a bare log is base 10, ln and natural log base e
        ("What is the log of 1000?", "log(1000, 10) = 3"),
        ("log base 2 of 32", "log(32, 2) = 5"),
        ("What is log of 81 to base 3?", "log(81, 3) = 4"),
        ("ln 1", "log(1) = 0"),
        # comparisons
        ("Is 2,048 greater than 1,999?", "Yes: 2048 > 1999"),
        ("Is 7/9 less than 0.75?", "No: 7/9 (≈ 0.777777777777778) > 0.75"),
        ("Is 0.25 equal to 1/4?", "Yes: 0.25 = 1/4 (≈ 0.25)"),
        ("Which is larger, 5/8 or 0.6?", "5/8 is larger: 5/8 (≈ 0.625) > 0.6"),
        ("Which is smaller: 2^7 or 130?", "2**7 is smaller: 2**7 < 130"),
        ("Which number is bigger, 3 or 3.0?", "Neither: they are equal (3 = 3.0)"),
    ],
)
def test_lists_percent_changes_logs_and_comparisons_are_computed_by_sympy(question, answer):
    problem = detect_math(question)
    assert problem is not None, question
    assert solve(problem).answer == answer


@pytest.mark.parametrize(
    "question",
    [
        "What is the average of the class scores?",
        "What is the total of the bill?",
        "Is the river longer than the canal?",
        "Is one euro worth more than 90 yen?",
        "Which is larger, the sun or the moon?",
        "What is the log of the ship's voyage?",
        "What is the unemployment rate as a percentage?",
        "Increase the font by 10%",
    ],
)
def test_list_percent_log_and_comparison_look_alikes_about_words_are_not_math(question):
    assert detect_math(question) is None


def test_a_comparison_of_complex_numbers_is_refused_with_the_reason():
    result = solve(detect_math("Is sqrt(-4) greater than 1?"))
    assert not result.ok and "only real numbers can be compared" in result.error
