"""Checks on a model's answer that word overlap misses: it must answer, not describe the passage or echo the prompt.

The grounding check (chains/grounding.py) measures how many of the answer's words the passage holds,
so "The document is about a study on teachers." or "The phrase is "DOCUMENTS_END"." can pass it while
saying nothing. These checks reject such answers; the docs route then quotes its evidence sentence
or refuses, as it does for any unsupported answer.
"""

from __future__ import annotations

import re
from typing import Sequence

from orchestrator.chains.grounding import CITATION, says_unknown

# The prompt's own words coming back: its fence markers, its instructions, its "Question:" line.
PROMPT_ECHO = re.compile(
    r"documents?[\W_]*(begin|end)\b|quoted data|not instructions|^\s*question\s*:|\n\s*question\s*:", re.IGNORECASE
)
# An answer whose subject is the passage itself, not the thing asked about: "The document is about X",
# "The text contains the answer to the question ...". "The document says 12 ...", "The answer to the
# question is 12" still answer, and "The document is dated 1893." holds a value: none is matched.
# A refusal ("does not contain the answer") is not matched either: says_unknown() handles it.
META_ANSWER = re.compile(
    r"^\W*(the|this|that)\s+(document|text|passage|excerpt|article|source)s?\s+(is|are|was)\s+(about|a|an|quoted)\b"
    r"|(?<!not )(?<!n't )\b(contains?|provides?|gives?|has|holds?)\s+(the|an)\s+answer\b|\banswers\s+(the|this|your)\s+question\b",
    re.IGNORECASE,
)


def echoes_prompt(answer: str) -> bool:
    """Does the answer repeat the prompt's markers or instructions instead of answering?"""
    return bool(PROMPT_ECHO.search(answer))


def describes_passage(answer: str) -> bool:
    """Is the answer about the passage ("The document is about ...") rather than an answer from it?"""
    return bool(META_ANSWER.search(answer)) and not says_unknown(answer)


def answer_problem(answer: str) -> str | None:
    """Why the answer is no answer at all, or None when it may be one (the grounding check then judges it).

    A third check was measured and dropped: a "when" / "how many" answer must hold a date / number
    from the passage. On dev it turned one accepted answer into a wrong quote, on val it changed
    nothing (one wrong answer became another wrong quote).
    """
    if echoes_prompt(answer):
        return "the answer repeats the prompt"
    if describes_passage(answer):
        return "the answer describes the passage instead of answering"
    return None


NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")


def unsupported_numbers(answer: str, sources: Sequence[str]) -> list[str]:
    """Numbers (years, figures, times) in the answer that none of the sources contains.

    The lexical grounding check counts words, so an answer in the sources' words with a figure the
    model made up ("the 2019-2023 Prime Minister") passes it; a figure must come from a source.
    """
    answer = CITATION.sub("", answer)
    known = {number for source in sources for number in NUMBER.findall(source)}
    return [number for number in NUMBER.findall(answer) if number not in known]
