"""Odd input reaches users as an answer or a clear config error, never a generic `TypeName: message` (issue 31, item 5)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from orchestrator import Settings, build_app
from orchestrator.cli import app as cli
from orchestrator.errors import ConfigError
from orchestrator.tools.math import solve
from tests.helpers.word_hash import WordHashEmbeddings
from tests.unit.test_app_routes import FakeRetriever, model


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "-1", "0", "1e300"])
@pytest.mark.parametrize("variable", ["ORCH_MATH_TIMEOUT_S", "ORCH_SEARCH_TIMEOUT_S"])
def test_an_unusable_time_limit_is_a_config_error(value, variable, monkeypatch):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=variable.removeprefix("ORCH_").lower()):
        Settings()
    result = CliRunner().invoke(cli, ["ask", "What is 2+2?"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert f"Invalid setting: {variable.removeprefix('ORCH_').lower()}:" in result.output
    assert "Traceback" not in result.output and "OverflowError" not in result.output


@pytest.mark.parametrize("timeout", [float("inf"), float("nan"), -1.0])
def test_the_math_tool_refuses_an_unusable_time_limit_by_name(timeout):
    with pytest.raises(ConfigError, match="ORCH_MATH_TIMEOUT_S"):
        solve("2+2", timeout_s=timeout)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("hi \ud800", "hi \ufffd"),  # a lone surrogate, as a JSON "\ud800" escape gives it
        ("caf\udce9 au lait", "caf\ufffd au lait"),  # a non-UTF-8 byte of a command-line argument
        ("\ud83d\ude00 ok", "\U0001f600 ok"),  # a surrogate pair is one character
        ("What is 2+2?\x00", "What is 2+2?"),
        ("a\x1b[31mred\x1b[0m\r\nb\tc", "a[31mred[0m\nb\tc"),
        ("plain text", "plain text"),
    ],
)
def test_questions_are_valid_unicode_without_control_characters(raw, clean):
    from orchestrator.text import clean_question

    assert clean_question(raw) == clean
    clean.encode("utf-8")  # encodable: it can be printed, logged and stored


@pytest.fixture
def app(tmp_path):
    return build_app(
        Settings(data_dir=tmp_path / "data"),
        chat_model=model("A friendly reply."),
        embeddings=WordHashEmbeddings(),
        retriever=FakeRetriever([]),
    )


@pytest.mark.parametrize("question", ["hi \ud800", "hello \udcff there", "hi\x00\x07 there"])
def test_the_app_answers_a_question_with_invalid_characters(app, question):
    answer = app.invoke({"question": question})
    assert answer.error is None and answer.answer
    row = answer.to_row()
    assert "\x00" not in row["question"] and "\x07" not in row["question"]
    row["question"].encode("utf-8")


def test_a_nul_byte_does_not_hide_a_math_question(app):
    answer = app.invoke({"question": "What is 2+2?\x00"})
    assert answer.route == "math" and answer.error is None and "4" in answer.answer


def test_ask_with_an_argument_that_is_not_utf8_answers(fake_model):
    # A command-line byte that is not UTF-8 reaches Python as a lone surrogate (PEP 383): b"\xe9" -> "\udce9".
    fake_model.replies = ["Bonjour!"]
    result = CliRunner().invoke(cli, ["ask", "--route", "chat", "un caf\udce9 s'il vous pla\udcaet"])
    assert result.exit_code == 0 and "Bonjour!" in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert fake_model.history[-1][-1] == ("human", "un caf\ufffd s'il vous pla\ufffdt")


@pytest.mark.parametrize("args", [["ask", "What is 2+2?\x00"], ["ask", "--json", "What is 2+2?\x00\x1b"]])
def test_ask_answers_a_math_question_followed_by_control_characters(args):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0 and "4" in result.output and "could not compute" not in result.output, result.output
