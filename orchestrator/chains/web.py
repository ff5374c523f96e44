"""The web route: search, answer from fenced results with citations, or say current facts can't be verified."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, Iterator

from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableConfig

from orchestrator.chains.answer_checks import unsupported_numbers
from orchestrator.chains.generate import collect
from orchestrator.chains.grounding import cite_and_check, concise, says_unknown
from orchestrator.chains.route_texts import RESULTS_UNCLEAR, SEARCH_UNAVAILABLE
from orchestrator.result import Answer
from orchestrator.tuning import TUNING


def answer_from_web(
    question: str, answer: Answer, search: Any, chat_model, prompt: str, config: RunnableConfig | None = None
) -> Iterator[str]:
    """Search; answer only from the results. Without results, abstain rather than use model memory.

    `search` is a callable or a LangChain tool returning SearchResults, dicts or text; any failure means
    "can't verify". `config` is passed to the search tool and the model (the app tags it as a draft).
    """
    from orchestrator.tools.web_search import (
        SearchUnavailable,
        format_results_for_prompt,
        results_to_sources,
        run_search,
    )

    started = time.perf_counter()
    try:
        results = run_search(search, question, config)
    except SearchUnavailable as exc:
        seconds = round(time.perf_counter() - started, 3)
        answer.tool_calls.append(
            {"tool": "web_search", "input": question, "output": None, "error": str(exc), "seconds": seconds}
        )
        answer.abstained = True
        answer.answer = SEARCH_UNAVAILABLE
        yield answer.answer
        return
    sources = results_to_sources(results)
    answer.tool_calls.append(
        {"tool": "web_search", "input": question, "output": sources, "seconds": round(time.perf_counter() - started, 3)}
    )
    chain = ChatPromptTemplate.from_messages([("human", prompt)]) | chat_model.bind(temperature=0.0)
    today = dt.date.today().isoformat()
    inputs = {"context": format_results_for_prompt(results), "question": question, "today": today}
    raw = collect(answer, chain.stream(inputs, config), time.perf_counter())
    snippets = [f"{r.title} {r.snippet} {r.date or ''}" for r in results]
    grounded = cite_and_check(concise(raw), snippets, question)
    if (
        says_unknown(raw)
        or grounded.support < TUNING.web_min_support
        or unsupported_numbers(grounded.text, [*snippets, question])
    ):
        answer.abstained = True
        answer.sources = sources
        answer.answer = RESULTS_UNCLEAR.format(today=today)
        yield answer.answer
        return
    answer.sources = [sources[number - 1] for number in grounded.cited]
    answer.answer = f"{grounded.text} (searched {today})"
    yield answer.answer
