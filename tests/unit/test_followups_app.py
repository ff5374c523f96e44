"""Follow-ups as one app feature (issue 29 item 3): a turn that stands alone is never rewritten, math
follow-ups keep their meaning, and `app.invoke` with a history answers as the REPL does."""

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from orchestrator import Settings, build_app
from orchestrator.chains.followup import PreviousTurn, make_standalone, previous_turn, stands_alone
from tests.unit.test_app_routes import FakeRetriever, WordHashEmbeddings, model

NEWSLETTER = PreviousTurn(
    "When is the winter party?", "docs", 'From the documents: "The winter party is on 12 December in the hall." [1]'
)


def app_with(tmp_path, chat=None):
    return build_app(
        Settings(data_dir=tmp_path, relevance_threshold=0.5),
        chat_model=chat or model("unused"),
        embeddings=WordHashEmbeddings(),
        retriever=FakeRetriever([]),
    )


@pytest.mark.parametrize(
    "question",
    [
        "Who wrote the newsletter?",
        "Who makes the Tallyhub?",
        "and who makes the Tallyhub?",
        "Where does the choir rehearse?",
        "How much does a season ticket cost?",
        "Is there a late fee?",
        "Who is the author that wrote the cookbook?",
        "What is 2+2?",
        "Write a limerick about ferries.",
    ],
)
def test_a_complete_question_is_never_rewritten(question):
    assert stands_alone(question)
    assert make_standalone(question, NEWSLETTER).question == question


@pytest.mark.parametrize(
    "question",
    [
        "and where?",
        "What is his name again?",
        "Who took the oldest one?",
        "and on Fridays?",
        "what about visitors?",
        "When was that?",
        "and the phone number?",
        "In which town?",
    ],
)
def test_a_turn_that_leans_on_the_previous_one_does_not_stand_alone(question):
    assert not stands_alone(question)


def test_what_about_something_unresolvable_is_left_as_typed():
    assert make_standalone("what about the second one?", NEWSLETTER).question == "what about the second one?"


@pytest.mark.parametrize(
    ("first", "answer", "followup", "expected"),
    [
        ("200*5", "200*5 = 1000", "minus 10%", "1000 minus 10%"),
        ("200*5", "200*5 = 1000", "and plus 8%?", "1000 plus 8%"),
        ("12*7", "12*7 = 84", "and times 3?", "84 times 3"),
        ("12*7", "12*7 = 84", "half of it", "half of 84"),
        ("12*7", "12*7 = 84", "divided by 4", "84 divided by 4"),
        ("6*7", "6*7 = 42", "then divide by 6", "divide 42 by 6"),
        ("6*7", "6*7 = 42", "and subtract 2", "subtract 2 from 42"),
    ],
)
def test_math_follow_ups_put_the_previous_result_in(first, answer, followup, expected):
    assert make_standalone(followup, PreviousTurn(first, "math", answer)).question == expected


def test_math_follow_up_after_a_docs_answer_with_one_number_uses_it():
    previous = PreviousTurn("How many items can a member borrow?", "docs", "Members may borrow up to 7 items [1].")
    assert make_standalone("and times 3?", previous).question == "7 times 3"


def test_math_follow_up_after_a_docs_answer_with_several_numbers_asks():
    previous = PreviousTurn(
        "How many items can a member borrow?", "docs", '"Members may borrow up to 7 items at a time for 21 days." [1]'
    )
    standalone = make_standalone("and times 3?", previous)
    assert standalone.question == "and times 3?"
    assert standalone.clarification is not None and "7, 21" in standalone.clarification


def test_math_follow_up_after_a_quote_uses_the_number_it_marks_as_the_answer():
    previous = PreviousTurn(
        "How many boats does the rowing club own?",
        "docs",
        'From the documents: "The club, founded in 1921, owns **46** boats and 3 trailers." [1]',
    )
    assert make_standalone("and half of that?", previous).question == "half of 46"
    unmarked = PreviousTurn(previous.question, "docs", previous.answer.replace("**", ""))
    assert make_standalone("and half of that?", unmarked).clarification is not None


def test_previous_turn_reads_the_route_from_the_message_or_the_math_answer_shape():
    tagged = [HumanMessage("Who runs the ferry?"), AIMessage("Ada Moss [1].", response_metadata={"route": "docs"})]
    assert previous_turn(tagged) == PreviousTurn("Who runs the ferry?", "docs", "Ada Moss [1].")
    plain = [HumanMessage("200*5"), AIMessage("200*5 = 1000")]
    assert previous_turn(plain).route == "math"
    assert previous_turn([]) is None


