"""The chat route: a system prompt, the conversation so far (trimmed to fit), and the question.

The chat route answers in its own voice only. A small model copies the form of the turns it is shown,
so earlier turns reach it in the chat route's form (`chat_history`: another route's refusal is left
out, its citations and quote label removed), and its own answer is checked for the other routes' forms
as it streams (`without_route_forms`).
"""

from __future__ import annotations

import re
from typing import Callable, Iterable, Iterator, Sequence

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from orchestrator.chains.route_texts import QUOTE_LABEL, refusal_openings
from orchestrator.errors import ConfigError

CITATION = re.compile(r"[ \t]*\[\d{1,3}\]")
CITATION_IN_PROGRESS = re.compile(r"[ \t]*\[\d{0,3}$")
SEARCHED_NOTE = re.compile(r"\s*\(searched \d{4}-\d{2}-\d{2}\)")
LABEL = re.compile(re.escape(QUOTE_LABEL) + r"\s*", re.IGNORECASE)
QUOTED_SENTENCE = re.compile(re.escape(QUOTE_LABEL) + r'\s*"(.*)"\s*(\[\d+\])?\s*$', re.DOTALL)
SENTENCE_END = re.compile(r"[.!?][\"'\u201d\u2019)]*(?=\s)|\n")
ENDS_SENTENCE = re.compile(r"(?:[.!?][\"'\u201d\u2019)]*|\n)\s*$")
REMOVED_NOTE = (
    "(The model's reply imitated another route's answer and was left out. Ask again, or use /docs or /web "
    "to search your documents or the web.)"
)

# Tokens the chat template adds around each message (role markers); a safe overestimate for ChatML.
TEMPLATE_OVERHEAD_PER_MESSAGE = 8


def trim_history(
    history: Sequence[BaseMessage], budget_tokens: int, count_tokens: Callable[[str], int]
) -> list[BaseMessage]:
    """Keep the newest turns whose tokens fit in budget_tokens; drop oldest first, whole turns."""
    kept: list[BaseMessage] = []
    used = 0
    for message in reversed(history):
        cost = count_tokens(str(message.content)) + TEMPLATE_OVERHEAD_PER_MESSAGE
        if used + cost > budget_tokens:
            break
        kept.append(message)
        used += cost
    kept.reverse()
    while kept and not isinstance(kept[0], HumanMessage):  # never start mid-turn
        kept.pop(0)
    return kept


def chat_messages(
    system_prompt: str,
    history: Sequence[BaseMessage],
    question: str,
    n_ctx: int,
    max_tokens: int,
    count_tokens: Callable[[str], int],
) -> list[BaseMessage]:
    """The messages for one chat turn, with history trimmed so prompt + answer fit in n_ctx."""
    fixed = count_tokens(system_prompt) + count_tokens(question) + 3 * TEMPLATE_OVERHEAD_PER_MESSAGE
    budget = n_ctx - max_tokens - fixed
    if budget < 0:
        raise ConfigError(
            f"The question needs about {fixed} tokens plus {max_tokens} for the answer, more than the "
            f"{n_ctx}-token context. Shorten it, lower ORCH_MAX_TOKENS, or raise ORCH_N_CTX."
        )
    shown = chat_history(history)
    return [SystemMessage(system_prompt), *trim_history(shown, budget, count_tokens), HumanMessage(question)]


def remember_turn(
    history: list[BaseMessage], question: str, answer: str, route: str | None = None, abstained: bool = False
) -> None:
    """Append one finished turn to the conversation (as it was answered; `chat_history` decides what the model
    sees); the answer keeps its route for the next follow-up (chains/followup.py)."""
    metadata = {"route": route, "abstained": abstained} if route else {}
    history.extend([HumanMessage(question), AIMessage(answer, response_metadata=metadata)])


def _normal(text: str) -> str:
    return " ".join(text.replace("\u2019", "'").split()).lower()


def is_route_refusal(text: str) -> bool:
    """Does the text open with one of the docs or web routes' refusals (chains/route_texts.py)?"""
    normal = _normal(text)
    return any(normal.startswith(opening) for opening in refusal_openings())


def chat_form(answer: str) -> str | None:
    """An answer as the chat route would have said it: None for a refusal, else without quote label and citations."""
    if is_route_refusal(answer):
        return None
    quoted = QUOTED_SENTENCE.match(answer.strip())
    if quoted:
        answer = quoted.group(1)
    return SEARCHED_NOTE.sub("", CITATION.sub("", LABEL.sub("", answer))).strip() or None


