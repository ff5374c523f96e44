"""Values an answer states (amounts, times, durations, lengths, percentages, counts, dates, names), what kind a
question asks for, and the span of a sentence that answers it.

Two uses, both by construction rather than by phrase lists of past questions:

* The answer's type must fit the question (`asked_kinds`): a distance is a length, a duration a time, a cost
  money. Evidence without a value of the asked kind cannot answer ("20 minutes" never answers "how far").
* Every value an answer states must be in its evidence after normalising (`normalised_values`): 09:00 = 9:00 =
  9 am, $1,200 = 1200 dollars = 1,200.00. `unfaithful_values` lists the ones that are not.

`answer_span` picks, in an evidence sentence, the value that answers the question: the clause that shares the
most of the question's words ("..., and on Thursdays until 20:00" for a Thursday question), and in it the value
of the asked kind nearest to those words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from orchestrator.text import STOPWORDS, stem, words

_NUM = r"\d+(?:[.,]\d+)*"
_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_WEEKDAYS = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)s?"
_CURRENCY_WORDS = r"dollars?|euros?|pounds?|cents?|pence|usd|eur|gbp|yen|francs?|rupees?"
_LENGTH_UNITS = (
    r"km|kilomet(?:re|er)s?|m|met(?:re|er)s?|cm|centimet(?:re|er)s?|mm|millimet(?:re|er)s?|miles?|mi|"
    r"f(?:oo|ee)t|ft|inch(?:es)?|in|yards?|yd|nautical miles?"
)
_DURATION_UNITS = r"seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?|decades?|centuries"

MONEY = re.compile(
    rf"[$€£¥]\s?{_NUM}(?:\s?(?:million|billion|thousand|k))?|\b{_NUM}\s?(?:{_CURRENCY_WORDS})\b|\b(?:USD|EUR|GBP)\s?{_NUM}",
    re.IGNORECASE,
)
PERCENT = re.compile(rf"\b{_NUM}\s?(?:%|per\s?cent\b|percent\b)", re.IGNORECASE)
# "9.30" is a time only with am/pm after it; alone it is a number ("7.50 euros").
_CLOCK = (
    r"(?:\b(?:[01]?\d|2[0-3]):[0-5]\d\b(?:\s?[ap]\.?m\.?)?|\b(?:1[0-2]|0?[1-9])(?:\.[0-5]\d)?\s?[ap]\.?m\.?(?![a-z])"
    r"|\bnoon\b|\bmidnight\b)"
)
CLOCK = re.compile(_CLOCK, re.IGNORECASE)
# Opening hours are a range, and "until 20:00" is the answer to "when ... open on Thursdays": the range or
# the bounded time is one value.
TIME_OF_DAY = re.compile(
    rf"(?:\bfrom\s+)?{_CLOCK}\s*(?:-|–|to|until|till)\s*{_CLOCK}|\b(?:until|till|from|after|before|at)\s+{_CLOCK}|{_CLOCK}",
    re.IGNORECASE,
)
DURATION = re.compile(
    rf"\b(?:{_NUM}|an?|one|two|three|four|five|six|seven|eight|nine|ten|twelve)[\s-]?(?:{_DURATION_UNITS})\b",
    re.IGNORECASE,
)
LENGTH = re.compile(rf"\b{_NUM}[\s-]?(?:{_LENGTH_UNITS})\b", re.IGNORECASE)
DATE = re.compile(
    rf"\b(?:1\d{{3}}|20\d{{2}})s?\b|\b\d{{1,2}}\s(?:{_MONTHS})\b|\b(?:{_MONTHS})(?:\s\d{{1,2}})?\b|\b{_WEEKDAYS}\b",
)
COUNT = re.compile(
    rf"\b{_NUM}\b|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"(?:thir|four|fif|six|seven|eigh|nine)teen|(?:twen|thir|for|fif|six|seven|eigh|nine)ty|hundred|thousand|million|"
    r"billion|dozen)\b",
    re.IGNORECASE,
)
NAME = re.compile(r"\b[A-Z][\w'’-]+(?:\s+(?:[A-Z][\w'’-]+|of|de|van|von|the|and)){0,4}(?<=\w)")


@dataclass(frozen=True)
class Kind:
    """A kind of value an answer can state."""

    name: str
    pattern: re.Pattern


KINDS = {
    "money": Kind("money", MONEY),
    "percentage": Kind("percentage", PERCENT),
    "time": Kind("time", TIME_OF_DAY),
    "duration": Kind("duration", DURATION),
    "length": Kind("length", LENGTH),
    "date": Kind("date", DATE),
    "count": Kind("count", COUNT),
    "name": Kind("name", NAME),
}

_COST_WORDS = r"cost|costs|fee|fees|price|prices|priced|charge|charges|charged|pay|paid|spend|tariff|rent|salary|worth|owe|premium|fine"
# One ordered table: the first rule whose test matches a question gives the kinds an answer must be.
ASKED_KIND_RULES: list[tuple[str, re.Pattern, tuple[str, ...]]] = [
    (
        "percentage",
        re.compile(r"\bwhat (?:percentage|percent|share|proportion)\b|\bhow many percent\b", re.I),
        ("percentage",),
    ),
    ("distance", re.compile(r"\bhow far\b|\bdistance\b", re.I), ("length",)),
    (
        "length",
        re.compile(r"\bhow (?:tall|high|deep|wide|long is the|long are the)\b|\b(?:length|height|width|depth)\b", re.I),
        ("length", "duration"),
    ),
    (
        "duration",
        re.compile(r"\bhow long\b|\bhow many (?:days|weeks|months|years|hours|minutes|seconds)\b|\bduration\b", re.I),
        ("duration",),
    ),
    (
        "cost",
        re.compile(
            rf"\bhow much\b.*\b(?:{_COST_WORDS})\b|\b(?:{_COST_WORDS})\b.*\bhow much\b|\bwhat (?:is|are) the (?:\w+ ){{0,3}}(?:{_COST_WORDS})\b|\bwhat does .+ (?:charge|cost)\b",
            re.I,
        ),
        ("money",),
    ),
    (
        "time of day",
        re.compile(
            r"\bwhat time\b|\b(?:when|until when|how late|how early)\b.*\b(?:open|opens|close|closes|closed|start|starts|end|ends|depart|departs|leave|leaves|arrive|arrives)\b",
            re.I,
        ),
        ("time",),
    ),
    (
        "date",
        re.compile(r"^\s*(?:when|(?:in )?(?:what|which) year)\b|\bwhat (?:year|date|century|day)\b", re.I),
        ("date", "time"),
    ),
    # "How many users ...?" is answered by a count, never by the 25 of "25%" or the 12 of "$12".
    ("count", re.compile(r"\bhow many\b", re.I), ("count",)),
    (
        "quantity",
        re.compile(r"\bhow (?:much|old|often)\b|\bwhat (?:number|population)\b|\bpopulation\b", re.I),
        ("count", "money", "percentage", "duration", "length"),
    ),
    ("person", re.compile(r"^\s*who(?:m|se)?\b", re.I), ("name",)),
]


# A question about a price names what is priced: "monthly maintenance fee for willow senior checking" asks for
# money as much as "How much is ...?" does; "Which fee ...?" asks for the name of a fee.
ASKED_KIND_RULES.append(
    (
        "price named",
        re.compile(
            r"^(?!.*\bwhich (?:\w+ )?(?:fee|fees|charge|charges)\b).*\b(?:fee|fees|cost|costs|price|charge|charges|tariff|rent)\b",
            re.I,
        ),
        ("money",),
    )
)

EXPLANATION = re.compile(
    r"^\W*(why|how (do|does|did|can|could|should|would|will|is|are|was|were)\b(?! (much|many|far|long|old))|explain|describe|"
    r"what (happens|happened|should|can|could|would)\b|what is the (difference|reason|purpose)\b|in what way)",
    re.IGNORECASE,
)


def is_factoid(question: str) -> bool:
    """A question answered by a fact the documents state (who, when, where, how many, how much, which, what
    is X's Y), not by an explanation (why, how does / do / can, explain, describe, what happens)."""
    return not EXPLANATION.search(question)


def asked_kinds(question: str) -> tuple[Kind, ...]:
    """The kinds of value that can answer the question (any of them), or () when the question is not typed
    or asks for an explanation."""
    if not is_factoid(question):
        return ()
    for _name, test, kinds in ASKED_KIND_RULES:
        if test.search(question):
            return tuple(KINDS[kind] for kind in kinds)
    return ()


def fits(kinds: Sequence[Kind], text: str) -> bool:
    """Does the text hold a value of one of the kinds (always true for an untyped question)?"""
    return not kinds or any(kind.pattern.search(text) for kind in kinds)


# The order in which kinds claim a stretch of text: "25%" is a percentage and "$12" money before either is a count.
CLAIM_ORDER = ("money", "percentage", "time", "duration", "length", "date", "count", "name")


def found_values(kinds: Sequence[Kind], text: str) -> list[re.Match]:
    """The values of the kinds in the text, in order of position; a stretch of text is claimed by the most
    specific kind first (CLAIM_ORDER), so the 25 of "25%" is no count."""
    wanted = {kind.name for kind in kinds}
    taken: list[tuple[str, re.Match]] = []
    for name in CLAIM_ORDER:
        if name == "name" and "name" not in wanted:
            continue
        for match in KINDS[name].pattern.finditer(text):
            if not any(match.start() < other.end() and other.start() < match.end() for _, other in taken):
                taken.append((name, match))
    return sorted((match for name, match in taken if name in wanted), key=lambda match: match.start())


# --- the span that answers ---------------------------------------------------------------------------

CLAUSE_BOUNDARY = re.compile(
    r"\s*;\s*|,\s+(?=(?:and|but|or|while|whereas|except|apart from)\b)|\s+(?=(?:while|whereas)\b)"
)


def clauses(sentence: str) -> list[str]:
    """The clauses of a sentence: split at semicolons and at ", and / , but / , while ..." (Key: value pairs stay whole)."""
    return [sentence[start:end] for start, end in _clause_spans(sentence)]


def _clause_spans(sentence: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for boundary in CLAUSE_BOUNDARY.finditer(sentence):
        spans.append((start, boundary.start()))
        start = boundary.end()
    spans.append((start, len(sentence)))
    return [(a, b) for a, b in spans if sentence[a:b].strip()]


def _content_stems(text: str) -> set[str]:
    return {stem(word) for word in words(text) if word not in STOPWORDS}


def answer_span(question: str, sentence: str) -> str | None:
    """The value of the asked kind in the sentence that answers the question, or None (see `answer_span_at`)."""
    found = answer_span_at(question, sentence)
    return found[0] if found else None


def answer_span_at(question: str, sentence: str) -> tuple[str, int] | None:
    """The value of the asked kind in the sentence that answers the question, with its offset; or None.

    The clause sharing the most of the question's content words is searched first (a sentence listing
    weekday hours and "on Thursdays until 20:00" answers a Thursday question with 20:00, not 17:00); in
    the clause, a value of the first-listed kind, then the value nearest to a question word, wins. A "who"
    question is answered by a name the question does not contain. Untyped questions have no span.
    """
    kinds = asked_kinds(question)
    if not kinds:
        return None
    asked = _content_stems(question)
    asked_text = question.lower()
    spans = _clause_spans(sentence)
    # A coordinated clause inherits the first clause's subject ("The library is open ... to 17:00, and on
    # Thursdays until 20:00"): the first clause's words count for every clause, so the clause naming what
    # the question adds (Thursdays) wins.
    subject = _content_stems(sentence[spans[0][0] : spans[0][1]]) & asked if spans else set()
    best: tuple[int, int, float] | None = None
    found: tuple[str, int] | None = None
    for position, (start, end) in enumerate(spans):
        clause = sentence[start:end]
        shared = len((_content_stems(clause) & asked) | subject)
        for rank, match in _values_with_rank(kinds, clause):
            value = match.group(0).strip()
            if value.lower() in asked_text or _only_function_words(value):
                continue  # the question already gives it, or a capitalised "The" opening a sentence is no name
            key = (shared, -rank, -_distance_to_question_words(clause, match, asked) - 0.01 * position)
            if best is None or key > best:
                best, found = key, (value, start + match.start())
    return _asked_end_of_range(question, found) if found else None


def _only_function_words(value: str) -> bool:
    return not any(ch.isdigit() for ch in value) and all(word.lower() in STOPWORDS for word in value.split())


# A question about when something closes asks for the end of an opening-hours range, one about when it
# opens for the start: "Saturday: 08:00–20:00" answers "when does it close" with 20:00 alone. "When is
# it open" (open as a state, after a form of "be") asks for the whole range.
_RANGE_END_WORDS = frozenset(
    stem(word) for word in "close closes closing shut end ends finish until late latest".split()
)
_RANGE_START_WORDS = frozenset(stem(word) for word in "open opens opening start starts begin early earliest".split())
_STATE = frozenset("is are was were be".split())


def _asked_end_of_range(question: str, found: tuple[str, int]) -> tuple[str, int]:
    """The start or end clock of a time range when the question asks for that end only, else the value."""
    value, at = found
    clocks = list(CLOCK.finditer(value))
    question_words = words(question)
    asked = {stem(word) for word in question_words}
    wants_end, wants_start = bool(asked & _RANGE_END_WORDS), bool(asked & _RANGE_START_WORDS)
    if len(clocks) != 2 or wants_end == wants_start or _STATE & set(question_words):
        return found
    clock = clocks[1] if wants_end else clocks[0]
    return clock.group(0), at + clock.start()


def _values_with_rank(kinds: Sequence[Kind], text: str) -> list[tuple[int, re.Match]]:
    """Values of the kinds with the rank of their kind (0 = the kind the question most likely asks for)."""
    matches = found_values(kinds, text)
    ranked = []
    for match in matches:
        rank = next((i for i, kind in enumerate(kinds) if kind.pattern.fullmatch(match.group(0))), len(kinds))
        ranked.append((rank, match))
    return ranked


def _distance_to_question_words(clause: str, match: re.Match, asked: set[str]) -> float:
    """Words between the value and the nearest question word in the clause (a large number when none)."""
    tokens = [(m.start(), stem(m.group(0).lower())) for m in re.finditer(r"[^\W_]+", clause)]
    positions = [i for i, (_, token) in enumerate(tokens) if token in asked]
    if not positions:
        return 99.0
    start = next((i for i, (offset, _) in enumerate(tokens) if offset >= match.start()), len(tokens))
    end = next((i for i, (offset, _) in enumerate(tokens) if offset >= match.end()), len(tokens))
    return float(min(min(abs(p - start), abs(p - (end - 1))) for p in positions))


# --- faithfulness: values after normalising ------------------------------------------------------------

_NUMBER_IN = re.compile(r"\d+(?:[.,]\d+)*")


def _plain_number(text: str) -> str:
    """ "1,200.00" -> "1200", "7.50" -> "7.5", "09" -> "9": one spelling per number."""
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", text):
        text = text.replace(",", "")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.lstrip("0") or "0"


def _clock(match_text: str) -> str:
    """A time of day as H:MM on a 24-hour clock: "09:00", "9.00", "9 am" -> "9:00"; "8 pm" -> "20:00"."""
    text = match_text.lower().replace(".", ":").replace(" ", "")
    pm = "p" in text and "m" in text[text.index("p") :] if "p" in text else False
    digits = re.findall(r"\d+", text)
    hour = int(digits[0])
    minute = int(digits[1]) if len(digits) > 1 else 0
    if pm and hour < 12:
        hour += 12
    if ("a" in text and "am" in text.replace(":", "")) and hour == 12:
        hour = 0
    return f"{hour}:{minute:02d}"


def normalised_values(text: str) -> set[str]:
    """Every number, time and amount of the text in one spelling (09:00 = 9:00 = 9 am; $1,200 = 1200 dollars)."""
    values: set[str] = set()
    spans: list[tuple[int, int]] = []
    for match in CLOCK.finditer(text):
        if re.search(r"\d", match.group(0)):
            values.add("time " + _clock(match.group(0)))
            spans.append(match.span())
    for match in _NUMBER_IN.finditer(text):
        if any(start <= match.start() < end for start, end in spans):
            continue
        values.add(_plain_number(match.group(0)))
    return values


def proper_names(text: str, question: str = "") -> set[str]:
    """Capitalised words of the text that are not a sentence's first word, minus the question's words."""
    asked = {word.lower() for word in re.findall(r"[^\W_]+", question)}
    found = set()
    for sentence in re.split(r"(?<=[.!?:])\s+|\n", text):
        tokens = re.findall(r"[^\W\d_][\w'’-]*", sentence)
        for token in tokens[1:]:
            if token[0].isupper() and token.lower() not in STOPWORDS and token.lower() not in asked:
                found.add(token.lower())
    return found


def unfaithful_values(answer: str, evidence: str, question: str = "") -> list[str]:
    """The numbers, times, amounts and proper names the answer states that the evidence (or question) does not hold."""
    answer = re.sub(r"\[\d{1,2}\]", " ", answer)
    known = normalised_values(evidence) | normalised_values(question)
    missing = sorted(value for value in normalised_values(answer) - known)
    evidence_words = {word.lower() for word in re.findall(r"[^\W_]+", evidence)}
    missing += sorted(name for name in proper_names(answer, question) if name not in evidence_words)
    return missing
