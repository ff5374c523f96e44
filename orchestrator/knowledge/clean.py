"""Document text as a reader sees it: what the loaders keep, before any check or split.

* `clean_text`: every loaded section is `normalise`d (NFKC, no format or control characters), and HTML
  comments (`<!-- ... -->`, also in Markdown and plain text, where a renderer hides them), Markdown
  comments (`[//]: # (...)`) and Markdown link titles (a tooltip, `[x](url "title")`) are dropped.
* `hidden_elements`: the elements of an HTML page a browser would not show: `<script>`, `<style>`,
  `<template>`, `<noscript>`, `<svg>`, the `hidden` attribute, `aria-hidden="true"`, hidden inputs, and any
  element whose inline style or a rule of the page's `<style>` sheet (class, id or tag selectors) hides it
  (`HIDING_DECLARATION`: display:none, visibility:hidden, font-size 0 in any unit, opacity 0, a large
  negative text-indent or offset, clip / clip-path to nothing, zero height or width with overflow hidden,
  transparent text or text the colour of its background, scale(0)).
* `is_instruction_key`: a JSON key addressed to an AI ("instructions_for_ai", "assistantNote"): its value
  is not content.
* `evidence_text`: a chunk's text as the evidence ranker reads it: without its fenced code blocks unless
  the question is about code (`asks_about_code`), so a value planted in a code block is never the answer
  to a prose question. The code stays in the store and in what the prompt shows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from orchestrator.untrusted import fold, normalise

# Part of every chunk's splitter signature: a change here makes the next ingest re-read every file.
CLEANING = "clean1"

_HTML_COMMENT = re.compile(r"<!--.*?(-->|\Z)", re.DOTALL)
_MARKDOWN_COMMENT = re.compile(r"^[ \t]*\[//\]:[ \t]*#.*$", re.MULTILINE)
_LINK_TITLE = re.compile(r"(\]\([^)\s]*)[ \t]+(\"[^\"\n]*\"|'[^'\n]*'|\([^)\n]*\))[ \t]*\)")
_ZERO = r"-?(0+(\.0*)?|\.0+)(?![.\d])"  # 0, 0.0, .0, -0, with or without a unit after it
_OFF_SCREEN = r"-\s*\d{3,}(\.\d*)?\s*(px|pt|em|rem|vw|vh|%)?"
HIDING_DECLARATION = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*(hidden|collapse)"
    rf"|font-size\s*:\s*{_ZERO}|opacity\s*:\s*{_ZERO}(?!\s*[1-9])"
    rf"|text-indent\s*:\s*{_OFF_SCREEN}|(left|top|right|bottom|margin-left|margin-top)\s*:\s*{_OFF_SCREEN}"
    r"|clip\s*:\s*rect\(\s*0|clip-path\s*:\s*(inset\(\s*(50|100)\s*%|circle\(\s*0|polygon\(\s*0[^,]*\)\s*$)"
    r"|transform\s*:\s*scale\(\s*0(\.0*)?\s*[,)]|color\s*:\s*(transparent|rgba\([^)]*,\s*0(\.0*)?\s*\))",
    re.IGNORECASE,
)
_COLLAPSED = re.compile(rf"(^|[;\s])(max-)?(height|width)\s*:\s*{_ZERO}", re.IGNORECASE)
_OVERFLOW_HIDDEN = re.compile(r"overflow(-[xy])?\s*:\s*(hidden|clip)", re.IGNORECASE)
_COLOUR = re.compile(r"(?:^|[;\s])(background(?:-color)?|color)\s*:\s*([^;!]+)", re.IGNORECASE)
_STYLE_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
INVISIBLE_TAGS = ("script", "style", "noscript", "template", "svg")
_AI_KEY = re.compile(r"(^|_)(ai|assistants?|llms?|bots?|chatbots?|gpts?|prompts?|copilots?)(_|$)")
_CODE_WORDS = re.compile(
    r"`|\w\(\)|\b[a-z]+_[a-z_]+\b|\b(code|snippet|function|method|variable|command|script|syntax|api|endpoint"
    r"|parameter|argument|regex|sql|json|yaml|shell|terminal|cli|compiler|python|javascript|bash|programming)\b",
    re.IGNORECASE,
)
_CODE_FENCE = re.compile(r"^[ \t]*(```|~~~).*?(^[ \t]*\1[^\n]*$|\Z)", re.DOTALL | re.MULTILINE)


def clean_text(text: str) -> str:
    """A loaded section's text, normalised, without comments and link titles (module docstring)."""
    text = normalise(text)
    text = _HTML_COMMENT.sub("", text)
    text = _MARKDOWN_COMMENT.sub("", text)
    return _LINK_TITLE.sub(r"\1)", text)


def hides(style: str) -> bool:
    """True when CSS declarations hide what they style (HIDING_DECLARATION, collapsed box, colour on itself)."""
    style = " ".join(style.split())
    if HIDING_DECLARATION.search(style):
        return True
    if _COLLAPSED.search(style) and _OVERFLOW_HIDDEN.search(style):
        return True
    colours = {name.lower().split("-")[0]: value.strip().lower() for name, value in _COLOUR.findall(style)}
    return "color" in colours and colours["color"] == colours.get("background")


def hidden_elements(soup) -> list:
    """The elements of a BeautifulSoup page that a browser would not show (module docstring)."""
    found = list(soup(list(INVISIBLE_TAGS))) + soup.find_all(_is_hidden_element)
    for selector in _hiding_selectors(style.get_text() for style in soup("style")):
        try:
            found += soup.select(selector)
        except Exception:  # noqa: BLE001 - soupsieve rejects selectors it does not support; those are skipped
            continue
    return found


def is_instruction_key(key: str) -> bool:
    """True for a JSON key that addresses an AI ("instructions_for_ai", "assistantNote", "LLM-hint")."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", fold(normalise(key)))
    return bool(_AI_KEY.search(re.sub(r"[\W_]+", "_", snake).lower()))


def evidence_text(question: str, text: str) -> str:
    """The part of a chunk that may answer `question`: all of it for a question about code, else its prose."""
    return text if asks_about_code(question) else without_code_blocks(text)


def asks_about_code(question: str) -> bool:
    """True when a question names code (a function, a command, `backticks`, snake_case, "f()")."""
    return bool(_CODE_WORDS.search(question))


def without_code_blocks(text: str) -> str:
    """`text` without its fenced code blocks (``` or ~~~; an unclosed fence runs to the end)."""
    return _CODE_FENCE.sub("", text)


def _is_hidden_element(tag) -> bool:
    attributes = tag.attrs or {}
    if "hidden" in attributes or str(attributes.get("aria-hidden", "")).strip().lower() == "true":
        return True
    if tag.name == "input" and str(attributes.get("type", "")).lower() == "hidden":
        return True
    return hides(str(attributes.get("style", "")))


def _hiding_selectors(sheets: Iterable[str]) -> list[str]:
    selectors = []
    for sheet in sheets:
        sheet = _HTML_COMMENT.sub("", re.sub(r"/\*.*?\*/", "", sheet, flags=re.DOTALL))
        for selector_list, declarations in _STYLE_RULE.findall(sheet):
            if hides(declarations):
                selectors += [selector.strip() for selector in selector_list.split(",") if selector.strip()]
    return selectors
