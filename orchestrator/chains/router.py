"""Route a question to math, docs, web or chat: a few structural rules, then a classifier learned from examples.

A 135M model cannot pick tools (measured: forced to choose, it said "docs" or "math" for
everything). `decide()` walks RULES, an ordered table of (name, the kind of question it serves,
test, route); the first rule whose test holds names the route. `orchestrator routes` and
docs/architecture.md show the table (a test checks they agree). The rules are structural: an
explicit prefix, math the SymPy tool parses, an explicit time word, a question about the future,
the relevance score against the user's own documents. Everything about wording is learned: a
logistic regression over the app's embeddings of a labelled route set
(chains/route_classifier.py, data/route_examples.jsonl) reads a request as chat, factual, math or
web. A factual question goes to docs, which answers from the documents or refuses: so a made-up
thing, however it is asked, never gets a chat answer from the model's memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from orchestrator.tuning import TUNING, Tuning

ROUTES = ("math", "docs", "web", "chat")
PREFIX = re.compile(r"^\s*/(math|docs|web|chat)\b\s*", re.IGNORECASE)

# Words that say the answer changes over time, so model memory and static documents are stale.
TIME_CUES = [
    r"\bcurrent(ly)?\b",
    r"\blatest\b",
    r"\bnewest\b",
    r"\bmost recent\b",
    r"\brecent(ly)?\b",
    r"\btoday\b",
    r"\btonight\b",
    r"\bthis (year|month|week|season)\b",
    r"\bright now\b",
    r"\bnow\b",
    r"\bnext\b",
    r"\bupcoming\b",
    r"\bso far\b",
    r"\bto date\b",
    r"\bas of\b",
    r"\bstill\b",
    r"\breigning\b",
    r"\bthese days\b",
]
_TIME_CUE_RE = [re.compile(pattern, re.IGNORECASE) for pattern in TIME_CUES]
# In a question told in the past tense these point to a moment of the story, not to today: "What did
# the crew do next?", "Was the mill still working in 1900?", "Who was the current holder at the time?".
_RELATIVE_TO_THE_STORY = {"next", "still", "now", "current", "currently"}
_PAST_TENSE = re.compile(r"\b(was|were|did)\b", re.IGNORECASE)
# The future cannot be searched: "What will X be in 2050?" has no answer anywhere yet.
_FUTURE = re.compile(r"\bwill (be|win|happen|become)\b|\bin the future\b", re.IGNORECASE)
_YEAR = re.compile(r"\b(1[5-9]\d\d|20\d\d|21\d\d)\b")


@dataclass
class RouteDecision:
    """Where a question goes, and the evidence for it."""

    route: str
    reason: str
    scores: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"route": self.route, "reason": self.reason, "scores": self.scores}


def split_prefix(question: str) -> tuple[str | None, str]:
    """('/web who won?') -> ('web', 'who won?'); no prefix -> (None, question)."""
    match = PREFIX.match(question)
    if not match:
        return None, question
    return match.group(1).lower(), question[match.end() :].strip()


def time_cues(question: str, this_year: int | None = None) -> list[str]:
    """The time-sensitivity cues present in a question (a recent year counts; a future one does not)."""
    import datetime as dt

    this_year = this_year or dt.date.today().year
    found = []
    for pattern in _TIME_CUE_RE:
        if match := pattern.search(question):
            found.append(match.group(0).lower())
    if _PAST_TENSE.search(question):
        found = [cue for cue in found if cue not in _RELATIVE_TO_THE_STORY]
    found += [year for year in _YEAR.findall(question) if this_year - TUNING.recent_years <= int(year) <= this_year]
    return found


def is_about_future(question: str, this_year: int | None = None) -> bool:
    """Does the question ask about something that has not happened yet?"""
    import datetime as dt

    this_year = this_year or dt.date.today().year
    return bool(_FUTURE.search(question)) or any(int(y) > this_year for y in _YEAR.findall(question))


@dataclass
class Signals:
    """Everything the decision looks at, computed beforehand so that decide() is a pure function."""

    forced: str | None = None  # a route named by the caller or a /prefix
    math_reason: str | None = None
    docs_score: float | None = None  # best chunk relevance, None when there is no knowledge base
    time_cues: list[str] = field(default_factory=list)
    future: bool = False
    learned: dict[str, float] = field(default_factory=dict)  # the route classifier: class -> probability
    # The question names something (a capitalised name) and the user's documents mention every name it
    # gives: "Who is <a person the handbook names>?" is about the documents, however web-like it reads.
    names_documented: bool = False

    @classmethod
    def for_question(
        cls, question: str, docs_score: float | None, learned: dict[str, float], names_documented: bool = False
    ) -> "Signals":
        return cls(
            docs_score=docs_score,
            time_cues=time_cues(question),
            future=is_about_future(question),
            learned=learned,
            names_documented=names_documented,
        )

    @property
    def learned_class(self) -> str | None:
        """The classifier's most probable class (chat, factual, math or web), None without a classifier."""
        return max(self.learned, key=self.learned.__getitem__) if self.learned else None

    def reads_as(self, label: str, at_least: float = 0.0) -> bool:
        """Is `label` the classifier's most probable class, with at least this probability?"""
        return self.learned_class == label and self.learned[label] >= at_least


def documents_match(signals: Signals, threshold: float) -> bool:
    return signals.docs_score is not None and signals.docs_score >= threshold


