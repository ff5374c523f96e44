"""Word problems: a small template set, and the check a model-written expression must pass.

The rule (issue 29): an answer may only rearrange what the question says.

- `solve_by_template(question)` reads a word problem with a few templates (add, subtract, multiply,
  divide, percent, rate x time) and returns the expression, or None when no template fits cleanly;
  every number in it is one the question states.
- `check_translation(question, expression)` accepts a model's expression only when every number in it
  appears in the question (as digits or as words) and it uses at most one operation per stated quantity;
  otherwise it says why it is refused. The 135M model copies its prompt's example (`12*7`) into answers,
  which this refuses.

Templates are measured in docs/chat.md (everyday math phrasings); a question no template reads cleanly
goes to the model and then through `check_translation`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

_FLAGS = re.IGNORECASE
_UNITS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "hundred": 100,
    "dozen": 12,
}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}
_DIGITS = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_WORD_NUMBER = (
    r"(?:"
    + "|".join(sorted(_UNITS, key=len, reverse=True))
    + r")(?:[\s-](?:one|two|three|four|five|six|seven|eight|nine))?"
)
_QUANTITY = re.compile(
    rf"(?<![\w.])(?P<n>{_DIGITS}|\b{_WORD_NUMBER}\b)(?:\s+(?P<scale>hundred|thousand|million|billion)\b)?"
    r"(?P<percent>\s*(?:%|percent\b|per\s*cent\b))?",
    _FLAGS,
)
_EXPRESSION_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?")
_OPERATION = re.compile(r"\*\*|[-+*/%]")


@dataclass(frozen=True)
class Quantity:
    """A number the question states, where it stands, and whether it was a percentage."""

    value: Decimal
    start: int
    end: int
    percent: bool = False


def _word_value(text: str) -> Decimal | None:
    parts = re.split(r"[\s-]+", text.lower())
    if not parts or parts[0] not in _UNITS:
        return None
    return Decimal(sum(_UNITS.get(part, 0) for part in parts))


def stated_quantities(question: str) -> list[Quantity]:
    """The numbers a question states, as digits ("1,200", "3.5") or words ("twelve", "a dozen", "forty-two")."""
    found = []
    for match in _QUANTITY.finditer(question):
        text = match.group("n")
        try:
            value = Decimal(text.replace(",", "")) if text[0].isdigit() else _word_value(text)
        except InvalidOperation:
            value = None
        if value is None:
            continue
        if match.group("scale"):
            value *= _SCALES[match.group("scale").lower()]
        found.append(Quantity(value, match.start(), match.end(), bool(match.group("percent"))))
    return found


def check_translation(question: str, expression: str) -> str | None:
    """Why a model's expression for `question` is refused, or None when it only rearranges what the question says."""
    quantities = stated_quantities(question)
    allowed = {q.value for q in quantities}
    if any(q.percent for q in quantities):
        allowed |= {Decimal(100), Decimal(1)} | {q.value / 100 for q in quantities if q.percent}
    used = [Decimal(n) for n in _EXPRESSION_NUMBER.findall(expression)]
    invented = sorted({str(n) for n in used if n not in allowed})
    if invented:
        return f"uses {', '.join(invented)}, which the question does not give"
    if not used:
        return "uses none of the question's numbers"
    operations = len(_OPERATION.findall(re.sub(r"^\s*-", "", expression)))
    # A percentage is written p/100: that division is the quantity itself, not an operation on it.
    if operations > max(len(quantities), 1) + sum(q.percent for q in quantities):
        return f"has {operations} operations for {len(quantities)} stated quantities"
    return None


# --- templates --------------------------------------------------------------------------------------

