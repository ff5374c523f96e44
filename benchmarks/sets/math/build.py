"""Write the everyday-math set: tune.jsonl, frozen.jsonl and split.json (deterministic: a fixed seed).

    python benchmarks/sets/math/build.py

Each phrasing family is a template people type ("take A and subtract B", "what's P% off X", a short word
problem...); the numbers come from a seeded generator and every answer is computed exactly (Fraction).
Rows follow the shared scorer's schema: {"id", "kind": "math", "question", "answers", "family"}.
"""

from __future__ import annotations

import hashlib
import json
import random
from fractions import Fraction
from pathlib import Path

HERE = Path(__file__).resolve().parent
PER_FAMILY = 12

WORDS = {
    1: "one",
    2: "two",
    3: "three",
    4: "four",
    5: "five",
    6: "six",
    7: "seven",
    8: "eight",
    9: "nine",
    10: "ten",
    11: "eleven",
    12: "twelve",
    15: "fifteen",
    20: "twenty",
    25: "twenty-five",
    30: "thirty",
    40: "forty",
    50: "fifty",
    60: "sixty",
    75: "seventy-five",
    90: "ninety",
    100: "a hundred",
}
NAMES = ["Tom", "Priya", "Lena", "Oscar", "Mei", "Jonas", "Amara", "Felix", "Ines", "Rafael", "Hana", "Kofi"]
THINGS = ["marbles", "stickers", "stamps", "pencils", "cards", "shells", "buttons", "conkers", "beads", "coins"]


def money(value: int) -> str:
    return f"{value:,}"


def exact(value: Fraction) -> str:
    """The value written out: an integer, or a terminating decimal (the generator only makes those)."""
    if value.denominator == 1:
        return str(value.numerator)
    text = f"{float(value):.6f}".rstrip("0").rstrip(".")
    assert Fraction(text) == value, value
    return text


