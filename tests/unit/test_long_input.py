"""Any length of question gets an answer or one clear error, on every route (issue 14, item 6).

The stand-in model refuses prompts longer than its context exactly as llama-cpp-python does
(`ValueError: Requested tokens (N) exceed context window of M`); the real model is in
tests/integration/test_long_input_real.py.
"""

import itertools

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from orchestrator import Settings, build_app
from orchestrator.batch import read_questions, read_result_rows, run_batch
from orchestrator.tools.web_search import SearchResult
from tests.helpers.word_hash import WordHashEmbeddings
from tests.unit.test_app_routes import FakeRetriever, chunk

CONTEXT_TOKENS = 2048


class ContextLimitedModel(GenericFakeChatModel):
    """Answers "ok" when the prompt fits 2048 tokens (4 characters each), else raises like llama.cpp."""

    def _check(self, messages):
        tokens = sum(len(str(m.content)) for m in messages) // 4
        if tokens > CONTEXT_TOKENS:
            raise ValueError(f"Requested tokens ({tokens}) exceed context window of {CONTEXT_TOKENS}")

    def _generate(self, messages, *args, **kwargs):
        self._check(messages)
        return super()._generate(messages, *args, **kwargs)

    def _stream(self, messages, *args, **kwargs):
        self._check(messages)
        yield from super()._stream(messages, *args, **kwargs)


def long_app(tmp_path):
    docs = [chunk("The Brindle Park pool opens at 06:30 every day.", "pool.txt", 0.9)]
    return build_app(
        Settings(data_dir=tmp_path, relevance_threshold=0.5, n_ctx=CONTEXT_TOKENS),
        chat_model=ContextLimitedModel(messages=itertools.cycle([AIMessage("ok")])),
        embeddings=WordHashEmbeddings(),
        retriever=FakeRetriever(docs),
        search=lambda query: [
            SearchResult(
                rank=1,
                title="Pool",
                url="https://example.org",
                snippet="Opens at 06:30.",
                retrieved_at="2026-01-01T00:00:00Z",
            )
        ],
    )


QUESTION = "Please tell me, in your own words and at length, what you think about pools " * 260  # ~20,000 characters


@pytest.mark.parametrize("route", [None, "docs", "web", "chat"])
def test_a_20000_character_question_gets_one_clear_error_not_an_exception(tmp_path, route):
    answer = long_app(tmp_path).invoke({"question": QUESTION, "route": route})
    assert answer.error, answer
    assert "Shorten it" in answer.error and (
        "too long" in answer.error or "more than the 2048-token context" in answer.error
    )
    assert "Requested tokens" not in answer.error


def test_a_100kb_batch_question_gets_a_sentence_a_user_can_act_on(tmp_path):
    path = tmp_path / "q.txt"
    path.write_text("What is 2+2?\n" + "Why " * 25_000 + "?\n")
    run_batch(
        read_questions(path), tmp_path / "out.jsonl", Settings(data_dir=tmp_path), route="chat", app=long_app(tmp_path)
    )
    rows = read_result_rows(tmp_path / "out.jsonl")
    assert rows["1"]["error"] is None
    assert "Shorten it" in rows["2"]["error"] and "ValueError" not in rows["2"]["error"]


def test_other_value_errors_are_not_swallowed(tmp_path):
    class Broken(GenericFakeChatModel):
        def _stream(self, *args, **kwargs):
            raise ValueError("something else")

    app = build_app(
        Settings(data_dir=tmp_path),
        chat_model=Broken(messages=iter([])),
        embeddings=WordHashEmbeddings(),
        retriever=None,
    )
    with pytest.raises(ValueError, match="something else"):
        app.invoke({"question": "hello", "route": "chat"})
