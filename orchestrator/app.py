"""build_app(settings): the single place that wires the components together."""

from __future__ import annotations

import time
from typing import Any, Iterator

from langchain_core.runnables import Runnable, RunnableConfig

from orchestrator.chains.chat import chat_messages
from orchestrator.config import Settings
from orchestrator.errors import OrchestratorError
from orchestrator.result import Answer


def _question_of(value: Any) -> tuple[str, list]:
    if isinstance(value, str):
        return value, []
    if isinstance(value, dict) and isinstance(value.get("question"), str):
        return value["question"], list(value.get("history") or [])
    raise OrchestratorError('The app takes {"question": "..."} (and optionally "history"): got ' + repr(value)[:80])


class OrchestratorApp(Runnable[dict, Answer]):
    """The assistant as a LangChain Runnable: invoke() returns an Answer; stream() yields text, then the Answer."""

    def __init__(self, settings: Settings, chat_model=None):
        self.settings = settings
        self._chat_model = chat_model

    @property
    def chat_model(self):
        """The chat model, loaded on first use."""
        if self._chat_model is None:
            from orchestrator.llm import chat_model

            self._chat_model = chat_model(self.settings)
        return self._chat_model

    def _count_tokens(self, text: str) -> int:
        from orchestrator.llm import count_tokens

        return count_tokens(self.chat_model, text)

    def stream(self, input: dict, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[str | Answer]:
        question, history = _question_of(input)
        start = time.perf_counter()
        answer = Answer(question=question, route="chat")
        pieces: list[str] = []
        try:
            messages = chat_messages(
                self.settings.prompt_text(self.settings.system_prompt_file), history, question,
                self.settings.n_ctx, self.settings.max_tokens, self._count_tokens,
            )
            for chunk in self.chat_model.stream(messages, config=config):
                answer._finish_reason = chunk.response_metadata.get("finish_reason") or answer._finish_reason
                text = chunk.content if isinstance(chunk.content, str) else ""
                if not text:
                    continue
                if answer._first_token_s is None:
                    answer._first_token_s = time.perf_counter() - start
                pieces.append(text)
                answer.completion_tokens += 1
                yield text
        except OrchestratorError as exc:
            answer.error = str(exc)
        answer.answer = "".join(pieces).strip()
        answer.latency_s = round(time.perf_counter() - start, 3)
        yield answer

    def invoke(self, input: dict, config: RunnableConfig | None = None, **kwargs: Any) -> Answer:
        result = None
        for item in self.stream(input, config, **kwargs):
            result = item
        assert isinstance(result, Answer)
        return result


def build_app(settings: Settings | None = None, chat_model=None) -> OrchestratorApp:
    """Wire the app from settings; pass chat_model to use another LangChain chat model."""
    return OrchestratorApp(settings or Settings(), chat_model=chat_model)