def _time_words(signals: Signals, threshold: float) -> list[str]:
    """The time cues that count: a bare recent year only when no document matches (documents are often dated)."""
    if documents_match(signals, threshold):
        return [cue for cue in signals.time_cues if not cue.isdigit()]
    return signals.time_cues


@dataclass(frozen=True)
class Rule:
    """One row of the routing table: the kind of question it serves, its test, and where such a question goes."""

    name: str
    serves: str
    test: Callable[[Signals, float, Tuning], bool]
    route: str  # FORCED: the route the caller named


FORCED = "as asked"

RULES: tuple[Rule, ...] = (
    Rule(
        "explicit route",
        "a /math, /docs, /web or /chat prefix, or a route the caller forces",
        lambda s, threshold, t: s.forced is not None,
        FORCED,
    ),
    Rule(
        "math",
        "a calculation, equation, unit conversion or word problem the math tools read (no model)",
        lambda s, threshold, t: s.math_reason is not None,
        "math",
    ),
    Rule(
        "time word",
        "a question with an explicit time word (today, current, latest, this year, a recent year), "
        "whose answer changes; not small talk or a word problem ('how many are left now?')",
        lambda s, threshold, t: (
            bool(_time_words(s, threshold)) and not s.future and not s.reads_as("chat") and not s.reads_as("math")
        ),
        "web",
    ),
    Rule(
        "future",
        "a question about what has not happened yet, which no source can know: docs refuses it",
        lambda s, threshold, t: s.future and not s.reads_as("chat") and not documents_match(s, threshold),
        "docs",
    ),
    Rule(
        "changing fact",
        "a fact that changes over time (a price, who holds an office, a record, a running "
        "total), as the classifier reads it, unless the user's documents clearly cover it or name "
        "everything it names",
        lambda s, threshold, t: (
            s.reads_as("web")
            and (
                not documents_match(s, threshold)
                or (
                    s.reads_as("web", t.web_over_docs)
                    and (s.docs_score or 0.0) < max(threshold, t.strong_docs_match)
                    and not s.names_documented
                )
            )
        ),
        "web",
    ),
    Rule(
        "documents match",
        "a question the user's documents match (relevance >= the threshold), unless it is "
        "clearly small talk or a task on the user's own text",
        lambda s, threshold, t: documents_match(s, threshold) and not s.reads_as("chat", t.chat_over_docs),
        "docs",
    ),
    Rule(
        "word problem",
        "a calculation told in words, as the classifier reads it",
        lambda s, threshold, t: s.reads_as("math"),
        "math",
    ),
    Rule(
        "conversation",
        "small talk, creative writing, advice, or a task on text the user gave",
        lambda s, threshold, t: s.reads_as("chat"),
        "chat",
    ),
    Rule(
        "factual question",
        "anything else asks for a fact (a made-up thing too): docs answers from the "
        "documents or refuses, so nothing is answered from the model's memory",
        lambda s, threshold, t: True,
        "docs",
    ),
)


def decide(signals: Signals, docs_threshold: float, tuning: Tuning = TUNING) -> RouteDecision:
    """The route of the first rule in RULES whose test holds; `reason` names the rule and the signal."""
    scores: dict[str, Any] = {
        "docs_score": signals.docs_score,
        "time_cues": signals.time_cues,
        "future": signals.future,
        "learned": {k: round(v, 3) for k, v in signals.learned.items()},
    }
    rule = next(rule for rule in RULES if rule.test(signals, docs_threshold, tuning))
    route = signals.forced if rule.route == FORCED and signals.forced else rule.route
    scores["rule"] = rule.name
    return RouteDecision(route, f"{rule.name}: {_evidence(rule.name, signals, docs_threshold)}", scores)


def decided_without_documents(signals: Signals, threshold: float, tuning: Tuning = TUNING) -> RouteDecision | None:
    """The decision when no match against the user's documents could change its route, else None.

    The rules read the documents through `docs_score`, which they only compare with `threshold` and
    `tuning.strong_docs_match`, and through `names_documented`. So the route is decided at every score
    on either side of those two bounds (and with no knowledge base), each with and without a passage
    naming everything asked; when all agree, searching the documents cannot change it: "Hi", read as
    chat at 0.98, goes to chat whatever the library holds, and a cold start need not open it.
    """
    bound = max(threshold, tuning.strong_docs_match)
    scores = (None, 0.0, threshold, bound, 1.0)
    decisions = [
        decide(replace(signals, docs_score=score, names_documented=named), threshold, tuning)
        for score in scores
        for named in (False, True)
    ]
    if len({decision.route for decision in decisions}) != 1:
        return None
    decision = decide(replace(signals, docs_score=None, names_documented=False), threshold, tuning)
    decision.scores["documents_searched"] = False
    return decision


def _evidence(rule: str, signals: Signals, threshold: float) -> str:
    """The signal behind a rule's decision, in words for `route_reason` and /why."""
    label = signals.learned_class
    probability = signals.learned.get(label, 0.0) if label else 0.0
    if rule == "explicit route":
        return "chosen by the caller"
    if rule == "math":
        return str(signals.math_reason)
    if rule == "time word":
        return ", ".join(_time_words(signals, threshold))
    if rule == "future":
        return "no source can know it yet"
    if rule == "documents match":
        return f"knowledge base match {signals.docs_score:.2f} >= {threshold}"
    return f"the classifier reads it as {label} ({probability:.2f})" if label else "no classifier"


def routing_table() -> list[tuple[str, str, str]]:
    """(rule, the kind of question it serves, route) in the order decide() tries them."""
    return [(rule.name, rule.serves, rule.route) for rule in RULES]
