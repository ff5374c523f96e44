"""A task on the user's own text ("Shorten this: <text>"): the router reads the instruction, the model sees the text apart."""

import itertools

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from orchestrator import Settings, build_app
from orchestrator.chains.route_classifier import routing_text
from orchestrator.text import instruction_and_text
from tests.helpers.word_hash import WordHashEmbeddings


@pytest.mark.parametrize(
    ("request_text", "instruction"),
    [
        ("Tidy this up: the van are late again and nobody told the drivers", "Tidy this up"),
        ("Make it sound warmer: your order has been cancelled due to stock issues", "Make it sound warmer"),
        (
            "Could you put this in plain English: the lessee shall indemnify the lessor",
            "Could you put this in plain English",
        ),
        ("Condense:\nThe committee met on Tuesday and agreed to postpone the vote until spring.", "Condense"),
        ("Proofread please: their going to the beach tomorow with there dog", "Proofread please"),
    ],
)
def test_an_instruction_and_its_text_are_told_apart(request_text, instruction):
    task = instruction_and_text(request_text)
    assert task is not None and task[0] == instruction
    assert routing_text(request_text) == instruction


@pytest.mark.parametrize(
    "request_text",
    [
        "Who founded the Harbour Rowing Club?",  # no colon
        "Quick one: who won the regional chess final in 1990?",  # the text is a question
        "Explain this: the Vellmore paradox",  # a name, not a text to work on
        "Explain: the Orrisford–Kaplan theorem of folded lattices",  # a topic: no pronoun, auxiliary or modal
        "Describe this: ancient Talmeri river trading guilds",
        "Tell me about the Brindle Archive: what does it hold?",  # a question after the colon
        "Here is a very long preamble that goes on for far too many words before it: reaches the colon at last",
        "Time: 10:30 to 11:00",  # too short after the colon
    ],
)
def test_questions_and_names_are_not_text_tasks(request_text):
    assert instruction_and_text(request_text) is None
    assert routing_text(request_text) == request_text


class RecordingModel(GenericFakeChatModel):
    messages_seen: list = []

    def _stream(self, messages, *args, **kwargs):
        self.messages_seen.append(messages)
        yield from super()._stream(messages, *args, **kwargs)


def test_the_chat_route_shows_the_model_the_instruction_and_the_text_on_their_own_lines(tmp_path):
    chat = RecordingModel(messages=itertools.cycle([AIMessage("The committee postponed the vote.")]), messages_seen=[])
    app = build_app(Settings(data_dir=tmp_path), chat_model=chat, embeddings=WordHashEmbeddings())
    request = "Condense: The committee met on Tuesday and agreed to postpone the vote until spring."
    answer = app.invoke({"question": request, "route": "chat"})
    system, *_, human = chat.messages_seen[0]
    assert "rewrite text" in system.content and "companion" not in system.content
    assert human.content == "Condense:\nThe committee met on Tuesday and agreed to postpone the vote until spring."
    assert answer.question == request and answer.answer == "The committee postponed the vote."


def test_small_talk_keeps_the_companion_prompt(tmp_path):
    chat = RecordingModel(messages=itertools.cycle([AIMessage("Hello!")]), messages_seen=[])
    app = build_app(Settings(data_dir=tmp_path), chat_model=chat, embeddings=WordHashEmbeddings())
    app.invoke({"question": "Good morning, how are you?", "route": "chat"})
    system, *_, human = chat.messages_seen[0]
    assert "companion" in system.content and human.content == "Good morning, how are you?"
