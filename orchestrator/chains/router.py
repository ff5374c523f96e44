"""Route a question to math, docs, web or chat from signals that work at any model size.

A 135M model cannot pick tools (measured: forced to choose, it said "docs" or "math" for
everything), so the decision rests on, in order:
1. an explicit prefix (/math, /docs, /web, /chat) or the caller's override;
2. a math expression or phrasing the SymPy tool recognises (rule-based, no LLM);
3. the knowledge base: a chunk whose relevance clears the threshold;
4. time-sensitivity cues ("current", "latest", "today", "this year", "most recent"...);
5. an embedding-similarity router over labelled examples in data/router_examples.jsonl
   (the semantic-router idea: nearest labelled examples by cosine similarity);
6. last, when those are weak: a wh-question goes to docs (which refuses what it can't support);
   anything else gets a grammar-constrained LLM choice.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

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
    r"\bexchange rate\b",
    r"\bstock price\b",
    r"\bworth more than\b",
    r"\bnet worth\b",
    r"\bweather\b",
    r"\bforecast\b",
]
_TIME_CUE_RE = [re.compile(pattern, re.IGNORECASE) for pattern in TIME_CUES]
# In a question told in the past tense these point to a moment of the story, not to today: "What did
# the crew do next?", "Was the mill still working in 1900?", "Who was the current holder at the time?".
_RELATIVE_TO_THE_STORY = {"next", "still", "now", "current", "currently"}
# Cues about the speaker's own life are not about the news ("How are you today?").
_PERSONAL = re.compile(r"\b(how are you|I|I'm|my|me)\b", re.IGNORECASE)
# The future cannot be searched: "What will X be in 2050?" has no answer anywhere yet.
_FUTURE = re.compile(r"\bwill (be|win|happen|become)\b|\bin the future\b", re.IGNORECASE)
# Information requests; a time word inside a task on the user's own text ("rephrase: ... next week")
# does not make it a question about the news.
_QUESTION_START = re.compile(
    r"^\s*(who|what|when|where|which|why|how|is|are|was|were|do|does|did|can|will|"
    r"tell me|give me|show me|find|search|look up|list)\b",
    re.IGNORECASE,
)
# Asks for a fact: when no signal is strong, such a question goes where an unsupported answer is
# refused (docs), not to chat, where a small model invents one ("What does the Brannock-Vell
# protocol regulate?").
_WH_QUESTION = re.compile(
    r"^\s*(who|what|when|where|which|whose|whom|how (many|much|long|old|far|big|tall|did|does|do|is|was|were|are))\b",
    re.IGNORECASE,
)
_YEAR = re.compile(r"\b(1[5-9]\d\d|20\d\d|21\d\d)\b")
# Phrasings of facts that change without a time word: a running total in the present perfect
# ("How many albums has she released?", the count grows) and a standing record or ranking in the
# present tense ("Who is the richest person?"), or a record of the whole world anywhere in the question
# ("Where was the tallest man alive born?", "the world's oldest ...").
# Unlike a recency word they yield to a strong knowledge-base match (STRONG_DOCS_MATCH): "How many
# titles have the club won?" may well be what the user's documents are about.
_RUNNING_TOTAL = re.compile(
    r"^\s*how (many|much)\b(?![^?]*\b(did|do|does)\b)[^?]*\b(has|have)\b(?!\s+to\b)[^?]*\b(\w+ed|\w+en|won|sold|made|built|had|held|bought|"
    r"taught|sung|run|done|seen|shot|got|earned|reached)\b",
    re.IGNORECASE,
)
_SUPERLATIVE = r"(\w+est|most\s+\w+|best[-\s]\w+|top|number one)"
_STANDING_RECORD = re.compile(
    rf"^\s*who\s+(is|are)\s+(the\s+)?(world'?s\s+)?{_SUPERLATIVE}\b"
    rf"|\bworld'?s\s+{_SUPERLATIVE}\b"
    rf"|\bthe\s+{_SUPERLATIVE}\s+(\w+\s+){{0,3}}?(in the world|on earth|alive|ever|of all time|on record|in history)\b",
    re.IGNORECASE,
)
# A record that is still being set, in the present perfect or present: "Who has won the most titles?",
# "Which club has the highest attendance?", "Who holds the record for ...?".
_RECORD_HOLDER = re.compile(
    rf"^\s*(who|which\s+\w+|what\s+\w+)\s+(has|have)\s+(\w+\s+)?the\s+{_SUPERLATIVE}\b"
    r"|^\s*(who|which\s+\w+|what\s+\w+)\s+(holds?|owns?)\s+the\s+(\w+\s+)?records?\b",
    re.IGNORECASE,
)
# Who holds an office now ("Who is the CEO of ...?", "Who are the co-chairs of ...?"): holders change, and
# a document naming one is dated; and a person's or thing's age ("How old is ...?"), which grows yearly.
_OFFICE = (
    r"(ceo|chief executive|president|vice[- ]president|prime minister|chancellor|premier|king|queen|monarch|"
    r"pope|mayor|governor|senator|chair(man|woman|person)?|co-chairs?|head coach|coach|manager|captain|"
    r"leader|owner|director|editor|secretary[- ]general|general secretary|speaker|ambassador)s?"
)
_OFFICE_HOLDER = re.compile(rf"^\s*who\s+(is|are)\s+(the\s+)?(\w+\s+)?{_OFFICE}\s+(of|at|for)\b", re.IGNORECASE)
_AGE = re.compile(r"^\s*how old (is|are)\b", re.IGNORECASE)
# The latest in a series, said with "last": "When did they last win?", "the last time", "last season".
_LAST_OF_SERIES = re.compile(
    r"\bwhen did\b[^?]*\blast\b|\b(the\s+)?last (time|year|month|week|season|election|edition|tournament)\b",
    re.IGNORECASE,
)
# Time elapsed since an event grows every day: "How long has it been since ...?", "How many years ago ...?".
_ELAPSED_TIME = re.compile(
    r"\bhow long (has it been|ago|since)\b|\bhow many (years|months|weeks|days|decades) (ago|has it been|have passed)\b",
    re.IGNORECASE,
)
# A price asked in the present tense ("What is the base price of ...?", "Is the average fuel price under
# $3?") is a market price. Only the word "price": fees are asked with "cost" ("How much does membership
# cost?"), and a user's documents often state them.
_PAST_TENSE_WORDS = r"\b(was|were|did|had)\b"
_PAST_TENSE = re.compile(_PAST_TENSE_WORDS, re.IGNORECASE)
_PRESENT_PRICE = re.compile(rf"^(?![^?]*{_PAST_TENSE_WORDS})\s*(what|how much|is|are)\b[^?]*\bprices?\b", re.IGNORECASE)
# A wh-question that asks for an opinion, a suggestion or about the assistant is conversation even
# though it asks "what": "What is a good name for a dog?", "What can you do?".
_OPINION_OR_ASSISTANT = re.compile(
    r"\b(you|your|yours|good|nice|fun|funny|favou?rite|recommend|suggest|should|idea|ideas|tips?|advice|"
    r"think|opinion|feel|like to|cool|best way)\b",
    re.IGNORECASE,
)
# A knowledge-base match at least this strong keeps such a question on the docs route. Dev docs
# questions matched at 0.31 or more, its changing-fact web question at 0.31: 0.5 leaves the
# documents every question they clearly cover.
STRONG_DOCS_MATCH = 0.5


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
    found += [year for year in _YEAR.findall(question) if this_year - 2 <= int(year) <= this_year]
    return found


_CHANGING_FACT_PHRASINGS = (
    ("running total", _RUNNING_TOTAL),
    ("standing record", _STANDING_RECORD),
    ("record holder", _RECORD_HOLDER),
    ("office holder", _OFFICE_HOLDER),
    ("age", _AGE),
    ("latest of a series", _LAST_OF_SERIES),
    ("time elapsed", _ELAPSED_TIME),
    ("price", _PRESENT_PRICE),
)


def changing_fact_cues(question: str) -> list[str]:
    """Phrasings that ask for a fact that changes over time without a time word (a running total, a record,
    who holds an office, an age, the last of a series, the time since an event, a price)."""
    return [name for name, pattern in _CHANGING_FACT_PHRASINGS if pattern.search(question)]


def asks_world_fact(question: str) -> bool:
    """A wh-question about the world (not the speaker, the assistant or an opinion), with something to look up."""
    from orchestrator.knowledge.retrieval import question_terms

    return (
        bool(_WH_QUESTION.match(question))
        and not is_personal(question)
        and not _OPINION_OR_ASSISTANT.search(question)
        and len(question_terms(question)) >= 2
    )


def is_personal(question: str) -> bool:
    """Is the question about the speaker or the assistant rather than the world?"""
    return bool(_PERSONAL.search(question))


def is_about_future(question: str, this_year: int | None = None) -> bool:
    """Does the question ask about something that has not happened yet?"""
    import datetime as dt

    this_year = this_year or dt.date.today().year
    return bool(_FUTURE.search(question)) or any(int(y) > this_year for y in _YEAR.findall(question))


@dataclass
class Signals:
    """Everything the decision looks at, computed beforehand so that decide() is a pure function."""

    math_reason: str | None = None
    docs_score: float | None = None  # best chunk relevance, None when there is no knowledge base
    time_cues: list[str] = field(default_factory=list)
    semantic: dict[str, float] = field(default_factory=dict)  # label -> similarity
    personal: bool = False
    future: bool = False
    is_question: bool = True
    asks_for_fact: bool = False  # a wh-question ("Who...", "What...", "How many...")
    changing_fact: list[str] = field(default_factory=list)  # see changing_fact_cues()
    world_fact: bool = False  # see asks_world_fact(): never answered by chat from the model's memory

    @classmethod
    def for_question(cls, question: str, docs_score: float | None, semantic: dict[str, float]) -> "Signals":
        return cls(
            docs_score=docs_score,
            time_cues=time_cues(question),
            semantic=semantic,
            personal=is_personal(question),
            future=is_about_future(question),
            is_question=question.rstrip().endswith("?") or bool(_QUESTION_START.match(question)),
            asks_for_fact=bool(_WH_QUESTION.match(question)),
            changing_fact=changing_fact_cues(question),
            world_fact=asks_world_fact(question),
        )


def semantic_best(semantic: dict[str, float]) -> tuple[str | None, float, float]:
    """(best label, its score, margin over the runner-up)."""
    if not semantic:
        return None, 0.0, 0.0
    ranked = sorted(semantic.items(), key=lambda item: item[1], reverse=True)
    runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
    return ranked[0][0], ranked[0][1], ranked[0][1] - runner_up


def decide(signals: Signals, docs_threshold: float, weak_semantic: float = 0.3) -> RouteDecision:
    """Combine the signals into a route; `reason` says which signal decided."""
    scores = {
        "docs_score": signals.docs_score,
        "time_cues": signals.time_cues,
        "future": signals.future,
        "semantic": {k: round(v, 3) for k, v in signals.semantic.items()},
    }
    if signals.math_reason:
        return RouteDecision("math", f"math: {signals.math_reason}", scores)
    label, best, margin = semantic_best(signals.semantic)
    has_docs = signals.docs_score is not None and signals.docs_score >= docs_threshold
    # Recency words beat any document match: "the most recent Super Bowl" must not be answered from
    # an article about an older one (use /docs to ask the documents anyway). A bare recent year does
    # not: the user's documents may well be dated (release notes, reports).
    recency_words = [cue for cue in signals.time_cues if not cue.isdigit()]
    cues = recency_words if has_docs else signals.time_cues
    conversational = label == "chat" and margin > 0.05
    small_talk_or_task = conversational and (signals.personal or not signals.is_question)
    if cues and signals.is_question and not signals.future and not small_talk_or_task:
        return RouteDecision("web", f"time-sensitive wording: {', '.join(cues)}", scores)
    strong_docs = signals.docs_score is not None and signals.docs_score >= max(docs_threshold, STRONG_DOCS_MATCH)
    if signals.changing_fact and not strong_docs and not signals.future and not small_talk_or_task:
        return RouteDecision(
            "web", f"asks for a fact that changes over time: {', '.join(signals.changing_fact)}", scores
        )
    if signals.future and not conversational and not has_docs:
        return RouteDecision("docs", "asks about the future, which no source can know yet", scores)
    # A question the documents match goes to them even if it sounds chatty; requests to write,
    # translate or chat ("Tell me a joke") are not questions about the documents.
    if has_docs and (not conversational or (signals.is_question and not signals.personal)):
        return RouteDecision("docs", f"knowledge base match {signals.docs_score:.2f} >= {docs_threshold}", scores)
    if label == "math" and margin > 0.05:
        return RouteDecision("math", f"looks like a word problem (similarity {best:.2f})", scores)
    if label == "web" and margin >= 0.05 and not signals.future:
        return RouteDecision("web", f"like questions about changing facts (similarity {best:.2f})", scores)
    if label == "chat" and signals.world_fact:
        # Chat would answer from the model's memory, and a small model invents facts; the docs route
        # answers from the documents or refuses.
        return RouteDecision(
            "docs",
            f"a factual question, though it reads like conversation (similarity {best:.2f}); "
            "checked the knowledge base",
            scores,
        )
    if label == "chat" and best >= weak_semantic:
        return RouteDecision("chat", f"conversational or creative request (similarity {best:.2f})", scores)
    if label is None or best < 0.2 or margin < 0.02:
        if signals.asks_for_fact and not signals.personal and not conversational:
            return RouteDecision("docs", "a factual question with no strong signal; checked the knowledge base", scores)
        return RouteDecision("undecided", "no signal is strong enough", scores)
    if label == "web" and not signals.future:
        return RouteDecision("web", f"closest to questions about changing facts (similarity {best:.2f})", scores)
    if label == "chat":
        return RouteDecision("chat", f"closest to conversational requests (similarity {best:.2f})", scores)
    # A factual question that the documents do not cover: the docs route, which will refuse.
    return RouteDecision("docs", f"factual question (similarity {best:.2f}); checked the knowledge base", scores)


@dataclass
class Example:
    label: str
    text: str


def load_examples(path: Path) -> list[Example]:
    """Labelled example questions, one JSON object per line: {"label", "text"}."""
    examples = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        examples.append(Example(row["label"], row["text"]))
    return examples


class SemanticRouter:
    """Nearest labelled examples by embedding cosine; a label's score is its mean top-3 similarity."""

    def __init__(
        self,
        examples: Sequence[Example],
        embed: Callable[[list[str]], list[list[float]]],
        cache_dir: Path | None = None,
        model_key: str = "",
    ):
        import numpy as np

        self.labels = [example.label for example in examples]
        self._embed = embed
        self._vectors = _unit_rows(self._example_vectors(examples, cache_dir, model_key))
        self._np = np

    def _example_vectors(self, examples: Sequence[Example], cache_dir: Path | None, model_key: str):
        import numpy as np

        texts = [example.text for example in examples]
        digest = hashlib.sha256(json.dumps([model_key, texts]).encode()).hexdigest()[:16]
        cache_file = cache_dir / f"router-{digest}.npy" if cache_dir else None
        if cache_file is not None and cache_file.is_file():
            try:
                cached = np.load(cache_file)
                if cached.ndim == 2 and cached.shape[0] == len(texts):
                    return cached
            except (OSError, ValueError, EOFError):
                pass  # a damaged or empty cache only costs re-embedding
        vectors = np.asarray(self._embed(texts), dtype=np.float32)
        if cache_file is not None:
            from orchestrator.files import atomic_output

            try:
                with atomic_output(cache_file) as partial, open(partial, "wb") as handle:
                    np.save(handle, vectors)
            except OSError:
                pass  # a read-only or full data dir only costs re-embedding next time (and leaves no partial file)
        return vectors

    def scores(self, question_vector: Sequence[float], top: int = 3) -> dict[str, float]:
        np = self._np
        # Cosine, not a bare dot product: embeddings passed to build_app need not be normalised.
        similarities = self._vectors @ _unit_rows(np.asarray(question_vector, dtype=np.float32)[None, :])[0]
        result = {}
        for label in sorted(set(self.labels)):
            values = np.sort(similarities[[i for i, lab in enumerate(self.labels) if lab == label]])[::-1]
            result[label] = float(values[:top].mean())
        return result


def _unit_rows(vectors):
    """Each row scaled to length 1 (zero rows stay zero)."""
    import numpy as np

    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)
