"""The tool-calling router: routes offered as tools through each family's real chat template, through
real llama.cpp with the tiny template GGUFs; and every way the call can fail falls back to the rules."""

from __future__ import annotations

import json

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from orchestrator import Settings, build_app
from orchestrator.chains.router import ROUTES, RouteDecision, Signals
from orchestrator.chains.tool_router import (
    TOOLS,
    keep_rules,
    parse_tool_call,
    tool_specs,
    use_tool_router,
)
from orchestrator.llm import llama_client, release_models, template_renders_tools
from tests.helpers.chat_families import FAMILIES, write_family_gguf
from tests.helpers.word_hash import WordHashEmbeddings

JOKE = "Tell me a joke about cats."  # no rule keeps a decision for it: whatever the model calls stands


class NoDocs:
    def retrieve_with_scores(self, question, k=None):
        return []


def app_for(model, tmp_path, router="tools", n_ctx=4096, chat_model=None):
    settings = Settings(data_dir=tmp_path, model=str(model), n_ctx=n_ctx, max_tokens=24, n_threads=1, router=router)
    return build_app(
        settings, chat_model=chat_model, embeddings=WordHashEmbeddings(), retriever=NoDocs(), search=lambda q: []
    )


@pytest.fixture(scope="module")
def family_paths(tmp_path_factory):
    folder = tmp_path_factory.mktemp("families")
    # 4096 tokens: the tool preambles take up to ~2,400 tokens in the tiny vocabulary
    yield {
        name: write_family_gguf(folder / f"{name}.gguf", family, context_length=4096)
        for name, family in FAMILIES.items()
    }
    release_models()


def rules_decision(app, question):
    """What the rules alone decide for `question` in this app."""
    rules = build_app(
        app.settings.model_copy(update={"router": "rules"}),
        chat_model=app.chat_model,
        embeddings=app.embeddings,
        retriever=NoDocs(),
        search=lambda q: [],
    )
    return rules.route(question)[0]


# --- parsing and policy --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, route",
    [
        ('{"name": "web_search"}', "web"),
        ('{"name": "search_documents", "arguments": {"query": "x"}}', "docs"),
        ('<tool_call>\n{"name": "calculate", "arguments": {}}\n</tool_call>', "math"),  # Qwen's own wrapping
        ('[{"name": "chat"}]', "chat"),
        ('{"function": {"name": "web_search"}}', "web"),
        ('{"name": "send_email"}', None),  # not one of ours
        ("web_search", None),
        ('{"name": ', None),
        ("", None),
        (None, None),
        ("[]", None),
        ('{"name": 3}', None),
    ],
)
def test_a_tool_call_is_parsed_to_a_route_or_to_none(text, route):
    assert parse_tool_call(text) == route


def test_every_route_has_one_tool_and_the_specs_are_openai_functions():
    assert sorted(route for route, _ in TOOLS.values()) == sorted(ROUTES)
    for spec in tool_specs():
        assert spec["type"] == "function" and spec["function"]["name"] in TOOLS
        assert spec["function"]["parameters"]["required"] == ["query"]


@pytest.mark.parametrize(
    "mode, n_params, on",
    [
        ("rules", 7_000_000_000, False),
        ("tools", 135_000_000, True),
        ("tools", None, True),
        ("auto", 134_515_008, False),
        ("auto", 999_999_999, False),
        ("auto", 1_000_000_000, True),
        ("auto", 3_210_000_000, True),
        ("auto", None, False),  # a server model: size unknown, rules
    ],
)
def test_auto_uses_tools_only_from_one_billion_parameters(mode, n_params, on):
    assert use_tool_router(mode, n_params) is on


def test_the_rules_keep_factual_questions_out_of_chat_and_future_ones_in_docs():
    factual = Signals(learned={"factual": 0.7, "chat": 0.3})
    assert keep_rules("chat", factual, RouteDecision("docs", "r"))
    assert keep_rules("web", factual, RouteDecision("docs", "r")) is None
    assert keep_rules("chat", Signals(learned={"chat": 0.7, "factual": 0.3}), RouteDecision("docs", "r")) is None
    assert keep_rules("chat", Signals(), RouteDecision("docs", "r"))  # no classifier: the rules still keep it
    assert keep_rules("web", Signals(future=True), RouteDecision("docs", "r"))