def family_rows(rng: random.Random) -> dict[str, list[tuple[str, Fraction]]]:
    r = rng.randint
    fam: dict[str, list[tuple[str, Fraction]]] = {}

    def add(name, make):
        fam[name] = [make() for _ in range(PER_FAMILY)]

    def divide_by():
        b = r(13, 480)
        q = r(21, 940)
        form = rng.choice(
            [
                "what do I get if I divide {a} by {b}",
                "What do I get when I divide {a} by {b}?",
                "divide {a} by {b}",
                "If I divide {a} by {b}, what's the result?",
            ]
        )
        return form.format(a=money(b * q), b=b), Fraction(q)

    def take_subtract():
        a, b = r(2_000, 2_000_000), r(100, 90_000)
        form = rng.choice(["Take {a} and subtract {b}.", "take {a} and subtract {b}", "Take {a}, subtract {b}."])
        return form.format(a=money(a), b=money(b)), Fraction(a - b)

    def subtract_from():
        a, b = r(500, 99_999), r(10, 499)
        form = rng.choice(["subtract {b} from {a}", "What's {a} minus {b}?", "how much is {a} take away {b}"])
        return form.format(a=money(a), b=b), Fraction(a - b)

    def add_up():
        a, b, c = r(10, 9_999), r(10, 9_999), r(10, 9_999)
        form = rng.choice(
            [
                "add up {a}, {b} and {c}",
                "Add up {a}, {b}, and {c}.",
                "what's {a} + {b} + {c}",
                "sum of {a}, {b} and {c}?",
            ]
        )
        return form.format(a=money(a), b=money(b), c=money(c)), Fraction(a + b + c)

    def percent_of():
        p = rng.choice([5, 8, 12, 15, 18, 20, 25, 35, 40, 65])
        x = r(2, 400) * 20
        form = rng.choice(
            ["{p} percent of {x}", "What is {p}% of {x}?", "whats {p} percent of {x}", "Calculate {p}% of {x}."]
        )
        return form.format(p=p, x=money(x)), Fraction(p * x, 100)

    def percent_off():
        p = rng.choice([10, 15, 20, 25, 30, 40, 50, 70])
        x = r(3, 150) * 4
        form = rng.choice(
            [
                "what's {p}% off {x}",
                "How much is {x} with {p}% off?",
                "{p} percent off €{x}",
                "price is {x}, {p}% discount, what do I pay",
            ]
        )
        return form.format(p=p, x=x), Fraction(x * (100 - p), 100)

    def increase_by():
        p = rng.choice([5, 10, 12, 20, 25, 50])
        x = r(2, 90) * 20
        form = rng.choice(["increase {x} by {p}%", "What is {x} plus {p} percent?", "add {p}% to {x}"])
        return form.format(p=p, x=x), Fraction(x * (100 + p), 100)

    def tip():
        p = rng.choice([10, 15, 20])
        x = r(4, 60) * 4
        form = rng.choice(["what's a {p}% tip on {x}", "How much is a {p} percent tip on a {x} euro bill?"])
        return form.format(p=p, x=x), Fraction(p * x, 100)

    def split_ways():
        n = r(2, 9)
        x = n * r(7, 480)
        form = rng.choice(
            [
                "split {x} {w} ways",
                "Split {x} euros between {n} people.",
                "if {n} friends share a bill of {x}, how much does each pay?",
                "divide {x} equally among {n}",
            ]
        )
        return form.format(x=money(x), n=n, w=WORDS.get(n, n)), Fraction(x, n)

    def times():
        a, b = r(12, 9_999), r(3, 999)
        form = rng.choice(
            ["{a} times {b}", "What is {a} times {b}?", "multiply {a} by {b}", "{a} x {b}", "product of {a} and {b}"]
        )
        return form.format(a=money(a), b=b), Fraction(a * b)

    def power():
        a, b = r(2, 15), r(2, 6)
        form = rng.choice(["{a} to the power of {b}", "What's {a} raised to the power {b}?", "{a} to the {b}th power"])
        return form.format(a=a, b=b), Fraction(a**b)

    def word_numbers():
        a = rng.choice([k for k in WORDS if k <= 100])
        b = r(3, 19)
        op = rng.choice(["times", "plus", "minus"])
        value = {"times": a * b, "plus": a + b, "minus": a - b}[op]
        form = rng.choice(["{wa} {op} {b}", "what is {wa} {op} {b}?", "{Wa} {op} {b}"])
        return form.format(wa=WORDS[a], Wa=WORDS[a].capitalize(), op=op, b=b), Fraction(value)

    def typos():
        a, b = r(11, 999), r(3, 99)
        form, value = rng.choice(
            [
                ("whats {a} tims {b}", a * b),
                ("waht is {a} plus {b}", a + b),
                ("subract {b} from {a}", a - b),
                ("{a} divded by {b}", Fraction(a * b, b)),
                ("mutliply {a} by {b}", a * b),
            ]
        )
        a_text = a * b if "divded" in form else a
        return form.format(a=a_text, b=b), Fraction(value)

    def no_punctuation():
        a, b = r(100, 9_999), r(2, 60)
        form, value = rng.choice(
            [
                ("how much is {ab} divided by {b}", a),
                ("what is {a} plus {b}", a + b),
                ("how much is {a} minus {b}", a - b),
                ("what do you get for {a} times {b}", a * b),
            ]
        )
        return form.format(ab=a * b, a=a, b=b), Fraction(value)

    def half_double():
        x = r(3, 4_000) * 4
        form, value = rng.choice(
            [
                ("half of {x}", Fraction(x, 2)),
                ("what is double {x}?", Fraction(2 * x)),
                ("a quarter of {x}", Fraction(x, 4)),
                ("What's a third of {y}?", None),
            ]
        )
        if value is None:
            return form.format(y=3 * x), Fraction(x)
        return form.format(x=money(x)), value

    def average():
        values = [r(2, 99) for _ in range(rng.choice([3, 4]))]
        total = sum(values)
        values[-1] += (-total) % len(values)  # a whole-number mean
        listed = ", ".join(str(v) for v in values[:-1]) + f" and {values[-1]}"
        form = rng.choice(["what's the average of {l}", "Average of {l}?", "mean of {l}"])
        return form.format(l=listed), Fraction(sum(values), len(values))

    def square_root():
        x = r(4, 99)
        form = rng.choice(["square root of {s}", "What's the square root of {s}?", "sqrt {s}"])
        return form.format(s=x * x), Fraction(x)

    def word_problem():
        name, thing = rng.choice(NAMES), rng.choice(THINGS)
        a, b, n = r(12, 90), r(2, 11), r(3, 12)
        kind = rng.randrange(6)
        if kind == 0:
            return f"{name} has {a} {thing} and gives {b} away. How many are left?", Fraction(a - b)
        if kind == 1:
            return f"{name} has {a} {thing} and gets {b} more. How many does {name} have now?", Fraction(a + b)
        if kind == 2:
            return f"{name} buys {n} packs of {b} {thing}. How many {thing} is that?", Fraction(n * b)
        if kind == 3:
            return f"{n * b} {thing} are shared equally among {n} children. How many does each get?", Fraction(b)
        if kind == 4:
            return f"{name} had {a} euros and spent {b} on lunch. How much is left?", Fraction(a - b)
        return f"There are {a} seats on a bus and {b} are taken. How many seats are free?", Fraction(a - b)

    def rate_time():
        s, t = r(3, 120), r(2, 9)
        kind = rng.randrange(6)
        if kind == 0:
            return f"A train travels at {s} km/h for {t} hours. How far does it go?", Fraction(s * t)
        if kind == 1:
            return f"If I walk {s % 7 + 3} km per hour for {t} hours, how far do I get?", Fraction((s % 7 + 3) * t)
        if kind == 2:
            return f"A tap fills {s} litres a minute. How many litres after {t} minutes?", Fraction(s * t)
        if kind == 3:
            return f"I earn {s} euros an hour. How much do I earn in {t} hours?", Fraction(s * t)
        if kind == 4:
            return f"How long does it take to drive {s * t} km at {s} km/h?", Fraction(t)
        return f"A printer prints {s} pages per minute. How many minutes for {s * t} pages?", Fraction(t)

    def how_much_is():
        a, b = r(100, 99_999), r(100, 99_999)
        op = rng.choice(["plus", "and", "minus"])
        value = a - b if op == "minus" else a + b
        form = rng.choice(["how much is {a} {op} {b}", "How much is {a} {op} {b}?", "{a} {op} {b} is how much?"])
        return form.format(a=money(a), b=money(b), op=op), Fraction(value)

    for name, make in [
        ("divide_by", divide_by),
        ("take_subtract", take_subtract),
        ("subtract_from", subtract_from),
        ("add_up", add_up),
        ("percent_of", percent_of),
        ("percent_off", percent_off),
        ("increase_by", increase_by),
        ("tip", tip),
        ("split_ways", split_ways),
        ("times", times),
        ("power", power),
        ("word_numbers", word_numbers),
        ("typos", typos),
        ("no_punctuation", no_punctuation),
        ("half_double", half_double),
        ("average", average),
        ("square_root", square_root),
        ("word_problem", word_problem),
        ("rate_time", rate_time),
        ("how_much_is", how_much_is),
    ]:
        add(name, make)
    # rate x time and word problems are the kinds models get wrong: twice as many of them
    fam["word_problem"] += [word_problem() for _ in range(PER_FAMILY)]
    fam["rate_time"] += [rate_time() for _ in range(PER_FAMILY)]
    return fam


