"""The math route: SymPy computes, the answer is composed from SymPy's result, never the LLM's."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable, Iterator

from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import ensure_config, get_callback_manager_for_config
from langchain_core.tools import ToolException

from orchestrator.chains.generate import collect
from orchestrator.result import Answer

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel


def answer_math(
    question: str,
    answer: Answer,
    timeout_s: float,
    chat_model_factory: Callable[[], BaseChatModel] | None = None,
    translate_prompt: Callable[[], str] | None = None,
    config: RunnableConfig | None = None,
) -> Iterator[str]:
    """Solve a recognised expression directly; a word problem is read by a template, else translated by the LLM.

    The model and the translation prompt are factories, so a plain expression loads neither.
    The SymPy call is reported to `config`'s callbacks as the tool "math"; the translation runs with `config`.
    """
    from orchestrator.tools.math import detect_math, solve, solve_word_problem

    run = get_callback_manager_for_config(ensure_config(config)).on_tool_start(
        {"name": "math"}, question, name="math", inputs={"question": question}
    )

    problem = detect_math(question)
    if problem is None and (chat_model_factory is None or translate_prompt is None):
        problem = detect_math(f"/math {question}")  # forced: solve() then says why it was rejected
    if problem is not None:
        result = solve(problem, timeout_s=timeout_s)
        answer.tool_calls.append(
            {"tool": "math", "input": problem.display or question, "output": result.model_dump(mode="json")}
        )
    else:
        assert chat_model_factory is not None and translate_prompt is not None  # a forced question is always a problem

        def translate(text: str) -> str:  # the model loads only when no template reads the question
            chain = ChatPromptTemplate.from_messages([("human", translate_prompt())]) | chat_model_factory()
            return collect(answer, chain.stream({"question": text}, config), time.perf_counter())

        result = solve_word_problem(question, translate, timeout_s=timeout_s)
        answer.tool_calls.append(
            {
                "tool": "math",
                "input": result.expression,
                "output": result.model_dump(mode="json"),
                "translated_by": result.translated_by,
            }
        )
    if result.refused:  # the model's expression invented a number: say so instead of answering
        run.on_tool_end(result.answer)
        answer.abstained = True
        answer.answer = result.answer
    elif result.error:
        run.on_tool_error(ToolException(result.error))
        answer.error = result.error
        answer.answer = f"I could not compute that: {result.error}"
    else:
        run.on_tool_end(result.answer)
        answer.answer = result.answer
    yield answer.answer
