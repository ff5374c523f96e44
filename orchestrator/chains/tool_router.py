"""Let a larger chat model choose the route by calling one of four tools.

The routes are offered as tools (search_documents, calculate, web_search, chat) through the
model's own chat template, the way it was trained to see tools (Llama 3.x and Qwen2.5 templates
render them; for templates that do not, the tool list goes into the system prompt). The reply is
grammar-constrained to {"name": "<tool>"}, so it always parses.

The rules keep the last word where a wrong route would be unsafe:
- a question the math detector recognised never gets here (it stays math);
- a factual question never goes to chat, where a model invents an answer; the rules send it to a
  route that refuses what nothing supports;
- a question about the future keeps the rules' decision (no source can know the answer yet).
Whenever the call fails or names no tool, the rules' decision stands.

Setting `router`: rules (never), tools (always), auto (when the model has at least 1B parameters;
a 135M model cannot choose among tools).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from orchestrator.chains.router import RouteDecision, Signals

if TYPE_CHECKING:
    from langchain_core.language_models.chat_models import BaseChatModel

log = logging.getLogger(__name__)

MIN_PARAMS = 1_000_000_000

# Tool name -> (route, description the model reads).
TOOLS = {
    "search_documents": (
        "docs",
        (
            "Answer from the user's own documents (their knowledge base): facts, people, places, events, "
            "definitions or anything the documents may cover."
        ),
    ),
    "calculate": (
        "math",
        "Compute a numeric answer: arithmetic, percentages, unit conversions, equations, word problems.",
    ),
    "web_search": (
        "web",
        (
            "Search the web for facts that change over time: news, who currently holds a title or office, "
            "prices, exchange rates, weather, recent events and results."
        ),
    ),
    "chat": (
        "chat",
        (
            "Reply directly without looking anything up: greetings, small talk, opinions, advice, creative "
            "writing, or rewriting, summarising or translating text the user gives."
        ),
    ),
}


def use_tool_router(mode: str, n_params: int | None) -> bool:
    """Whether the tool router decides, for setting `router` = mode and a model of n_params parameters."""
    if mode == "tools":
        return True
    if mode == "rules":
        return False
    return n_params is not None and n_params >= MIN_PARAMS


def tool_specs() -> list[dict]:
    """The routes as OpenAI-style function tools, each taking the user's request as `query`."""
    return [
        {
            "type": "function",
            "function": {
                "name": name,
                "description": description,
                "parameters": {
                    "type": "object",
                    "properties": {"query": {"type": "string", "description": "The user's request."}},
                    "required": ["query"],
                },
            },
        }
        for name, (_, description) in TOOLS.items()
    ]


def documents_hint(docs_score: float | None, threshold: float) -> str:
    """What the knowledge base says about this question, in words the model can use."""
    if docs_score is None:
        return "The user has no documents."
    if docs_score >= threshold:
        return f"The user's documents contain a passage that matches this message (relevance {docs_score:.2f})."
    return f"No passage in the user's documents matches this message well (best relevance {docs_score:.2f})."


def build_messages(instructions: str, question: str, hint: str, template_shows_tools: bool) -> list[dict]:
    """System instructions (with the tool list when the template would not show it) and the question."""
    system = f"{instructions.strip()}\n\n{hint}"
    if not template_shows_tools:
        listing = "\n".join(f"- {name}: {description}" for name, (_, description) in TOOLS.items())
        system += f'\n\nTools:\n{listing}\n\nReply with a JSON object naming one tool: {{"name": "<tool>"}}'
    return [{"role": "system", "content": system}, {"role": "user", "content": question}]


def parse_tool_call(text: str | None) -> str | None:
    """The route named by a tool call ('{"name": "web_search"}', optionally inside <tool_call> tags), else None."""
    if not text:
        return None
    body = text.strip().removeprefix("<tool_call>").removesuffix("</tool_call>").strip()
    try:
        call = json.loads(body)
    except ValueError:
        return None
    if isinstance(call, list) and call:
        call = call[0]
    if not isinstance(call, dict):
        return None
    name = call.get("name") or (call.get("function") or {}).get("name")
    entry = TOOLS.get(name) if isinstance(name, str) else None
    return entry[0] if entry else None


def keep_rules(route: str, signals: Signals, rules: RouteDecision) -> str | None:
    """Why the rules' decision must stand over the model's `route`, or None when the model's may."""
    if signals.future and rules.route == "docs":
        return "asks about the future"
    if route == "chat" and rules.route in ("docs", "web") and signals.learned_class != "chat":
        return "a factual question does not go to chat, which cannot refuse"
    return None


def tool_route(
    model: BaseChatModel, question: str, signals: Signals, rules: RouteDecision, instructions: str, threshold: float
) -> RouteDecision:
    """The model's tool choice as a RouteDecision, or the rules' decision when it cannot or must not stand."""
    from orchestrator.llm import chat_template, forced_tool_call, template_renders_tools

    template = chat_template(model)
    messages = build_messages(
        instructions,
        question,
        documents_hint(signals.docs_score, threshold),
        template_renders_tools(template) if template else False,
    )
    try:
        text = forced_tool_call(model, messages, tool_specs())
    except Exception as exc:  # a template or grammar the backend cannot handle: the rules still route
        log.warning("tool router failed (%s); using the rules", exc)
        text = None
    route = parse_tool_call(text)
    scores = {**rules.scores, "tool_call": text, "rules": rules.route}
    if route is None:
        return RouteDecision(rules.route, rules.reason, scores)
    overruled = keep_rules(route, signals, rules)
    if overruled:
        return RouteDecision(
            rules.route, f"{rules.reason} (the model chose {route}; kept the rules: {overruled})", scores
        )
    return RouteDecision(route, f"the model called {_tool_name(route)}", scores)


def _tool_name(route: str) -> str:
    return next(name for name, (target, _) in TOOLS.items() if target == route)