@pytest.mark.parametrize(
    "name, renders",
    [
        ("llama-3.2", True),
        ("qwen2.5", True),
        ("gemma-2", False),
        ("phi-3.5", False),
        ("mistral-v0.2", False),
    ],
)
def test_which_templates_show_tools_themselves(name, renders):
    assert template_renders_tools(FAMILIES[name].template) is renders


# --- through real llama.cpp, per family ----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_the_model_calls_a_route_tool_under_each_familys_template(name, family_paths, tmp_path, monkeypatch):
    app = app_for(family_paths[name], tmp_path)
    client = llama_client(app.chat_model)
    prompts = []
    tokenize = client.tokenize

    def recording_tokenize(text, *args, **kwargs):
        prompts.append(text.decode("utf-8", "replace"))
        return tokenize(text, *args, **kwargs)

    monkeypatch.setattr(client, "tokenize", recording_tokenize)
    decision, _ = app.route(JOKE)
    call = decision.scores["tool_call"]
    assert set(json.loads(call)) == {"name"} and parse_tool_call(call) == decision.route  # the grammar's JSON, parsed
    assert decision.reason == f"the model called {json.loads(call)['name']}"
    prompt = max((text for text in prompts if JOKE in text), key=len)
    assert all(tool in prompt for tool in TOOLS)  # every route was offered
    # by the template itself where it can show tools, else by the system prompt's own list
    assert ("Tools:\n- search_documents" in prompt) is (not template_renders_tools(FAMILIES[name].template))


def test_a_prompt_too_long_for_the_context_falls_back_to_the_rules(tmp_path):
    """A real failure, not a mock: Llama 3.2's tool preamble in the tiny vocabulary needs > 2048 tokens."""
    app = app_for(write_family_gguf(tmp_path / "llama.gguf", FAMILIES["llama-3.2"]), tmp_path, n_ctx=2048)
    decision, _ = app.route(JOKE)
    assert decision.scores["tool_call"] is None
    rules = rules_decision(app, JOKE)
    assert (decision.route, decision.reason) == (rules.route, rules.reason)


@pytest.mark.parametrize("reply", ["I would search the web", '{"name": "send_email"}', "", "RAISE"])
def test_a_bad_or_absent_tool_call_falls_back_to_the_rules(reply, family_paths, tmp_path, monkeypatch):
    import orchestrator.llm

    def bad_call(model, messages, tools):
        if reply == "RAISE":
            raise RuntimeError("grammar failed to parse")
        return reply

    app = app_for(family_paths["qwen2.5"], tmp_path)
    monkeypatch.setattr(orchestrator.llm, "forced_tool_call", bad_call)
    decision, _ = app.route(JOKE)
    rules = rules_decision(app, JOKE)
    assert (decision.route, decision.reason) == (rules.route, rules.reason)


def test_a_model_that_is_not_llama_cpp_leaves_routing_to_the_rules(family_paths, tmp_path):
    app = app_for(family_paths["qwen2.5"], tmp_path, chat_model=FakeListChatModel(responses=['{"name": "web_search"}']))
    decision, _ = app.route(JOKE)
    assert decision.scores["tool_call"] is None and decision.route == rules_decision(app, JOKE).route


def test_math_the_detector_recognises_never_reaches_the_model(family_paths, tmp_path, monkeypatch):
    import orchestrator.llm

    monkeypatch.setattr(orchestrator.llm, "forced_tool_call", lambda *a: pytest.fail("the model was asked"))
    decision, _ = app_for(family_paths["qwen2.5"], tmp_path).route("What is 17% of 2,340?")
    assert decision.route == "math"


def test_a_factual_question_the_model_sends_to_chat_keeps_the_rules_route(family_paths, tmp_path, monkeypatch):
    import orchestrator.llm

    monkeypatch.setattr(orchestrator.llm, "forced_tool_call", lambda *a: '{"name": "chat"}')
    app = app_for(family_paths["qwen2.5"], tmp_path)
    question = "Who designed the harbour bridge?"
    decision, _ = app.route(question)
    assert decision.route == rules_decision(app, question).route != "chat"
    assert "kept the rules" in decision.reason


def test_auto_reads_the_parameter_count_from_the_gguf(family_paths, tmp_path, monkeypatch):
    import orchestrator.llm

    monkeypatch.setattr(orchestrator.llm, "forced_tool_call", lambda *a: pytest.fail("the model was asked"))
    app = app_for(family_paths["qwen2.5"], tmp_path, router="auto")
    assert 0 < app._chat_model_params() < 1_000_000  # the tiny model's real count
    assert app.route(JOKE)[0].scores.get("tool_call") is None