def test_app_invoke_with_a_history_minus_ten_percent_is_900(tmp_path):
    app = app_with(tmp_path)
    first = app.invoke({"question": "200*5"})
    history = [("human", first.question), ("ai", first.answer)]
    second = app.invoke({"question": "minus 10%", "history": history})
    assert second.route == "math" and "= 900" in second.answer, second.answer
    assert second.question == "minus 10%" and second.standalone_question == "1000 minus 10%"
    third = app.invoke(
        {"question": "and times 3?", "history": [*history, ("human", "1000 minus 10%"), ("ai", second.answer)]}
    )
    assert "= 2700" in third.answer, third.answer


def test_app_asks_which_number_after_a_docs_sentence_instead_of_parsing_it_as_math(tmp_path):
    chat = model("unused")
    history = [
        HumanMessage("How many items can a member borrow?"),
        AIMessage(
            'From the documents: "Members may borrow up to 7 items at a time for 21 days." [1]',
            response_metadata={"route": "docs"},
        ),
    ]
    answer = app_with(tmp_path, chat).invoke({"question": "and times 3?", "history": history})
    assert answer.abstained and answer.error is None
    assert answer.answer.startswith("Which number should I use?")
    assert chat.prompts == []  # the docs sentence never reached the model's math translation


def test_a_complete_question_reaches_the_router_as_typed(tmp_path):
    app = app_with(tmp_path)
    history = [HumanMessage(NEWSLETTER.question), AIMessage(NEWSLETTER.answer, response_metadata={"route": "docs"})]
    assert app.standalone("Who wrote the newsletter?", history).rule is None
    answer = app.invoke({"question": "What is 6 times 7?", "history": history})
    assert answer.standalone_question == "What is 6 times 7?" and "= 42" in answer.answer


def test_after_a_chat_turn_nothing_is_rewritten(tmp_path):
    history = [HumanMessage("Hi!"), AIMessage("Hello, how can I help?", response_metadata={"route": "chat"})]
    assert app_with(tmp_path).standalone("and for how long?", history).rule is None


def test_the_chat_log_keeps_what_was_typed_and_the_standalone_form(tmp_path):
    import sqlite3

    from orchestrator.logs import ChatLog

    path = tmp_path / "logs.db"
    with sqlite3.connect(path) as db:  # a log written before the column existed
        db.executescript(
            "CREATE TABLE conversations (id TEXT PRIMARY KEY, model TEXT, started TEXT NOT NULL);"
            "CREATE TABLE exchanges (id INTEGER PRIMARY KEY AUTOINCREMENT, conversation_id TEXT NOT NULL,"
            " datetime TEXT NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL, route TEXT, sources TEXT,"
            " route_reason TEXT, model TEXT, latency_s REAL, first_token_s REAL, completion_tokens INTEGER, error TEXT);"
        )
    app = app_with(tmp_path)
    first = app.invoke({"question": "200*5"})
    second = app.invoke({"question": "minus 10%", "history": [("human", "200*5"), ("ai", first.answer)]})
    log = ChatLog(path)
    conversation = log.start_conversation("m")
    log.record(conversation, second, "m")
    [exchange] = log.exchanges(conversation)
    assert (exchange.question, exchange.standalone_question) == ("minus 10%", "1000 minus 10%")
    ChatLog(path)  # opening it again migrates nothing twice


@pytest.mark.parametrize(
    ("first", "followup", "expected"),
    [
        ("Is the pool open on Saturdays?", "and on Fridays?", "Is the pool open on Fridays?"),
        ("Where is the town hall?", "and its postcode?", "What is the town hall's postcode?"),
        ("How many benches are in the rose garden?", "can I book them?", "Can I book the benches?"),
        (
            "How many games can a member of the chess club borrow?",
            "and for how long can they keep them?",
            "For how long can a member of the chess club keep the games?",
        ),
    ],
)
def test_fragments_and_pronouns_after_any_question(first, followup, expected):
    assert make_standalone(followup, PreviousTurn(first, "docs", "An answer [1].")).question == expected


def test_a_word_problem_a_template_reads_is_routed_to_math_without_the_model(tmp_path):
    chat = model("A confident wrong number: 99.")
    answer = app_with(tmp_path, chat).invoke({"question": "Priya has 40 stamps and gives 15 away. How many are left?"})
    assert answer.route == "math" and "= 25" in answer.answer and chat.prompts == []
