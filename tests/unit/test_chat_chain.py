import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from orchestrator.app import build_app
from orchestrator.chains.chat import TEMPLATE_OVERHEAD_PER_MESSAGE, chat_messages, remember_turn, trim_history
from orchestrator.config import Settings
from orchestrator.errors import ConfigError


def words(text: str) -> int:
    return len(text.split())


def conversation(turns: int) -> list:
    history: list = []
    for i in range(turns):
        remember_turn(history, f"question {i} " + "pad " * 10, f"answer {i} " + "pad " * 10)
    return history


def test_trim_keeps_newest_whole_turns():
    history = conversation(5)
    per_message = 12 + TEMPLATE_OVERHEAD_PER_MESSAGE
    kept = trim_history(history, budget_tokens=4 * per_message + 5, count_tokens=words)
    assert [m.content.split()[1] for m in kept] == ["3", "3", "4", "4"]
    assert isinstance(kept[0], HumanMessage)


def test_trim_never_starts_with_an_answer():
    history = conversation(3)
    per_message = 12 + TEMPLATE_OVERHEAD_PER_MESSAGE
    kept = trim_history(history, budget_tokens=3 * per_message, count_tokens=words)
    assert isinstance(kept[0], HumanMessage) and len(kept) == 2


def test_messages_fit_the_context():
    history = conversation(50)
    messages = chat_messages("system", history, "new question", n_ctx=400, max_tokens=100, count_tokens=words)
    assert isinstance(messages[0], SystemMessage) and messages[-1].content == "new question"
    used = sum(words(m.content) + TEMPLATE_OVERHEAD_PER_MESSAGE for m in messages)
    assert used + 100 <= 400
    assert len(messages) < 102


def test_question_too_long_for_context_is_a_clear_error():
    with pytest.raises(ConfigError, match="ORCH_N_CTX"):
        chat_messages("system", [], "word " * 500, n_ctx=256, max_tokens=64, count_tokens=words)


def test_app_streams_text_then_answer(tmp_path):
    fake = GenericFakeChatModel(messages=iter([AIMessage("Hello there, friend.")]))
    app = build_app(Settings(data_dir=tmp_path), chat_model=fake)
    items = list(app.stream({"question": "Hi", "route": "chat"}))
    *texts, answer = items
    assert "".join(texts) == "Hello there, friend."
    assert answer.answer == "Hello there, friend." and answer.route == "chat"
    assert answer.completion_tokens == len(texts)


def test_app_rejects_malformed_input(tmp_path):
    app = build_app(Settings(data_dir=tmp_path), chat_model=GenericFakeChatModel(messages=iter([])))
    with pytest.raises(Exception, match="question"):
        app.invoke({"prompt": "wrong key"})
