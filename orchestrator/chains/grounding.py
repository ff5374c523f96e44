"""Citations and the post-generation grounding check, shared by the docs and web routes.

The check is lexical: the share of an answer's content words that appear in the passage it rests
on. Small models often copy a span of the passage, so a supported answer scores near 1, while an
invented one ("The Martian Dunetree is a rare desert plant...") shares few words with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from orchestrator.text import STOPWORDS, split_sentences_in_line, stem, words

CITATION = re.compile(r"\[(\d{1,2})\]")
MAX_ANSWER_CHARS = 400


def content_words(text: str) -> set[str]:
    """Lowercased, lightly stemmed words minus function words; numbers keep their separators (2,249)."""
    return {stem(word) for word in words(text) if word not in STOPWORDS}


def support(answer: str, passage: str, question: str = "") -> float:
    """Share of what the answer adds to the question that the passage contains.

    Words the answer repeats from the question prove nothing, so they are left out; an answer that
    only restates the question adds nothing and scores 0.
    """
    words = content_words(CITATION.sub(" ", answer)) - content_words(question)
    if not words:
        return 0.0 if question else 1.0
    passage_words = content_words(passage)
    return len(words & passage_words) / len(words)


@dataclass
class Grounded:
    """An answer with valid citations and its support score."""

    text: str
    cited: list[int]  # 1-based passage numbers, in order of first citation
    support: float


def cite_and_check(answer: str, passages: Sequence[str], question: str = "") -> Grounded:
    """Keep valid [n] markers; if none, cite the best-supporting passage; score the support."""
    valid = []
    for match in CITATION.finditer(answer):
        number = int(match.group(1))
        if 1 <= number <= len(passages) and number not in valid:
            valid.append(number)
    text = CITATION.sub(lambda m: m.group(0) if int(m.group(1)) in valid else "", answer).strip()
    scores = [support(text, passage, question) for passage in passages]
    if not valid and passages:
        best = max(range(len(passages)), key=lambda i: scores[i])
        valid = [best + 1]
        text = f"{text.rstrip()} [{best + 1}]"
    combined = " ".join(passages[number - 1] for number in valid)
    return Grounded(text=text, cited=valid, support=support(text, combined, question) if passages else 0.0)


def concise(text: str, limit: int = MAX_ANSWER_CHARS) -> str:
    """Whole sentences up to `limit` characters (a small model sometimes pastes a whole passage)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    kept = ""
    for sentence in split_sentences_in_line(text):
        if len(kept) + len(sentence) + 1 > limit:
            break
        kept = f"{kept} {sentence}".strip()
    return kept or text[: limit - 1].rstrip() + "…"


def says_unknown(answer: str) -> bool:
    """Did the model itself say the passages do not contain the answer?"""
    lowered = answer.lower()
    return any(
        phrase in lowered
        for phrase in (
            "don't say",
            "do not say",
            "doesn't say",
            "does not say",
            "not mentioned",
            "no information",
            "not provided",
            "cannot find",
            "can't find",
            "not contain",
            "don't contain",
            "doesn't contain",
            "don't mention",
            "doesn't provide",
            "don't provide",
            "don't know",
            "do not know",
            "not specified",
            "doesn't specify",
            "does not specify",
            "doesn't mention",
            "does not mention",
            "not stated",
            "unclear",
            "not clear",
        )
    )
