"""Whether an answer equals a gold math answer, by SymPy: how `orchestrator eval` scores math.

The answer text is read as a set of values (solutions "x = 2 or x = 3", "a = b (exact: c)", the text
itself), each value goes through the math tool's allow-list parser, and the comparison runs in the
sandboxed SymPy worker (orchestrator/tools/math_worker.py: sets_equivalent).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from orchestrator.tools.math import DEFAULT_TIMEOUT_S, worker_request
from orchestrator.tools.math_worker import UnsafeExpressionError, check_expression

MAX_ANSWER_CHARS = 2000
_APPROX_RE = re.compile(r"\s*\((?:≈[^)]*|real solutions|numerical[^)]*)\)|\s*\(principal solutions.*\)$")
_EXACT_RE = re.compile(r"\(exact:\s*(?P<e>.+?)\)\s*$")
_SOLUTION_RE = re.compile(r"(?:^|\bor\b|,)\s*[a-zA-Z]\s*=\s*(?P<v>.+?)(?=\s+or\s+[a-zA-Z]\s*=|,\s*[a-zA-Z]\s*=|$)")


def _checked_or_none(text: str) -> str | None:
    try:
        return check_expression(text.strip().rstrip(".").strip())
    except UnsafeExpressionError:
        return None


def _candidate_sets(text: str) -> list[list[str]]:
    """Readings of an answer as a set of values: solutions 'x = 2 or x = 3', 'a = b (exact: c)', the text."""
    text = _APPROX_RE.sub("", text.strip()).rstrip(".").strip()
    text = re.sub(r"\s*\+\s*C$", "", text)
    candidates: list[list[str]] = []
    solutions = [m.group("v") for m in _SOLUTION_RE.finditer(text)]
    if solutions and re.match(r"^[a-zA-Z]\s*=", text):
        checked = [_checked_or_none(s) for s in solutions]
        if all(checked):
            candidates.append(checked)  # type: ignore[arg-type]
    exact = _EXACT_RE.search(text)
    if exact:
        candidates.append([exact.group("e")])
        text = text[: exact.start()].strip()
    for marker in (" simplifies to ", " expands to ", " factors as ", " = ", " is "):
        if marker in text:
            candidates.append([text.rsplit(marker, 1)[1]])
    candidates.append([text])
    checked_sets = []
    for candidate in candidates:
        checked = [_checked_or_none(value) for value in candidate]
        if all(checked) and checked not in checked_sets:
            checked_sets.append(checked)
    return checked_sets  # type: ignore[return-value]


def _gold_set(gold: str) -> list[str] | None:
    sets = _candidate_sets(gold)
    if sets:
        return sets[0]
    parts = [_checked_or_none(p) for p in re.split(r"\s+or\s+|\s+and\s+|[,;]", gold) if p.strip()]
    return parts if parts and all(parts) else None  # type: ignore[return-value]


def equivalent(answer_text: str, gold: str | Sequence[str], timeout_s: float = DEFAULT_TIMEOUT_S) -> bool:
    """Whether an answer matches a gold answer by SymPy equality (exact, symbolic or to 1e-9 relative).

    `gold` may be a list: the answer matches when it equals any one item, or when its solution set
    equals all of them ("x = 2 or x = 3" against ["2", "3"]).
    """
    golds_text = [gold] if isinstance(gold, str) else list(gold)
    gold_sets = [s for s in (_gold_set(g) for g in golds_text) if s]
    if len(golds_text) > 1 and len(gold_sets) == len(golds_text) and all(len(s) == 1 for s in gold_sets):
        gold_sets.append([s[0] for s in gold_sets])
    candidates = _candidate_sets(answer_text[:MAX_ANSWER_CHARS])
    if not gold_sets or not candidates:
        return False
    response = worker_request({"op": "equivalent", "candidates": candidates, "golds": gold_sets}, timeout_s)
    return bool(response and response.get("ok") and response.get("equal"))
