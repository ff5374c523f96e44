import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from orchestrator.app import build_app
from orchestrator.chains import route_texts
from orchestrator.chains.chat import (
    REMOVED_NOTE,
    TEMPLATE_OVERHEAD_PER_MESSAGE,
    chat_form,
    chat_history,
    chat_messages,
    is_route_refusal,
    remember_turn,
    trim_history,
    without_route_forms,
)
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


# --- issue 31, item 16: the chat route sees and says only its own form ----------------------------


def _shown(history):
    return [(message.type, str(message.content)) for message in chat_history(history)]


def test_history_shows_the_chat_route_earlier_turns_in_chat_form():
    history: list = []
    remember_turn(history, "Who runs the library?", route_texts.NO_ANSWER_IN_DOCUMENTS)
    remember_turn(history, "When does the garden open?", 'From the documents: "It opens at 8 am." [1]')
    remember_turn(history, "Latest rover news?", "It landed in May [1]. (searched 2026-12-01)")
    remember_turn(history, "Hi", "Hello! How can I help?")
    assert _shown(history) == [
        ("human", "When does the garden open?"),
        ("ai", "It opens at 8 am."),
        ("human", "Latest rover news?"),
        ("ai", "It landed in May."),
        ("human", "Hi"),
        ("ai", "Hello! How can I help?"),
    ]


def test_history_given_through_the_api_is_shown_in_chat_form_too():
    history = [
        HumanMessage("Is Velmoor in my notes?"),
        AIMessage(route_texts.NEVER_MENTIONED.format(names='"Velmoor"')),
        HumanMessage("And now?"),
        AIMessage(route_texts.RESULTS_UNCLEAR.format(today="2026-12-01")),
        HumanMessage("Hi"),
        AIMessage("Hello!"),
    ]
    assert _shown(history) == [("human", "Hi"), ("ai", "Hello!")]


def test_every_refusal_of_the_docs_and_web_routes_is_recognised():
    for text in route_texts.REFUSALS:
        filled = text.format(names='"Velmoor"', today="2026-12-01")
        assert is_route_refusal(filled) and chat_form(filled) is None
        assert is_route_refusal(filled.replace("'", "\u2019"))  # a model's curly apostrophe


def _filtered(pieces):
    return list(without_route_forms(pieces))


def test_streamed_chat_text_loses_citations_quote_labels_and_refusals_whatever_the_chunking():
    text = (
        'From the documents: "Tea is served at four." [1] Your documents don\'t contain an answer to that, '
        "and I won't guess. Ask me [2] anything!\nI can list [things] too."
    )
    expected = '"Tea is served at four." Ask me anything!\nI can list [things] too.'
    for size in (1, 2, 3, 7, len(text)):
        pieces = [text[i : i + size] for i in range(0, len(text), size)]
        assert "".join(_filtered(pieces)) == expected, size


def test_plain_chat_text_streams_unchanged_and_without_long_holds():
    words = ["I ", "think ", "it ", "is ", "sunny. ", "Your ", "dog ", "is ", "cute."]
    out = []
    stream = without_route_forms(iter(words))
    for piece in stream:
        out.append(piece)
    assert "".join(out) == "".join(words)
    assert len(out) >= 5  # streamed in pieces, not held to the end


def test_a_reply_that_is_only_a_fake_refusal_is_replaced_by_a_note():
    assert _filtered(["Your documents never mention ", '"Oslo", so I ', "can't answer that."]) == [REMOVED_NOTE]


def test_chat_text_that_only_shares_a_refusal_first_words_is_kept():
    text = "The search results are ranked by relevance. Your documents are safe with me. I have no idea!"
    assert "".join(_filtered([text[i : i + 4] for i in range(0, len(text), 4)])) == text
