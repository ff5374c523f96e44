"""User and document text never drives the terminal: no Rich markup, no raw control characters (issue 14)."""

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.result import Answer

ANSI = "\x1b[2J\x1b[31mRED"


def run(*args):
    return CliRunner().invoke(app, list(args))


class StreamingApp:
    """Streams the given pieces, then an Answer carrying `error`."""

    def __init__(self, pieces, error=None, sources=()):
        self.pieces, self.error, self.sources = pieces, error, list(sources)

    def stream(self, request):
        yield from self.pieces
        yield Answer(question=request["question"], answer="".join(self.pieces), error=self.error, sources=self.sources)

    def invoke(self, request):
        return list(self.stream(request))[-1]


@pytest.fixture
def fake_app(monkeypatch):
    def install(**kwargs):
        monkeypatch.setattr("orchestrator.cli.chat.prepare_app", lambda model, collection=None: StreamingApp(**kwargs))

    return install


def test_ask_prints_the_answers_error_without_json(fake_app):
    fake_app(pieces=[], error="The model's context is full: ask a shorter question.")
    result = run("ask", "hello")
    assert result.exit_code == 1
    assert "Error: The model's context is full: ask a shorter question." in " ".join(result.output.split())


@pytest.mark.parametrize(
    "args, expected",
    [
        (["ask", "--route", "[/]", "hi"], "Unknown route '[/]'"),
        (["ask", "--collection", "[/x]", "hi"], "Collection name '[/x]' is not allowed"),
        (["ingest", "/tmp/nope[/bold]x.txt"], "/tmp/nope[/bold]x.txt does not exist"),
        (["batch", "q[/red].txt"], "q[/red].txt does not exist"),
    ],
)
def test_markup_in_user_text_is_shown_literally_not_parsed(args, expected):
    result = run(*args)
    assert result.exit_code == 1, result.output
    assert expected in " ".join(result.output.split())
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_control_characters_in_streamed_text_and_sources_are_made_visible(fake_app):
    fake_app(pieces=["The doc says ", ANSI, "."], sources=[{"source": f"/docs/{ANSI}.txt", "score": 0.5}])
    result = run("ask", "hello")
    assert "\x1b" not in result.output
    assert "\\x1b[2J\\x1b[31mRED" in result.output


def test_ask_error_with_control_characters_and_markup(fake_app):
    fake_app(pieces=[], error=f"bad [bold]{ANSI}")
    result = run("ask", "hello")
    assert result.exit_code == 1 and "\x1b" not in result.output and "bad [bold]\\x1b[2J" in result.output


def test_ingest_summary_shows_bracketed_and_escaped_file_names(capsys):
    from orchestrator.cli.knowledge import print_summary
    from orchestrator.knowledge.ingest import IngestSummary, SkippedFile

    summary = IngestSummary(
        collection="notes",
        skipped=[SkippedFile("/d/[draft] notes.txt", "unsupported"), SkippedFile(f"/d/{ANSI}.bin", f"reason {ANSI}")],
    )
    print_summary(summary)
    err = capsys.readouterr().err
    assert "[draft] notes.txt" in err and "\x1b" not in err and "\\x1b[2J" in err


def test_chat_slash_commands_with_markup_or_escapes_do_not_end_the_session(capsys):
    from orchestrator.cli.repl import ChatSession, run_command

    session = ChatSession(app=None, make_app=lambda name: None)
    assert run_command(session, "/[/x]") is True
    assert run_command(session, "/" + ANSI) is True
    out = capsys.readouterr().out
    assert "Unknown command /[/x]" in out and "\x1b" not in out and "/\\x1b[2J" in out


def test_printable_keeps_text_newlines_and_tabs():
    from orchestrator.cli.common import printable, shown

    assert printable("a\tb\nc") == "a\tb\nc"
    assert printable("a\rb\x07\x9b") == "a\\x0db\\x07\\x9b"
    assert shown("[bold]x") == "\\[bold]x"
