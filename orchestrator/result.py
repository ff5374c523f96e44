"""The one output type every route produces; it serialises to the `ask --json` / batch row schema."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, with_config
from typing_extensions import TypedDict

Route = Literal["math", "docs", "web", "chat"]


@with_config(ConfigDict(extra="allow"))
class Source(TypedDict, total=False):
    """One entry of Answer.sources: a knowledge-base chunk (source, chunk, page, score) or a web result."""

    source: str | None  # file path or URL
    chunk: str | None  # chunk id (knowledge base)
    page: int | str | None
    score: float | None  # relevance 0..1 (None for web results, which come ranked)
    title: str | None
    date: str | None
    snippet: str | None
    rank: int | None
    retrieved_at: str | None
    kind: str | None  # "web" for web results


class Answer(BaseModel):
    """A finished answer, with how it was produced."""

    question: str
    standalone_question: str | None = Field(
        default=None,
        description="The question as answered: a follow-up made to stand alone, else `question` itself (what was typed).",
    )
    answer: str = ""
    route: Route = "chat"
    sources: list[Source] = Field(default_factory=list)
    abstained: bool = False
    error: str | None = None
    latency_s: float = 0.0
    completion_tokens: int = 0
    tool_calls: list[dict] = Field(default_factory=list, description="Tools called: name, input, raw result.")
    route_reason: dict = Field(default_factory=dict, description="Why this route: the deciding signal and the scores.")
    _first_token_s: float | None = PrivateAttr(default=None)
    _finish_reason: str | None = PrivateAttr(default=None)

    def generation_stats(self):
        """Timing of this answer in the bench's terms (one implementation for /stats and bench)."""
        from orchestrator.timing import GenerationStats

        return GenerationStats(
            tokens=self.completion_tokens, seconds=self.latency_s, time_to_first_token=self._first_token_s
        )

    @property
    def tokens_per_second(self) -> float | None:
        """Generation speed, from the first streamed token to the last."""
        if self._first_token_s is None or self.completion_tokens < 2:
            return None
        return self.generation_stats().tokens_per_second or None

    @property
    def first_token_s(self) -> float | None:
        return self._first_token_s

    @property
    def finish_reason(self) -> str | None:
        """Why generation stopped: "stop" (the model ended), "length" (hit max_tokens), or None."""
        return self._finish_reason

    def to_row(self) -> dict:
        """The JSON object `ask --json` prints."""
        return self.model_dump(mode="json")