# What the question asks for: a count or amount ("How many are left?", "how far", "what is the total").
_ASKS = re.compile(
    r"\b(?:how\s+(?:many|much|far|long|fast)|what\s+(?:is|was|will\s+be|would\s+be)\s+(?:the|its|his|her|their)|"
    r"what['’]s\s+the|in\s+total|altogether|what\s+do\s+(?:i|you|we)\s+pay)\b",
    _FLAGS,
)
_COMPARED = re.compile(r"\b(?:more|fewer|less|older|younger|taller|shorter|bigger|smaller|longer)\s+than\b", _FLAGS)
_LEFT = re.compile(r"\b(?:left|remain(?:s|ing)?|still\s+(?:has|have|had)|free|empty|available|unsold)\b", _FLAGS)
_GAIN = re.compile(
    r"\b(?:more|another|buys?|bought|gets?|got|finds?|found|receives?|received|earns?|earned|adds?|added|"
    r"gains?|gained|picks?\s+up|picked\s+up|collects?|collected|joins?|joined|arrive[sd]?|makes?|made|wins?|won)\b",
    _FLAGS,
)
_LOSS = re.compile(
    r"\b(?:away|gives?|gave|eats?|ate|eaten|loses?|lost|spends?|spent|sells?|sold|uses?|used|breaks?|broke|"
    r"taken|occupied|booked|drops?|dropped|leaves?|pops?|popped|fewer|less|removes?|removed|takes?|took|pays?|paid|donates?|donated)\b",
    _FLAGS,
)
_SHARE = re.compile(
    r"\b(?:share[sd]?|split|divided?|distributed?)\b.*?\b(?:among|between|into|by|equally|evenly|each)\b|\bequally\b|\bevenly\b",
    _FLAGS,
)
_EACH = re.compile(r"\b(?:each|per|every|a\s+piece|apiece)\b|\bof\s+(?=\d)", _FLAGS)
_GROUPS = re.compile(r"\bgroups?\s+of\b|\bbags?\s+of\b|\bboxes\s+of\b", _FLAGS)
_RATE_ASK = re.compile(r"\b(?:how\s+fast|speed|per\s+\w+|an?\s+(?:hour|minute|day|week)|each|average|rate)\b", _FLAGS)
_OFF = re.compile(r"\b(?:off|discount(?:ed)?|reduced|cheaper|sale|decrease[sd]?|drops?|falls?|fell)\b", _FLAGS)
_UP = re.compile(r"\b(?:increase[sd]?|rises?|rose|grows?|grew|tip|tax|markup|more\s+expensive|raise[sd]?)\b", _FLAGS)

_ASKS_PART = re.compile(
    r"\b(?:how\s+much|what)\s+(?:is|was|will\s+be|would\s+be)\s+the\s+(?:tip|tax|discount|saving|increase|decrease|"
    r"interest|commission|reduction|markup)\b|\bhow\s+much\s+(?:do|does|did|will|would)\s+\w+\s+save\b",
    _FLAGS,
)
_PART_NOUN = re.compile(r"^\s*(?:tip|tax|vat|commission|discount|deposit|service\s+charge|interest)\b", _FLAGS)
# "A ticket costs 12 euros.", "Each shelf holds 30 books.": the question opens with one unit and its amount.
_UNIT_STATEMENT = re.compile(
    r"^\s*(?:a|an|one|each|every)\s+[a-z]+(?:\s+[a-z]+)?\s+[a-z]+s\s+(?:about\s+)?\S*\d", _FLAGS
)


# A rate: an amount per one unit of something ("64 km/h", "93 pages per minute", "109 euros an hour").
_TIME_UNITS = r"hour|minute|second|day|week|month|year|night|person|head|piece"
_RATE_AFTER = re.compile(
    r"^\s*(?:(?!(?:on|in|at|for|to|with|by|from|of|and)\b)[a-z€$£]+\s*)?"
    rf"(?:/\s*(?P<slash>[a-z]+)|(?:per|each|every)\s+(?P<per>[a-z]+)|an?\s+(?P<a>{_TIME_UNITS}))\b",
    _FLAGS,
)
_UNIT_ABBREVIATIONS = {"h": "hour", "hr": "hour", "min": "minute", "s": "second", "sec": "second"}


