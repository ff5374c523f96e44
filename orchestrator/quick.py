"""Answers that need none of the app's heavy parts: a plain math expression (issue 17, cold start).

`orchestrator ask "What is 40366/439?"` used to import LangChain, resolve the chat model and build the
whole app before SymPy ran (about 2 s, most of it imports). A plain expression needs only the
detector and the SymPy worker, so the CLI asks here first: no LangChain, no llama.cpp, no Chroma,
no model file and no prompt file. The Answer is the one the app's math route gives (same route,
reason, tool call and text; tests/unit/test_quick_math.py compares them). Word problems, which need
the LLM to translate them, return None and go through the app.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable

from orchestrator.result import Answer

if TYPE_CHECKING:
    from orchestrator.config import Settings


def plain_math_answer(text: str, route: str | None, settings_factory: Callable[[], Settings]) -> Answer | None:
    """The app's Answer for `text` when it is a plain math expression (route None = auto, or "math"); else None.

    Settings load (math_timeout_s, relevance_threshold) while the SymPy worker starts.
    """
    from orchestrator.chains.router import Signals, decide, split_prefix
    from orchestrator.text import clean_question
    from orchestrator.tools.math import detect_math, solve, warm_up_in_background

    text = clean_question(text)  # as the app's input does (AppInput)
    if not text.strip():
        return None  # the app says why
    prefixed, question = split_prefix(text)
    chosen = route or prefixed
    if chosen not in (None, "math"):
        return None
    problem = detect_math(question)
    if problem is None:
        return None
    warm_up_in_background()
    settings = settings_factory()
    start = time.perf_counter()
    if chosen:  # the same decision the app makes for a forced route
        decision = decide(Signals(forced=chosen), settings.relevance_threshold)
    else:
        decision = decide(Signals(math_reason=problem.reason or problem.kind), settings.relevance_threshold)
    answer = Answer(question=question, standalone_question=question)  # no history: it stands alone
    answer.route = decision.route  # type: ignore[assignment]  # the router returns one of ROUTES
    answer.route_reason = decision.as_dict()
    result = solve(problem, timeout_s=settings.math_timeout_s)
    answer.tool_calls.append(
        {"tool": "math", "input": problem.display or question, "output": result.model_dump(mode="json")}
    )
    if result.error:
        answer.error = result.error
        answer.answer = f"I could not compute that: {result.error}"
    else:
        answer.answer = result.answer
    answer.latency_s = round(time.perf_counter() - start, 3)
    return answer
