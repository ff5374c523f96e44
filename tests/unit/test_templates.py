"""Every route through the real app and real llama.cpp, under five families' real chat templates.

The models are tiny random-weight GGUFs (tests/helpers/chat_families.py) that always answer
"Paris is lovely" and then the family's end-of-turn token, so each route's text is known exactly:
it stops at the end of the turn (no repetition up to max_tokens) and no template marker leaks.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, HumanMessage

from orchestrator import Settings, build_app
from orchestrator.llm import (
    fold_system_messages,
    llama_client,
    release_models,
    template_keeps_system_role,
)
from orchestrator.tools.web_search import SearchResult
from tests.helpers.chat_families import ANSWER, FAMILIES, write_family_gguf
from tests.helpers.word_hash import WordHashEmbeddings

# Markers of every family: none may appear in any answer, whichever family produced it.
MARKERS = sorted({token for family in FAMILIES.values() for token in family.special_tokens} | {"[INST]", "[/INST]"})
PARIS = "Paris is lovely in spring, and the Eiffel tower stands in Paris."


class FakeRetriever:
    def __init__(self, docs):
        self.docs = docs

    def retrieve_with_scores(self, question, k=None):
        return list(self.docs)


def fake_search(query):
    return [
        SearchResult(
            rank=1, title="Paris", url="https://example.org/paris", snippet=PARIS, retrieved_at="2026-11-28T18:00:00Z"
        )
    ]


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family_model(request, tmp_path_factory):
    family = FAMILIES[request.param]
    path = write_family_gguf(tmp_path_factory.mktemp(family.name) / f"{family.name}.gguf", family)
    yield family, path
    release_models()


def app_for(path, tmp_path, docs=()):
    settings = Settings(
        data_dir=tmp_path, model=str(path), n_ctx=2048, max_tokens=24, n_threads=1, relevance_threshold=0.3
    )
    return build_app(settings, embeddings=WordHashEmbeddings(), retriever=FakeRetriever(docs), search=fake_search)


def assert_clean(text: str) -> None:
    leaked = [marker for marker in MARKERS if marker in text]
    assert not leaked, f"template markers leaked into {text!r}: {leaked}"


def test_chat_with_history_stops_at_the_end_of_turn(family_model, tmp_path):
    family, path = family_model
    history = [HumanMessage("Hello there."), AIMessage("Hello! How can I help?")]
    answer = app_for(path, tmp_path).invoke({"question": "Tell me about Paris.", "history": history, "route": "chat"})
    assert answer.error is None, answer.error
    assert answer.answer == ANSWER  # once: generation stopped at the family's end-of-turn token
    assert_clean(answer.answer)


def test_streaming_yields_the_same_clean_text(family_model, tmp_path):
    family, path = family_model
    pieces = [item for item in app_for(path, tmp_path).stream({"question": "Tell me about Paris.", "route": "chat"})]
    final = pieces.pop()
    assert "".join(pieces).strip() == final.answer == ANSWER
    assert all(isinstance(piece, str) for piece in pieces) and len(pieces) >= 3  # token by token, not one block
    for piece in pieces:
        assert_clean(piece)


def test_docs_route_answers_from_the_fenced_context(family_model, tmp_path):
    family, path = family_model
    docs = [
        Document(page_content=PARIS, metadata={"source": "paris.txt", "score": 0.9, "chunk_id": "c1", "page": None})
    ]
    answer = app_for(path, tmp_path, docs).invoke({"question": "What is the city like in spring?", "route": "docs"})
    assert answer.error is None, answer.error
    # The fake model restates the evidence sentence, so the sentence itself is quoted (chains/docs.py).
    assert not answer.abstained and ANSWER.rstrip(".") in answer.answer, answer.answer
    assert answer.sources[0]["source"] == "paris.txt"
    assert_clean(answer.answer)


def test_web_route_answers_from_the_results(family_model, tmp_path):
    family, path = family_model
    answer = app_for(path, tmp_path).invoke({"question": "What is Paris like today?", "route": "web"})
    assert answer.error is None, answer.error
    assert answer.answer.startswith(ANSWER + " [1]"), answer.answer  # the model's text, cited
    assert_clean(answer.answer)


def test_math_translation_runs_and_reports_a_non_expression(family_model, tmp_path):
    family, path = family_model
    answer = app_for(path, tmp_path).invoke(
        # One stated quantity, so no template reads it (tools/word_problems.py) and the model translates.
        {"question": "Tom has three apples and his sister twice as many. How many do they have?", "route": "math"}
    )
    # The model "translates" the problem to "Paris is lovely": SymPy refuses it, in words, not a crash.
    call = answer.tool_calls[-1]
    assert call["tool"] == "math" and call["translated_by"] == "llm"
    assert answer.answer.startswith("I could not compute that")
    assert_clean(answer.answer + str(call["input"]))


def test_the_gguf_template_is_the_one_in_use(family_model, tmp_path):
    family, path = family_model
    client = llama_client(app_for(path, tmp_path).chat_model)
    assert client.metadata["tokenizer.chat_template"] == family.template
    # llama-cpp-python renders the GGUF's template, or its identical built-in (Mistral v0.2 is its "mistral-instruct")
    assert client.chat_format in ("chat_template.default", "mistral-instruct")


@pytest.mark.parametrize(
    "name, keeps",
    [("llama-3.2", True), ("qwen2.5", True), ("phi-3.5", True), ("gemma-2", False), ("mistral-v0.2", False)],
)
def test_which_templates_have_a_system_role(name, keeps):
    assert template_keeps_system_role(FAMILIES[name].template) is keeps


def test_a_template_that_drops_the_system_message_counts_as_without_one():
    phi3_mini = (  # microsoft/Phi-3-mini-4k-instruct: renders user and assistant turns only
        "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') %}{{'<|user|>' + '\\n' + "
        "message['content'] + '<|end|>' + '\\n' + '<|assistant|>' + '\\n'}}{% elif (message['role'] == 'assistant') %}"
        "{{message['content'] + '<|end|>' + '\\n'}}{% endif %}{% endfor %}"
    )
    assert template_keeps_system_role(phi3_mini) is False


def test_fold_moves_the_system_text_in_front_of_the_first_user_message():
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Why?"},
    ]
    assert fold_system_messages(messages) == [
        {"role": "user", "content": "Be brief.\n\nHi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Why?"},
    ]


@pytest.mark.parametrize("name", ["gemma-2", "mistral-v0.2"])
def test_the_system_prompt_reaches_a_model_whose_template_has_no_system_role(name, tmp_path, monkeypatch):
    """Gemma 2's template raises on a system message and llama-cpp-python's Mistral format drops it;
    the chat route's system prompt must still reach the model, in front of the first user turn."""
    family = FAMILIES[name]
    app = app_for(write_family_gguf(tmp_path / f"{name}.gguf", family), tmp_path)
    client = llama_client(app.chat_model)
    prompts = []
    tokenize = client.tokenize

    def recording_tokenize(text, *args, **kwargs):
        prompts.append(text.decode("utf-8", "replace"))
        return tokenize(text, *args, **kwargs)

    monkeypatch.setattr(client, "tokenize", recording_tokenize)
    try:
        answer = app.invoke({"question": "Tell me about Paris.", "route": "chat"})
    finally:
        release_models()
    assert answer.answer == ANSWER
    system = app.settings.prompt_text(app.settings.system_prompt_file)
    prompt = max(
        (text for text in prompts if "Tell me about Paris." in text), key=len
    )  # the rendered chat, not a count
    assert system[:40] in prompt and prompt.index(system[:40]) < prompt.index("Tell me about Paris.")


def test_an_end_of_turn_token_llama_cpp_does_not_know_is_not_a_stop(tmp_path):
    """The control for the tests above: with an unknown end token the answer repeats, so they can fail."""
    odd = replace(
        FAMILIES["qwen2.5"],
        name="odd",
        special_tokens=("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|my_turn_ends|>"),
        end_of_turn="<|my_turn_ends|>",
    )
    path = write_family_gguf(tmp_path / "odd.gguf", odd)
    try:
        answer = app_for(path, tmp_path).invoke({"question": "Tell me about Paris.", "route": "chat"})
    finally:
        release_models()
    assert answer.answer.count("Paris is lovely") >= 2