def chat_history(history: Sequence[BaseMessage]) -> list[BaseMessage]:
    """The conversation as the chat route shows it to the model: earlier turns in the chat route's form.

    Every answer, whichever route gave it (and history passed through the API, whose routes are unknown),
    goes through `chat_form`; a refusal is left out with its question.
    """
    shown: list[BaseMessage] = []
    for message in history:
        if not isinstance(message, AIMessage):
            shown.append(message)
            continue
        text = chat_form(str(message.content))
        if text is None:
            if shown and isinstance(shown[-1], HumanMessage):
                shown.pop()  # the question it refused goes too: an unanswered turn teaches only the refusal
            continue
        shown.append(AIMessage(text))
    return shown


def without_route_forms(pieces: Iterable[str]) -> Iterator[str]:
    """The chat model's streamed text without the other routes' forms: citations like [1], the documents'
    quote label, and a sentence that opens like a docs or web refusal.

    Text that may still become one of these is held back until it is clear (a sentence's first words,
    an open bracket), so what streams out is what the answer keeps. When nothing is left, a note says so.
    """
    pending, released, shown = "", "", ""
    at_sentence_start, removed = True, False
    for piece in pieces:
        pending += piece
        hold, at_sentence_start_after = _held_from(pending, at_sentence_start)
        ready, pending = pending[:hold], pending[hold:]
        if not ready:
            continue
        clean = _joined(shown, _strip_forms(ready, at_sentence_start))
        removed = removed or len(clean) < len(ready)
        released = (released + ready)[-16:]
        at_sentence_start = at_sentence_start_after or _ends_sentence(_without_marks(released))
        if clean:
            shown = (shown + clean)[-16:]
            yield clean
    clean = _joined(shown, _strip_forms(pending, at_sentence_start))
    removed = removed or len(clean) < len(pending)
    if clean:
        shown += clean
        yield clean
    if removed and not shown.strip():
        yield REMOVED_NOTE


def _joined(shown: str, clean: str) -> str:
    """`clean` without the spaces a removed form leaves twice (or at the answer's start)."""
    return clean.lstrip(" \t") if not shown or shown[-1] in " \t" else clean


def _without_marks(text: str) -> str:
    return CITATION.sub("", LABEL.sub("", text))


def _sentence_start(text: str) -> int:
    starts = [match.end() for match in SENTENCE_END.finditer(text)]
    return starts[-1] if starts else 0


def _ends_sentence(text: str) -> bool:
    """Does text released so far end a sentence (so the next text starts one)?"""
    return ENDS_SENTENCE.search(text) is not None


def _held_from(text: str, at_sentence_start: bool) -> tuple[int, bool]:
    """Where the text that may still become a route form starts (len(text) when none may), and whether
    that is a sentence's start. `at_sentence_start`: does `text` begin a sentence?"""
    hold, at_start = len(text), False
    citation = CITATION_IN_PROGRESS.search(text)
    if citation:
        hold = citation.start()
    start = _sentence_start(text)
    if start == 0 and not at_sentence_start:
        return hold, False  # the rest of a sentence already shown: no form starts there
    raw_tail = _normal(text[start:])
    tail = _normal(_without_marks(text[start:]))
    forms = [*refusal_openings(), QUOTE_LABEL.lower()]
    held = (raw_tail and not tail) or (tail and any(form.startswith(tail) or tail.startswith(form) for form in forms))
    if held and start <= hold:  # a form is under way, or one just ended: see what follows
        hold, at_start = start, True
    return hold, at_start


def _strip_forms(text: str, at_sentence_start: bool) -> str:
    """Remove finished route forms: the quote label, citations, and sentences that open like a refusal.

    The first sentence is checked only when `text` begins a sentence (else it is the rest of one).
    """
    text = _without_marks(text)
    sentences, start = [], 0
    for match in SENTENCE_END.finditer(text):
        sentences.append(text[start : match.end()])
        start = match.end()
    sentences.append(text[start:])
    return "".join(
        sentence
        for index, sentence in enumerate(sentences)
        if (index == 0 and not at_sentence_start) or not is_route_refusal(sentence)
    )