def _rate_expression(question: str, first: Quantity, second: Quantity) -> str | None:
    """Rate x time, or an amount over a rate when the question asks for the rate's unit ("how many minutes")."""
    for rate, other in ((first, second), (second, first)):
        match = _RATE_AFTER.match(question[rate.end :])
        if match is None:
            continue
        unit = (match.group("slash") or match.group("per") or match.group("a")).lower()
        unit = _UNIT_ABBREVIATIONS.get(unit, unit)
        asks_unit = re.search(rf"\bhow\s+many\s+{unit}s?\b", question, _FLAGS)
        asks_time = unit in {"hour", "minute", "second", "day", "week", "month", "year"} and re.search(
            r"\bhow\s+long\b", question, _FLAGS
        )
        r, o = _number(rate.value), _number(other.value)
        return f"{o} / {r}" if asks_unit or asks_time else f"{r} * {o}"
    return None


def _number(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def _between(question: str, first: Quantity, second: Quantity) -> str:
    return question[first.end : second.start]


def solve_by_template(question: str) -> str | None:
    """The expression a template reads from a word problem, or None when none fits cleanly.

    Exactly two stated quantities (or a percentage and an amount), a question asking for an amount, and
    words that say which operation: "gives 5 away ... left" subtracts, "buys 4 more" adds, "shared
    equally among" divides, "each"/"per" multiplies, "15% off" takes a percentage.
    """
    asked = _ASKS.search(question)
    if not asked or _COMPARED.search(question):
        return None  # "4 fewer than Kim": which side is which takes more than a template
    quantities = stated_quantities(question)
    if len(quantities) != 2:
        return None
    first, second = quantities
    a, b = _number(first.value), _number(second.value)
    after = question[second.end :]
    between = _between(question, first, second)
    if first.percent or second.percent:
        percent, amount = (first, second) if first.percent else (second, first)
        p, x = _number(percent.value), _number(amount.value)
        if _ASKS_PART.search(question) or (
            _PART_NOUN.match(question[percent.end :])
            and not re.search(r"\b(?:total|in\s+all|altogether)\b", question, _FLAGS)
        ):
            return f"{p}/100 * {x}"  # "How much is the tip?": the percentage itself, not the new total
        if _OFF.search(question) and not _UP.search(question):
            return f"{x} * (1 - {p}/100)"
        if _UP.search(question) and not _OFF.search(question):
            return f"{x} * (1 + {p}/100)"
        return f"{p}/100 * {x}"
    if _SHARE.search(question):  # "3 friends share a bill of 1,281": the larger amount over the smaller
        big, small = (a, b) if first.value >= second.value else (b, a)
        return f"{big} / {small}"
    if _RATE_ASK.search(after) and re.search(r"\bin\b", between, _FLAGS):
        return f"{a} / {b}"  # "120 km in 2 hours. What is the speed?"
    rate = _rate_expression(question, first, second)
    if rate is not None:
        return rate
    statement, ask = question[: asked.start()], question[asked.start() :]
    if _EACH.search(ask) and not re.search(r"\b(?:total|in\s+all|altogether)\b", ask, _FLAGS):
        big, small = (a, b) if first.value >= second.value else (b, a)
        return f"{big} / {small}"  # "30 students and 6 teams. How many students per team?"
    if _EACH.search(statement) or _GROUPS.search(question) or _UNIT_STATEMENT.match(question):
        return f"{a} * {b}"  # "5 boxes of 12", "60 km per hour for 3 hours", "A ticket costs 12 euros. ... 5 tickets"
    gain, loss = bool(_GAIN.search(between + after)), bool(_LOSS.search(between + after))
    if _LEFT.search(after) and loss and not _GAIN.search(between):
        return f"{a} - {b}" if first.value >= second.value else None
    if gain and not loss:
        return f"{a} + {b}"
    if loss and not gain:
        return f"{a} - {b}" if first.value >= second.value else None
    return None
