"""The chat REPL: prompt-toolkit on a terminal, plain lines from a pipe, so it can be scripted."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Callable, Iterator

from orchestrator.cli.common import console, err_console, printable, shown
from orchestrator.errors import OrchestratorError
from orchestrator.result import Answer

HELP = """Commands:
  /help          this help
  /reset         forget the conversation so far
  /model [NAME]  show the model, or switch to another (registry name, installed name or .gguf path)
  /stats         tokens/s and latency of the last answer
  /why           the route the last answer took, and the scores that chose it
  /sources       the chunks or web results behind the last answer
  /ingest PATH   add files or folders to the knowledge base
  /quit          leave (Ctrl-D works too)
Ctrl-C stops the answer being generated."""


@dataclass
class ChatSession:
    """What the REPL remembers between lines."""

    app: object
    make_app: Callable[[str | None], object]
    history: list = field(default_factory=list)
    last: Answer | None = None


def _terminal_lines(history_file) -> Iterator[str]:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    try:
        history_file.parent.mkdir(parents=True, exist_ok=True)
        open(history_file, "a").close()  # noqa: SIM115 - only checks that lines can be appended
        history = FileHistory(str(history_file))
    except OSError:
        history = InMemoryHistory()  # a read-only data dir: no history kept between sessions
    session = PromptSession(history=history)
    while True:
        try:
            yield session.prompt("you> ")
        except KeyboardInterrupt:  # Ctrl-C at the prompt clears the line
            continue
        except EOFError:  # Ctrl-D
            return


def _piped_lines() -> Iterator[str]:
    for line in sys.stdin:
        yield line.rstrip("\n")


def input_lines(history_file) -> Iterator[str]:
    """Lines typed by the user: prompt-toolkit with persistent history on a TTY, else stdin."""
    if sys.stdin.isatty() and sys.stdout.isatty():
        return _terminal_lines(history_file)
    return _piped_lines()


def format_stats(answer: Answer | None) -> str:
    """The /stats line for the last answer."""
    if answer is None:
        return "No answer yet."
    return f"last answer: {answer.generation_stats().summary()}, latency {answer.latency_s:.2f} s"


def answer_question(session: ChatSession, question: str) -> None:
    """Stream one answer, remembering the turn unless it was interrupted."""
    from orchestrator.chains.chat import remember_turn

    result = None
    try:
        for item in session.app.stream({"question": question, "history": session.history}):
            if isinstance(item, str):
                console.print(printable(item), end="", markup=False, highlight=False, soft_wrap=True)
            else:
                result = item
    except KeyboardInterrupt:
        console.print("\n[yellow][stopped][/]")
        return
    console.print()
    if result is None:
        return
    from orchestrator.cli.chat import print_sources

    print_sources(result)
    session.last = result
    if result.error:
        err_console.print(f"[red]Error:[/] {shown(result.error)}", highlight=False)
    else:
        remember_turn(session.history, question, result.answer)


def run_command(session: ChatSession, line: str) -> bool:
    """Run one slash command; return False when the REPL should end."""
    command, _, argument = line[1:].partition(" ")
    argument = argument.strip()
    if command in ("quit", "exit", "q"):
        return False
    if command == "help":
        console.print(HELP, markup=False)
    elif command == "reset":
        session.history.clear()
        console.print("Conversation cleared.")
    elif command == "stats":
        console.print(format_stats(session.last))
    elif command == "why":
        console.print_json(data=session.last.route_reason) if session.last else console.print("No answer yet.")
    elif command == "sources":
        if session.last is None or not session.last.sources:
            console.print("The last answer has no sources.")
        else:
            console.print_json(data=session.last.sources)
    elif command == "ingest":
        if not argument:
            console.print("Usage: /ingest PATH [PATH...]")
        else:
            from orchestrator.cli.chat import ingest_into

            ingest_into(session.app, argument.split())
    elif command == "model":
        if argument:
            session.app = session.make_app(argument)
            session.history.clear()
        console.print(f"model: {shown(session.app.settings.model)}")
    else:
        console.print(f"Unknown command /{shown(command)}. Type /help.")
    return True


def run_repl(app, make_app: Callable[[str | None], object]) -> None:
    """Read questions and slash commands until /quit or end of input."""
    session = ChatSession(app=app, make_app=make_app)
    if sys.stdin.isatty():
        console.print(f"Chatting with {shown(app.settings.model)}. /help for commands, Ctrl-D to leave.")
    for line in input_lines(app.settings.history_file):
        line = line.strip()
        if not line:
            continue
        try:
            if line.startswith("/"):
                if not run_command(session, line):
                    break
            else:
                answer_question(session, line)
        except OrchestratorError as exc:
            err_console.print(f"[bold red]Error:[/] {shown(exc)}", highlight=False)
