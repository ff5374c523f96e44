"""Recognise a math request in natural phrasing: `detect_math(question)` -> a `MathProblem`, or None.

Rule-based and cheap (regular expressions plus the allow-list parser of `math_worker`, no SymPy, no
subprocess), so the router can call it on every question. Phrasing families it knows: bare expressions
("2^10", "12 × 7", "1,234 + 5"), operator words ("divided by", "mod", "squared"), imperatives ("Multiply
12 by 7"), named operations (percent of, roots, factorials, sums and averages of lists, logarithms),
percentage changes ("15% off 80"), comparisons ("Is 3/7 larger than 0.43?"), rounding requests,
equations, and calculus. `orchestrator.tools.math` evaluates what it returns.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.tools.math_worker import (
    FUNCTIONS,
    MAX_INPUT_CHARS,
    check_expression,
    expression_names,
)

MathKind = Literal[
    "arithmetic",
    "percent",
    "root",
    "factorial",
    "simplify",
    "expand",
    "factor",
    "solve",
    "system",
    "derivative",
    "integral",
    "limit",
    "evaluate",
    "compare",
]


class MathProblem(BaseModel):
    """A recognised math request, with its expressions in the checked Python-syntax subset."""

    model_config = ConfigDict(frozen=True)

    kind: MathKind
    expressions: list[str] = Field(description="Expressions; for solve/system each holds one '='.")
    variables: list[str] = Field(default_factory=list, description="Variables to solve for / differentiate by.")
    lower: str | None = Field(default=None, description="Lower bound of a definite integral.")
    upper: str | None = Field(default=None, description="Upper bound of a definite integral.")
    point: str | None = Field(default=None, description="Point a limit is taken at.")
    direction: Literal["+", "-", "+-"] | None = Field(default=None, description="Side of a one-sided limit.")
    order: int = Field(default=1, ge=1, le=10, description="Order of a derivative.")
    decimals: int | None = Field(default=None, ge=0, le=30, description="Round the decimal answer to this many places.")
    display: str = Field(default="", description="The expression as shown to the user.")
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    reason: str = Field(default="", description="Why this was read as math (for the router's log).")
    unit: str = Field(default="", description="Written after the value in the answer ('%').")
    relation: Literal["greater", "less", "equal", "larger", "smaller"] | None = Field(
        default=None, description="compare: what the question asks of expressions[0] and [1]."
    )


# ---------------------------------------------------------------------------------------------
# Detection: natural phrasing -> MathProblem
# ---------------------------------------------------------------------------------------------

_FLAGS = re.IGNORECASE
_LEAD_RE = re.compile(
    r"^(?:(?:please|kindly)\s+)?(?:(?:can|could|would|will)\s+you\s+(?:please\s+)?)?"
    r"(?:(?:tell|show)\s+me\s+)?"
    r"(?:(?:what|how\s+much)\s+(?:is|are|does|would\s+be)\s+|what['’]?s\s+|calculate\s+|compute\s+|"
    r"evaluate\s+|find\s+|work\s+out\s+|determine\s+|give\s+me\s+)?"
    r"(?:the\s+(?:value|result|answer)\s+(?:of|to)\s+)?",
    _FLAGS,
)
# "What do I get if I divide ...", "what happens when you multiply ...", "if I add ...": a calculation framed as a
# hypothetical; what follows is the calculation.
_IF_I_RE = re.compile(
    r"^(?:(?:so|ok(?:ay)?|and)[,\s]+)?(?:(?:what|how\s+much)\s+(?:do|would|will|did|should|could)\s+(?:i|you|we|one)\s+"
    r"(?:get|have|end\s+up\s+with)|what\s+happens|what['’]?s\s+the\s+(?:result|answer)|what\s+is\s+the\s+"
    r"(?:result|answer))\s+(?:(?:if|when)\s+(?:i|you|we|one)\s+(?:then\s+)?|for\s+|from\s+)",
    _FLAGS,
)
_VAR_LIST = r"[a-zA-Z](?:\s*(?:,|and)\s*[a-zA-Z])*"
_WRT_RE = re.compile(r"\s+(?:with\s+respect\s+to|wrt|w\.r\.t\.?|in\s+terms\s+of)\s+(?P<v>[a-zA-Z])\b", _FLAGS)
_TRAILING_D_RE = re.compile(r"(?:\s+|(?<=[\d)]))d(?P<v>[a-z])$")
_BOUNDS_RE = re.compile(r"\s+(?:from|between)\s+(?P<a>.+?)\s+(?:to|and)\s+(?P<b>.+?)$", _FLAGS)
_SOLVE_RE = re.compile(
    rf"^(?:solve(?:\s+for\s+(?P<v1>{_VAR_LIST})\s*[:,]?)?|(?:the\s+)?(?:roots?|solutions?|zeros?)\s+of)"
    r"\s+(?:the\s+)?(?:(?:system\s+(?:of\s+equations\s+)?|equations?\s*)[:]?\s*)?(?P<eqs>.+?)"
    rf"(?:\s+for\s+(?P<v2>{_VAR_LIST}))?$",
    _FLAGS,
)
_SOLVE_IF_RE = re.compile(r"^(?P<v1>[a-zA-Z])\s+(?:if|when|given|given\s+that|such\s+that)\s+(?P<eqs>.+)$", _FLAGS)
_DERIVATIVE_RE = re.compile(
    r"^(?:the\s+)?(?:(?P<ord>first|second|third|1st|2nd|3rd|\d+th)\s+)?derivative\s+of\s+(?P<rest>.+)$"
    r"|^differentiate\s+(?P<rest2>.+)$"
    r"|^d/d(?P<v>[a-z])\s*(?:of\s+)?(?P<rest3>.+)$",
    _FLAGS,
)
_INTEGRAL_RE = re.compile(
    r"^(?:the\s+)?(?:(?:definite|indefinite)\s+)?(?:integral|anti-?derivative|primitive)\s+of\s+(?P<rest>.+)$"
    r"|^integrate\s+(?P<rest2>.+)$|^∫\s*(?P<rest3>.+)$",
    _FLAGS,
)
_APPROACHES = r"(?:approaches|goes\s+to|tends\s+to(?:wards)?|->|→)"
_LIMIT_RE = re.compile(
    rf"^(?:the\s+)?limit\s+of\s+(?P<e>.+?)\s+as\s+(?P<v>[a-zA-Z])\s*{_APPROACHES}\s*(?P<p>.+?)"
    r"(?:\s+from\s+(?:the\s+)?(?P<d>left|right|above|below))?$"
    rf"|^(?:the\s+)?limit\s+as\s+(?P<v2>[a-zA-Z])\s*{_APPROACHES}\s*(?P<p2>\S+)"
    r"(?:\s+from\s+(?:the\s+)?(?P<d2>left|right|above|below))?\s+of\s+(?P<e2>.+)$"
    rf"|^lim_?\{{?\s*(?P<v3>[a-z])\s*(?:->|→)\s*(?P<p3>[^\s}}]+)\s*\}}?\s+(?P<e3>.+)$",
    _FLAGS,
)
_TRANSFORM_RE = re.compile(
    r"^(?P<k>simplify|expand|factor|factori[sz]e)\s*:?\s+(?P<e>.+)$"
    r"|^(?:the\s+)?(?:prime\s+factori[sz]ation|prime\s+factors)\s+of\s+(?P<e2>.+)$",
    _FLAGS,
)
_PERCENT_RE = re.compile(r"^(?P<p>\d+(?:\.\d+)?)\s*(?:%|percent|per\s+cent)\s+of\s+(?P<e>.+)$", _FLAGS)
_ROOT_RE = re.compile(
    r"^(?:the\s+)?(?P<n>square|cube|fourth|fifth|\d+(?:st|nd|rd|th))\s+root\s+of\s+(?P<e>.+)$", _FLAGS
)
_FACTORIAL_RE = re.compile(r"^(?P<e>\d+|\(.+\))\s+factorial$|^(?:the\s+)?factorial\s+of\s+(?P<e2>.+)$", _FLAGS)
_SUM_RE = re.compile(
    r"^(?:the\s+)?(?P<op>sum|product|difference|quotient)\s+(?:of|between)\s+(?P<a>.+?)\s+and\s+(?P<b>.+)$", _FLAGS
)
_WORD_OPERATORS = [
    (re.compile(r"\s+divided\s+by\s+", _FLAGS), " / "),
    (re.compile(r"\s+(?:times|multiplied\s+by)\s+", _FLAGS), " * "),
    (re.compile(r"\s+plus\s+", _FLAGS), " + "),
    (re.compile(r"\s+(?:minus|take\s+away)\s+", _FLAGS), " - "),
    (re.compile(r"\s+(?:mod|modulo)\s+", _FLAGS), " % "),
    (re.compile(r"\s+to\s+the\s+(\d+)(?:st|nd|rd|th)\s+power\b", _FLAGS), r" ** \1"),
    (re.compile(r"\s+(?:raised\s+)?to\s+the\s+power\s+(?:of\s+)?", _FLAGS), " ** "),
    (re.compile(r"\s+raised\s+to\s+", _FLAGS), " ** "),
    (re.compile(r"\s+squared\b", _FLAGS), " ** 2"),
    (re.compile(r"\s+cubed\b", _FLAGS), " ** 3"),
    (re.compile(r"(?<=\d)\s*[xX]\s*(?=\d)"), " * "),  # "5 x 3"
]
_THOUSANDS_RE = re.compile(r"\b\d{1,3}(?:,\d{3})+(?!\d|,\d)")  # "1,200, 300": a comma then a space separates
_CURRENCY_RE = re.compile(r"[€$£¥](?=\s?\d)|(?<=\d)\s?[€$£¥]")
_SCALE_WORDS = {"thousand": "10**3", "million": "10**6", "billion": "10**9", "trillion": "10**12"}
_SCALE_RE = re.compile(r"\b(?P<n>\d+(?:\.\d+)?)\s+(?P<w>thousand|million|billion|trillion)\b", _FLAGS)
_PLACES = r"(?P<n>\d+)\s+(?:decimal\s+places?|decimals|d\.?\s?p\.?|places?\s+after\s+the\s+(?:decimal\s+)?point)"
_NEAREST_WHOLE = r"(?P<whole>(?:the\s+)?nearest\s+(?:whole\s+number|integer|unit))"
_DECIMALS_SUFFIX_RE = re.compile(
    rf",?\s+(?:(?:rounded|correct|accurate)\s+)?to\s+(?:{_PLACES}|{_NEAREST_WHOLE})$", _FLAGS
)
_ROUND_RE = re.compile(rf"^round(?:\s+off)?\s+(?P<e>.+?)\s+to\s+(?:{_PLACES}|{_NEAREST_WHOLE})$", _FLAGS)
_NUMBER = r"\d+(?:\.\d+)?"
_THEN = r"\s*(?:,\s*|\s+and\s+|\s+then\s+|,\s*then\s+|\s+and\s+then\s+)(?:then\s+)?"
# Imperatives and everyday fractions: "Multiply 12 by 7", "Subtract 9 from 40", "half of 250".
_IMPERATIVES = [
    (re.compile(r"^multiply\s+(?P<a>.+?)\s+(?:by|and|with)\s+(?P<b>.+)$", _FLAGS), "{a} * {b}"),
    (re.compile(r"^divide\s+(?P<a>.+?)\s+by\s+(?P<b>.+)$", _FLAGS), "{a} / {b}"),
    (re.compile(r"^add\s+(?P<a>.+?)\s+(?:and|to|plus)\s+(?P<b>.+)$", _FLAGS), "{a} + {b}"),
    (re.compile(r"^subtract\s+(?P<a>.+?)\s+from\s+(?P<b>.+)$", _FLAGS), "{b} - {a}"),
    (re.compile(r"^(?:take\s+away|deduct)\s+(?P<a>.+?)\s+from\s+(?P<b>.+)$", _FLAGS), "{b} - {a}"),
    (re.compile(r"^take\s+(?P<a>.+?)\s+away\s+from\s+(?P<b>.+)$", _FLAGS), "{b} - {a}"),
    # "split 1,416 three ways", "divide 906 equally among 2", "share 90 between 3 people"
    (
        re.compile(
            rf"^(?:divide|split|share)\s+(?P<a>{_NUMBER})(?:\s+[a-z]+)?\s+(?:(?:equally|evenly)\s+)?"
            rf"(?:(?:among|between|by|into)\s+(?P<b>{_NUMBER})(?:\s+[a-z]+)?|(?P<c>{_NUMBER})\s+ways)$",
            _FLAGS,
        ),
        "{a} / {b}{c}",
    ),
    # "How much is 35,787 and 82,766?": two amounts together
    (re.compile(rf"^(?P<a>{_NUMBER})\s+and\s+(?P<b>{_NUMBER})(?:\s+together)?$", _FLAGS), "{a} + {b}"),
    # "Take 1,000 and subtract 87": the first amount, then an operation on it.
    (
        re.compile(
            rf"^(?:take|start\s+with)\s+(?P<a>.+?){_THEN}(?:subtract|take\s+away|deduct|minus)\s+(?P<b>.+)$", _FLAGS
        ),
        "{a} - {b}",
    ),
    (re.compile(rf"^(?:take|start\s+with)\s+(?P<a>.+?){_THEN}(?:add|plus)\s+(?P<b>.+)$", _FLAGS), "{a} + {b}"),
    (
        re.compile(
            rf"^(?:take|start\s+with)\s+(?P<a>.+?){_THEN}(?:multiply\s+(?:it\s+)?by|times)\s+(?P<b>.+)$", _FLAGS
        ),
        "{a} * {b}",
    ),
    (re.compile(rf"^(?:take|start\s+with)\s+(?P<a>.+?){_THEN}divide\s+(?:it\s+)?by\s+(?P<b>.+)$", _FLAGS), "{a} / {b}"),
    (re.compile(r"^(?:square)\s+(?P<a>.+)$", _FLAGS), "{a} ** 2"),
    (re.compile(r"^(?:cube)\s+(?P<a>.+)$", _FLAGS), "{a} ** 3"),
    (re.compile(r"^(?:one\s+|a\s+)?half\s+of\s+(?P<a>.+)$", _FLAGS), "{a} / 2"),
    (re.compile(r"^(?:one\s+|a\s+)third\s+of\s+(?P<a>.+)$", _FLAGS), "{a} / 3"),
    (re.compile(r"^(?:one\s+|a\s+)quarter\s+of\s+(?P<a>.+)$", _FLAGS), "{a} / 4"),
    (re.compile(r"^(?:double|twice)\s+(?P<a>.+)$", _FLAGS), "2 * {a}"),
    (re.compile(r"^(?:triple|thrice)\s+(?P<a>.+)$", _FLAGS), "3 * {a}"),
]
_WHAT_IS_RE = re.compile(r"^what\s+(?P<e>.+?)\s+(?:is|equals|makes|gives)$", _FLAGS)
_EXPLICIT_OPERATOR_RE = re.compile(
    r"[-+*/^%!×÷−²³√]|\b[a-z]+\s*\(|\b(?:" + "|".join(sorted(FUNCTIONS, key=len, reverse=True)) + r")\s+\w"
)
_ROOT_INDEX = {"square": "2", "cube": "3", "fourth": "4", "fifth": "5"}
_ORDER_WORDS = {"first": 1, "second": 2, "third": 3}
_LOOSE_SYMBOLS = frozenset("xyz")


def _words_to_symbols(text: str) -> str:
    for pattern, replacement in _WORD_OPERATORS:
        text = pattern.sub(replacement, text)
    return text.strip()


def _checked(text: str) -> str:
    """Word operators -> symbols, then the allow-list parser; raises UnsafeExpressionError."""
    return check_expression(_words_to_symbols(text.strip().rstrip(",;:")))


def _split_top_level(text: str) -> list[str]:
    """Split on commas, semicolons and ' and ' outside brackets (equations of a system)."""
    parts, depth, start, index = [], 0, 0, 0
    while index < len(text):
        char = text[index]
        depth += char == "("
        depth -= char == ")"
        separator = 0
        if depth == 0 and char in ",;":
            separator = 1
        elif depth == 0 and text[index : index + 5].lower() == " and ":
            separator = 5
        if separator:
            parts.append(text[start:index])
            start = index + separator
            index += separator
            continue
        index += 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _variables(text: str | None) -> list[str]:
    return re.findall(r"[a-zA-Z]", re.sub(r"\band\b", ",", text)) if text else []


# "Divide 144 by 12, what do I get?": the calculation, then a question about its result.
_TRAILING_ASK_RE = re.compile(
    r",?\s+(?:what\s+(?:do|would|will)\s+(?:i|you|we)\s+get|what['’]?s\s+the\s+(?:answer|result)|"
    r"what\s+is\s+the\s+(?:answer|result)|what\s+does\s+that\s+(?:make|give))$",
    _FLAGS,
)


def _strip_question(question: str) -> str:
    text = question.strip().replace("’", "'")
    text = re.sub(r"[?.]+$", "", text).strip()
    return _TRAILING_ASK_RE.sub("", text).strip()


def _problem(kind: MathKind, expressions: list[str], reason: str, confidence: float, **extra: Any) -> MathProblem:
    display = extra.pop("display", None) or ", ".join(expressions)
    return MathProblem(
        kind=kind, expressions=expressions, display=display, reason=reason, confidence=confidence, **extra
    )


def _detect_solve(body: str) -> MathProblem | None:
    match = _SOLVE_RE.match(body) or _SOLVE_IF_RE.match(body)
    if not match:
        return None
    groups = match.groupdict()
    variables = _variables(groups.get("v1") or groups.get("v2"))
    parts = _split_top_level(match.group("eqs"))
    if len(parts) > 1 and not all("=" in p for p in parts):
        return None
    equations = []
    for part in parts:
        left, equals, right = part.replace("==", "=").partition("=")
        if "=" in right:
            return None
        equations.append(f"{_checked(left)} = {_checked(right)}" if equals else f"{_checked(left)} = 0")
    kind: MathKind = "system" if len(equations) > 1 else "solve"
    return _problem(kind, equations, f"'{kind}' phrasing with {len(equations)} equation(s)", 0.95, variables=variables)


def _split_calculus_rest(rest: str) -> tuple[str, str | None, str | None, str | None]:
    """Pull 'with respect to v', 'from a to b' and a trailing 'dv' off an integrand/derivand."""
    variable = None
    lower = upper = None
    wrt = _WRT_RE.search(rest)
    if wrt:
        variable = wrt.group("v")
        rest = rest[: wrt.start()] + rest[wrt.end() :]
    bounds = _BOUNDS_RE.search(rest)
    if bounds:
        lower, upper = bounds.group("a"), bounds.group("b")
        rest = rest[: bounds.start()]
    trailing = _TRAILING_D_RE.search(rest.strip())
    if trailing:
        variable = variable or trailing.group("v")
        rest = rest.strip()[: trailing.start()]
    return rest.strip(), variable, lower, upper


def _detect_calculus(body: str) -> MathProblem | None:
    match = _DERIVATIVE_RE.match(body)
    if match:
        rest = match.group("rest") or match.group("rest2") or match.group("rest3")
        expression, variable, _, _ = _split_calculus_rest(rest)
        variable = variable or match.group("v")
        order_text = (match.group("ord") or "first").lower()
        order = _ORDER_WORDS.get(order_text) or int(re.sub(r"\D", "", order_text) or 1)
        return _problem(
            "derivative",
            [_checked(expression)],
            "'derivative' phrasing",
            0.95,
            variables=[variable] if variable else [],
            order=order,
        )
    match = _INTEGRAL_RE.match(body)
    if match:
        rest = match.group("rest") or match.group("rest2") or match.group("rest3")
        expression, variable, lower, upper = _split_calculus_rest(rest)
        extra: dict[str, Any] = {"variables": [variable] if variable else []}
        if lower is not None and upper is not None:
            extra.update(lower=_checked(lower), upper=_checked(upper))
        return _problem("integral", [_checked(expression)], "'integral' phrasing", 0.95, **extra)
    match = _LIMIT_RE.match(body)
    if match:
        groups = match.groupdict()
        expression = groups.get("e") or groups.get("e2") or groups["e3"]  # each alternative has one
        variable = groups.get("v") or groups.get("v2") or groups.get("v3")
        point = (groups.get("p") or groups.get("p2") or groups.get("p3") or "").strip()
        side = (groups.get("d") or groups.get("d2") or "").lower()
        direction: str = "+-"
        if point.endswith(("+", "-")) and len(point) > 1:
            direction, point = point[-1], point[:-1]
        if side:
            direction = "+" if side in ("right", "above") else "-"
        return _problem(
            "limit",
            [_checked(expression)],
            "'limit' phrasing",
            0.95,
            variables=[variable],
            point=_checked(point),
            direction=direction,
        )
    return None


def _detect_named_operation(body: str) -> MathProblem | None:
    """Percent, roots, factorials, simplify/expand/factor and 'sum of a and b' phrasings."""
    match = _TRANSFORM_RE.match(body)
    if match:
        word = (match.group("k") or "factor").lower()
        kind: MathKind = "simplify" if word == "simplify" else "expand" if word == "expand" else "factor"
        expression = _checked(match.group("e") or match.group("e2"))
        return _problem(kind, [expression], f"'{word}' phrasing", 0.95)
    match = _PERCENT_RE.match(body)
    if match:
        percent, of = match.group("p"), _checked(match.group("e"))
        return _problem(
            "percent", [f"{percent}/100*({of})"], "'percent of' phrasing", 0.95, display=f"{percent}% of {of}"
        )
    match = _ROOT_RE.match(body)
    if match:
        index = _ROOT_INDEX.get(match.group("n").lower()) or re.sub(r"\D", "", match.group("n"))
        radicand = _checked(match.group("e"))
        expression = f"sqrt({radicand})" if index == "2" else f"root({radicand}, {index})"
        return _problem("root", [expression], "'root of' phrasing", 0.95)
    match = _FACTORIAL_RE.match(body)
    if match:
        argument = _checked(match.group("e") or match.group("e2"))
        return _problem("factorial", [f"factorial({argument})"], "'factorial' phrasing", 0.95)
    match = _SUM_RE.match(body)
    if match:
        symbol = {"sum": "+", "product": "*", "difference": "-", "quotient": "/"}[match.group("op").lower()]
        left, right = (_bracketed(_checked(match.group(side))) for side in ("a", "b"))
        expression = f"{left} {symbol} {right}"
        python_text = check_expression(expression)
        return _problem(_classify_expression(python_text), [python_text], f"'{match.group('op')} of' phrasing", 0.9)
    return None


# Everyday phrasings (each tested by family in tests/unit/test_math_phrasing.py).
_PERCENT_WORD = r"\s*(?:%|percent|per\s*cent)"
_LIST_RE = re.compile(
    r"^(?:the\s+)?(?P<op>sum|total|product|average|mean|arithmetic\s+mean)\s+of\s+(?P<items>.+)$"
    r"|^(?P<verb>add\s+up|add\s+together|sum\s+up|total\s+up|multiply\s+together)\s+(?P<items2>.+)$",
    _FLAGS,
)
_LIST_SEPARATOR = re.compile(r"\s*,\s*(?:and\s+)?|\s+and\s+", _FLAGS)
# "15% off 80", "80 minus 15%", "80 increased by 15%", "reduce 80 by 15%": a change relative to the amount.
_PERCENT_OFF_RE = re.compile(rf"^(?P<p>{_NUMBER}){_PERCENT_WORD}\s+(?:off|discount\s+on)\s+(?P<e>.+)$", _FLAGS)
# "a 15% tip on 80", "20 percent tax on 45": the percentage of the amount.
_PERCENT_PART_RE = re.compile(
    rf"^(?:an?\s+)?(?P<p>{_NUMBER}){_PERCENT_WORD}\s+(?:tip|tax|vat|commission|service\s+charge|fee|deposit)"
    r"\s+(?:on|of|for)\s+(?:an?\s+|the\s+)?(?P<e>.+?)(?:\s+(?:bill|meal|check|total|purchase))?$",
    _FLAGS,
)
_PERCENT_CHANGE_RE = re.compile(
    rf"^(?P<e>.+?)\s*(?P<op>\+|-|−|\bplus|\bminus|\bless|\bincreased\s+by|\bdecreased\s+by|\breduced\s+by)"
    rf"\s*(?P<p>{_NUMBER}){_PERCENT_WORD}$",
    _FLAGS,
)
_PERCENT_VERB_RE = re.compile(
    rf"^(?P<op>increase|raise|decrease|reduce|lower|cut|discount)\s+(?P<e>.+?)\s+by\s+(?P<p>{_NUMBER}){_PERCENT_WORD}$",
    _FLAGS,
)
_GROWS = ("+", "plus", "increased", "increase", "raise")
# "What percent of 120 is 30?", "what percentage is 30 of 120", "30 as a percentage of 120", "3/4 as a percent".
_WHAT_PERCENT_RE = re.compile(
    r"^(?:what|which)\s+(?:percent(?:age)?|%)\s+(?:of\s+(?P<b1>.+?)\s+is\s+(?P<a1>.+)|is\s+(?P<a>.+?)\s+of\s+(?P<b>.+))$",
    _FLAGS,
)
_AS_PERCENT_RE = re.compile(
    r"^(?:express\s+|convert\s+|write\s+)?(?P<a>.+?)\s+(?:as|in|to)\s+(?:a\s+)?(?:percent(?:age)?|%)(?:\s+of\s+(?P<b>.+))?$",
    _FLAGS,
)
# A bare "log" is the common logarithm (base 10), as on a calculator; "ln" and "natural log" are base e.
_LOG_RE = re.compile(
    rf"^(?:the\s+)?(?:(?P<natural>natural\s+log(?:arithm)?|ln)|log(?:arithm)?(?:\s+(?:to\s+)?base\s+(?P<base>{_NUMBER}))?)"
    rf"\s+(?:of\s+)?(?P<e>.+?)(?:\s+(?:to\s+|in\s+)?base\s+(?P<base2>{_NUMBER}))?$",
    _FLAGS,
)
_MORE = r"greater|larger|bigger|more|higher"
_FEWER = r"less|smaller|lower|fewer"
_COMPARE_RES = [
    re.compile(rf"^is\s+(?P<a>.+?)\s+(?P<rel>{_MORE}|{_FEWER})\s+than\s+(?P<b>.+)$", _FLAGS),
    re.compile(r"^(?:is|are)\s+(?P<a>.+?)\s+(?P<rel>equal\s+to|the\s+same\s+as|equals?)\s+(?P<b>.+)$", _FLAGS),
    re.compile(
        rf"^(?:which|what)(?:\s+number)?\s+is\s+(?:the\s+)?(?P<rel>{_MORE}|{_FEWER}|largest|smallest|biggest)"
        r"(?:\s+number)?\s*[,:]?\s+(?P<a>.+?)\s+or\s+(?P<b>.+)$",
        _FLAGS,
    ),
]


def _numeric_operand(text: str) -> str:
    """A checked operand that holds no names ("3/7", "1,001"); raises ValueError for words ("the price")."""
    python_text = _checked(text)
    if expression_names(python_text):
        raise ValueError(f"{text!r} is not a number")
    return _bracketed(python_text)


def _detect_list_operation(body: str) -> MathProblem | None:
    """'the average of 3, 5 and 10', 'sum of 12, 15 and 30', 'the product of 2, 3, 4'."""
    match = _LIST_RE.match(body)
    if not match:
        return None
    listed = match.group("items") or match.group("items2")
    items = [_numeric_operand(item) for item in _LIST_SEPARATOR.split(listed) if item.strip()]
    verb = (match.group("verb") or "").lower()
    op = ("product" if verb.startswith("multiply") else "sum") if verb else match.group("op").lower()
    if len(items) < 2 or (len(items) == 2 and op in ("sum", "product") and not verb):
        return None  # two operands: "sum of a and b" (_detect_named_operation) shows them as a + b
    joined = (" * " if op == "product" else " + ").join(items)
    python_text = check_expression(joined if op in ("sum", "total", "product") else f"({joined}) / {len(items)}")
    shown = f"{'average' if 'mean' in op else op} of {', '.join(items)}"
    return _problem("arithmetic", [python_text], f"'{op} of' a list", 0.95, display=shown)


def _detect_percent_change(body: str) -> MathProblem | None:
    """'15% off 80', '80 plus 15%', '80 decreased by 15%', 'increase 80 by 15%', '100 - 37.5%'."""
    part = _PERCENT_PART_RE.match(body)
    if part:
        amount, percent = _numeric_operand(part.group("e")), part.group("p")
        python_text = check_expression(f"{percent}/100 * {amount}")
        return _problem("percent", [python_text], "'percent of' phrasing", 0.95, display=f"{percent}% of {amount}")
    match = _PERCENT_OFF_RE.match(body) or _PERCENT_CHANGE_RE.match(body) or _PERCENT_VERB_RE.match(body)
    if not match:
        return None
    amount, percent = _numeric_operand(match.group("e")), match.group("p")
    op = (match.groupdict().get("op") or "off").split()[0].lower()
    sign = "+" if op in _GROWS else "-"
    python_text = check_expression(f"{amount} * (1 {sign} {percent}/100)")
    shown = f"{amount} {sign} {percent}%"
    return _problem("percent", [python_text], "a percentage change", 0.95, display=shown)


def _detect_percentage_of(body: str) -> MathProblem | None:
    """'what percent of 120 is 30', '30 as a percentage of 120', '3/4 as a percentage'."""
    match = _WHAT_PERCENT_RE.match(body)
    if match:
        part, whole = match.group("a") or match.group("a1"), match.group("b") or match.group("b1")
    elif match := _AS_PERCENT_RE.match(body):
        part, whole = match.group("a"), match.group("b")
    else:
        return None
    part_text = _numeric_operand(part)
    whole_text = _numeric_operand(whole) if whole else None
    ratio = f"{part_text} / {whole_text}" if whole_text else part_text
    python_text = check_expression(f"100 * {ratio}")
    shown = f"{part.strip()} as a percentage of {whole.strip()}" if whole else f"{part.strip()} as a percentage"
    return _problem("percent", [python_text], "'as a percentage' phrasing", 0.95, display=shown, unit="%")


def _detect_logarithm(body: str) -> MathProblem | None:
    """'log of 1000' (base 10), 'log base 2 of 8', 'natural log of 20', 'ln 20', 'log of 8 to base 2'."""
    match = _LOG_RE.match(body)
    if not match:
        return None
    argument = _numeric_operand(match.group("e"))
    base = match.group("base") or match.group("base2")
    python_text = check_expression(
        f"log({argument})" if match.group("natural") and not base else f"log({argument}, {base or 10})"
    )
    return _problem("evaluate", [python_text], "'log' phrasing", 0.95)


def _detect_comparison(body: str) -> MathProblem | None:
    """'Is 1,001 greater than 999?', 'Is 0.5 equal to 1/2?', 'Which is larger, 3/7 or 0.43?'."""
    for pattern in _COMPARE_RES:
        match = pattern.match(body)
        if match:
            break
    else:
        return None
    left, right = _numeric_operand(match.group("a")), _numeric_operand(match.group("b"))
    word = match.group("rel").lower()
    asks_which = body.lower().startswith(("which", "what"))
    if word.startswith(("equal", "the same", "equals")):
        relation = "equal"
    elif re.fullmatch(_MORE + "|largest|biggest", word):
        relation = "larger" if asks_which else "greater"
    else:
        relation = "smaller" if asks_which else "less"
    return _problem("compare", [left, right], "a comparison of numbers", 0.95, relation=relation)


def _detect_everyday(body: str) -> MathProblem | None:
    """The everyday phrasing families above, in order: comparisons first (they hold two expressions)."""
    for detector in (
        _detect_comparison,
        _detect_list_operation,
        _detect_percent_change,
        _detect_percentage_of,
        _detect_logarithm,
    ):
        try:
            problem = detector(body)
        except ValueError:  # the shape matched but an operand is words ("Is the sea bigger than 3?")
            continue
        if problem is not None:
            return problem
    return None


def _detect_imperative(body: str) -> MathProblem | None:
    """'Multiply 12 by 7', 'Divide 100 by 8', 'Subtract 9 from 40', 'half of 250', 'double 21'."""
    for pattern, template in _IMPERATIVES:
        match = pattern.match(body)
        if match:
            given = {name: value for name, value in match.groupdict().items() if value is not None}
            operands = {name: _bracketed(_checked(value)) for name, value in given.items()}
            if any(expression_names(operand) for operand in operands.values()):
                return None  # "add salt to taste", "double the recipe": words, not numbers
            unused = dict.fromkeys(match.groupdict(), "")  # an alternative's group that did not take part
            python_text = check_expression(template.format(**{**unused, **operands}))
            return _problem(
                _classify_expression(python_text), [python_text], f"'{body.split()[0].lower()}' phrasing", 0.9
            )
    return None


def _normalise_numbers(body: str) -> str:
    """'1,764' -> '1764' (outside brackets, where a comma separates arguments); '1.5 million' -> '1.5*10**6'."""
    body = _CURRENCY_RE.sub("", body)  # "€564", "$1,200", "80€": the amount
    if "(" not in body:
        body = _THOUSANDS_RE.sub(lambda m: m.group().replace(",", ""), body)
    return _SCALE_RE.sub(lambda m: f"({m.group('n')}*{_SCALE_WORDS[m.group('w').lower()]})", body)


def _split_rounding(body: str) -> tuple[str, int | None]:
    """'22/7 to 3 decimal places' -> ('22/7', 3); 'round 2.5 to the nearest integer' -> ('2.5', 0)."""
    match = _ROUND_RE.match(body)
    if match:
        return match.group("e"), int(match.group("n")) if match.group("n") else 0
    match = _DECIMALS_SUFFIX_RE.search(body)
    if match:
        return body[: match.start()].strip(), int(match.group("n")) if match.group("n") else 0
    return body, None


def _looks_numeric(body: str) -> bool:
    """A bare number or number expression ('3.14159', '22/7'): with a rounding request it is math."""
    return bool(re.fullmatch(r"[\d\s.+\-*/()]+", body))


def _bracketed(python_text: str) -> str:
    return python_text if re.fullmatch(r"[\w.]+(?:\(.*\))?", python_text) else f"({python_text})"


def _classify_expression(python_text: str) -> MathKind:
    if "factorial(" in python_text:
        return "factorial"
    if re.search(r"\b(?:sqrt|cbrt|root)\(", python_text):
        return "root"
    if re.fullmatch(r"[\d\s.+\-*/%()]+", python_text):
        return "arithmetic"
    return "evaluate"


def _detect_expression(body: str, *, forced: bool) -> MathProblem | None:
    """A bare expression or equation ('2^10', 'What is 822 times 639?', 'x^2 = 4')."""
    words_converted = _words_to_symbols(body)
    if "(" not in words_converted:  # "1,000 + 2,000"; inside brackets a comma separates arguments
        words_converted = _THOUSANDS_RE.sub(lambda m: m.group().replace(",", ""), words_converted)
    if "=" in words_converted and words_converted.count("=") == 1:
        left, _, right = words_converted.partition("=")
        equation = f"{check_expression(left)} = {check_expression(right)}"
        if expression_names(check_expression(left)) | expression_names(check_expression(right)):
            return _problem("solve", [equation], "an equation with a variable", 0.8 if not forced else 1.0)
        return None
    python_text = check_expression(words_converted)
    has_operator = bool(_EXPLICIT_OPERATOR_RE.search(words_converted))
    names = expression_names(python_text)
    if not forced:
        if not has_operator:
            return None
        if names and (not names <= _LOOSE_SYMBOLS or re.match(r"(?:a|an|the)\s", body, _FLAGS)):
            return None
    kind = _classify_expression(python_text)
    reason = "'/math' prefix" if forced else "an arithmetic expression" if kind == "arithmetic" else "an expression"
    confidence = 1.0 if forced else 0.9 if not names else 0.6
    return _problem(kind, [python_text], reason, confidence)


def detect_math(question: str) -> MathProblem | None:
    """Recognise a math request; return the structured problem, or None for non-math questions.

    Cheap (regular expressions and the allow-list parser, no SymPy). A `/math` prefix forces math:
    then a problem is returned even when the expression is rejected, so `solve` can say why.
    """
    text = _strip_question(question)
    forced = bool(re.match(r"/math\b", text, _FLAGS))
    if forced:
        text = text[len("/math") :].strip()
    if not text or len(text) > MAX_INPUT_CHARS:
        if forced:  # solve() will reject it with the reason
            return _problem("evaluate", [text], "'/math' prefix (expression not checked)", 1.0)
        return None
    problem = _detect_text(text, forced=False)
    if problem is None and (respelled := _respelled(text)) != text:
        problem = _detect_text(respelled, forced=False)  # "twelve times 7", "mutliply 12 by 28"
    if problem is None and forced:
        problem = _detect_text(text, forced=True)
    if forced:
        if problem is None:
            return _problem("evaluate", [text], "'/math' prefix (expression not checked)", 1.0)
        return problem.model_copy(update={"confidence": 1.0, "reason": f"'/math' prefix; {problem.reason}"})
    return problem


def _detect_text(text: str, *, forced: bool) -> MathProblem | None:
    """detect_math on a question without its '/math' prefix."""
    text = _IF_I_RE.sub("", text)  # "what do I get if I divide 40 by 8" -> "divide 40 by 8"
    lead = _LEAD_RE.match(text)
    body = text[lead.end() :].strip() if lead else text
    what_is = _WHAT_IS_RE.match(body)  # "(tell me) what 17 * 23 is"
    if what_is:
        body = what_is.group("e")
    body, decimals = _split_rounding(_normalise_numbers(body))
    detectors: list[Callable[[str], MathProblem | None]] = [
        _detect_solve,
        _detect_calculus,
        _detect_everyday,
        _detect_named_operation,
        _detect_imperative,
        lambda b: _detect_expression(b, forced=forced or decimals is not None and _looks_numeric(b)),
    ]
    for detector in detectors:
        try:
            problem = detector(body)
        except ValueError:  # UnsafeExpressionError, or a field out of range ("0th derivative")
            continue
        if problem is not None:
            if decimals is not None:
                problem = problem.model_copy(update={"decimals": decimals})
            return problem
    return None


# Number words a calculation may be typed with ("twelve times 7"); "one" only beside an operator, since
# "which one" and "one of" are not numbers.
_NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
} | {"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80", "ninety": "90"}
_TENS_AND_UNITS_RE = re.compile(
    r"\b(twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)[\s-](one|two|three|four|five|six|seven|eight|nine)\b",
    _FLAGS,
)
# Not inside a name: "7-Eleven", "Catch-22" and a capitalised "Four Seasons" mid-sentence stay words.
_NUMBER_WORD_RE = re.compile(r"(?<![-\w])(" + "|".join(w for w in _NUMBER_WORDS if w != "one") + r")(?![-\w])", _FLAGS)
_ONE_BESIDE_OPERATOR_RE = re.compile(
    r"\bone(?=\s+(?:plus|minus|times|divided|multiplied|over|[-+*/x])\b)|(?:(?<=plus )|(?<=minus )|(?<=times )|(?<=by )|(?<=over ))one\b",
    _FLAGS,
)
# The words of a calculation; a word one typo away from one of them is read as it ("mutliply", "waht", "tims").
_MATH_VOCABULARY = (
    "what whats multiply multiplied divide divided subtract subtracted plus minus times percent average square root "
    "half double calculate compute take away from".split()
)


def _one_typo_apart(word: str, target: str) -> bool:
    """One insertion, deletion, substitution or swap of neighbours (Damerau-Levenshtein distance 1)."""
    if word == target or abs(len(word) - len(target)) > 1:
        return False
    if len(word) == len(target):
        diffs = [i for i, (a, b) in enumerate(zip(word, target)) if a != b]
        return len(diffs) == 1 or (
            len(diffs) == 2
            and diffs[1] == diffs[0] + 1
            and word[diffs[0]] == target[diffs[1]]
            and word[diffs[1]] == target[diffs[0]]
        )
    short, long_ = (word, target) if len(word) < len(target) else (target, word)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


def _respelled(text: str) -> str:
    """Number words as digits and one-typo operator words corrected: a second reading when the first finds no math."""
    text = _TENS_AND_UNITS_RE.sub(
        lambda m: str(int(_NUMBER_WORDS[m.group(1).lower()]) + int(_NUMBER_WORDS[m.group(2).lower()])), text
    )
    text = _NUMBER_WORD_RE.sub(
        lambda m: m.group(1) if m.start() and m.group(1)[0].isupper() else _NUMBER_WORDS[m.group(1).lower()], text
    )
    text = _ONE_BESIDE_OPERATOR_RE.sub("1", text)

    def fix(match: re.Match[str]) -> str:
        word = match.group(0)
        if len(word) < 4 or word.lower() in _MATH_VOCABULARY:
            return word
        for target in _MATH_VOCABULARY:
            if _one_typo_apart(word.lower(), target):
                return target
        return word

    return re.sub(r"[A-Za-z]+", fix, text)