def main() -> None:
    rng = random.Random(20261207)
    rows, by_family, seen = [], {}, set()
    for family, items in family_rows(rng).items():
        for question, value in items:
            if question in seen:
                continue
            seen.add(question)
            case_id = f"math-{len(rows) + 1:03d}"
            rows.append(
                {"id": case_id, "kind": "math", "question": question, "answers": [exact(value)], "family": family}
            )
            by_family.setdefault(family, []).append(case_id)
    tune_ids = set()
    for number, ids in enumerate(by_family.values()):
        ordered = sorted(ids, key=lambda case_id: hashlib.sha256(case_id.encode()).hexdigest())
        extra = len(ordered) % 2 * (number % 2)  # an odd family's extra case goes to tune every other family
        tune_ids.update(ordered[: len(ordered) // 2 + extra])
    for part in ("tune", "frozen"):
        chosen = [row for row in rows if (row["id"] in tune_ids) == (part == "tune")]
        (HERE / f"{part}.jsonl").write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in chosen))
    split = {
        "rule": "per family: ids ordered by sha256(id), first n/2 tune (odd n: the extra one to tune in every other family), rest frozen",
        "tune": sorted(tune_ids),
        "frozen": sorted(row["id"] for row in rows if row["id"] not in tune_ids),
    }
    (HERE / "split.json").write_text(json.dumps(split, indent=1) + "\n")


if __name__ == "__main__":
    main()
