"""A scripted, recording fake chat model for REPL tests: replies in order, can wait, fail or stop at a token limit."""

from __future__ import annotations

import time
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult


class ScriptedChatModel(BaseChatModel):
    """Each call takes the next reply: a string (streamed word by word) or an exception to raise.

    `history` records the messages of every call, so a test can check what the model was shown.
    `delay_s` waits before the first token; `finish_reason` is reported on the last chunk.
    """

    replies: list = []
    history: list = []
    delay_s: float = 0.0
    finish_reason: str = "stop"
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "scripted-fake"

    def _next_reply(self, messages) -> Any:
        self.history.append([(m.type, str(m.content)) for m in messages])
        reply = self.replies[min(self.calls, len(self.replies) - 1)] if self.replies else "ok"
        self.calls += 1
        if isinstance(reply, BaseException):
            raise reply
        return reply

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        text = self._next_reply(messages)
        return ChatResult(
            generations=[
                ChatGeneration(message=AIMessage(text, response_metadata={"finish_reason": self.finish_reason}))
            ]
        )

    def _stream(self, messages, stop=None, run_manager=None, **kwargs):
        if self.delay_s:
            time.sleep(self.delay_s)
        text = self._next_reply(messages)
        words = text.split(" ")
        for index, word in enumerate(words):
            piece = word if index == len(words) - 1 else word + " "
            last = index == len(words) - 1
            metadata = {"finish_reason": self.finish_reason} if last else {}
            if isinstance(piece, BaseException):
                raise piece
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece, response_metadata=metadata))

    def prompts(self) -> list[str]:
        """The last human message of every call."""
        return [next((text for kind, text in reversed(call) if kind == "human"), "") for call in self.history]


class InterruptingChatModel(ScriptedChatModel):
    """Streams `first` words, then raises KeyboardInterrupt as Ctrl-C would."""

    def _stream(self, messages, stop=None, run_manager=None, **kwargs):
        self.history.append([(m.type, str(m.content)) for m in messages])
        yield ChatGenerationChunk(message=AIMessageChunk(content="Once upon "))
        raise KeyboardInterrupt
