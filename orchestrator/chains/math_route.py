"""The math route: SymPy computes, the answer is composed from SymPy's result, never the LLM's."""

from __future__ import annotations

import time
from typing import Callable, Iterator

from langchain_core.prompts import ChatPromptTemplate

from orchestrator.chains.generate import collect
from orchestrator.result import Answer


def answer_math(
    question: str, answer: Answer, timeout_s: float, chat_model_factory=None,
    translate_prompt: Callable[[], str] | None = None,
) -> Iterator[str]:
    """Solve a recognised expression directly; a word problem is translated by the LLM first.

    The model and the translation prompt are factories, so a plain expression loads neither.
    """
    from orchestrator.tools.math import detect_math, solve, solve_word_problem

    problem = detect_math(question)
    if problem is None and not (chat_model_factory and translate_prompt):
        problem = detect_math(f"/math {question}")  # forced: solve() then says why it was rejected
    if problem is not None:
        result = solve(problem, timeout_s=timeout_s)
        answer.tool_calls.append({"tool": "math", "input": problem.display or question, "output": result.model_dump(mode="json")})
    else:
        chain = ChatPromptTemplate.from_messages([("human", translate_prompt())]) | chat_model_factory()

        def translate(text: str) -> str:
            return collect(answer, chain.stream({"question": text}), time.perf_counter())

        result = solve_word_problem(question, translate, timeout_s=timeout_s)
        answer.tool_calls.append({"tool": "math", "input": result.expression, "output": result.model_dump(mode="json"), "translated_by": "llm"})
    if result.error:
        answer.error = result.error
        answer.answer = f"I could not compute that: {result.error}"
    else:
        answer.answer = result.answer
    yield answer.answer
