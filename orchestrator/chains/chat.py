"""The chat route: a system prompt, the conversation so far (trimmed to fit), and the question."""

from __future__ import annotations

from typing import Callable, Sequence

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from orchestrator.errors import ConfigError

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
    return [SystemMessage(system_prompt), *trim_history(history, budget, count_tokens), HumanMessage(question)]


def remember_turn(
    history: list[BaseMessage], question: str, answer: str, route: str | None = None, abstained: bool = False
) -> None:
    """Append one finished turn to the conversation; the answer keeps its route for the next follow-up."""
    metadata = {"route": route, "abstained": abstained} if route else {}
    history.extend([HumanMessage(question), AIMessage(answer, response_metadata=metadata)])
