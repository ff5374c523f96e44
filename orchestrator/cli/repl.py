"""The chat REPL: prompt-toolkit on a terminal, plain lines from a pipe, so it can be scripted.

One turn never ends the session: an error is one line, Ctrl-C returns to the prompt.
"""

from __future__ import annotations

import re
import shlex
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from langchain_core.callbacks import BaseCallbackHandler
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from orchestrator.cli import common
from orchestrator.errors import ConfigError, OrchestratorError
from orchestrator.result import Answer

if TYPE_CHECKING:
    from prompt_toolkit.completion import Completer
    from prompt_toolkit.history import History

    from orchestrator.app import OrchestratorApp
    from orchestrator.logs import ChatLog

COMMANDS = {
    "/help": "this help",
    "/reset": "forget the conversation so far",
    "/model": "[NAME]  show the chat model, or switch to another (the conversation is kept)",
    "/stats": "tokens/s and latency of the last answer",
    "/why": "[--json]  why the last answer took its route, and how it was checked",
    "/sources": "[--json]  the passages or web results behind the last answer",
    "/ingest": "PATH...  add files or folders to the knowledge base (quote paths with spaces)",
    "/files": "the documents in the knowledge base",
    "/forget": "PATH  remove a file's (or a folder's) chunks from the knowledge base",
    "/collections": "the knowledge-base collections",
    "/save": "[--force] FILE  write this conversation to a Markdown file (asks before replacing one)",
    "/math": "QUESTION  answer with the math tool",
    "/docs": "QUESTION  answer from your documents only",
    "/web": "QUESTION  answer from a web search",
    "/chat": "MESSAGE  talk to the model directly",
    "/quit": "leave (also /bye, exit, quit, Ctrl-D)",
}
ROUTE_COMMANDS = ("/math", "/docs", "/web", "/chat")
LEAVE = {"exit", "quit", "/bye", "/quit", "/exit", "/q"}
PATH_COMMANDS = ("/ingest", "/forget", "/save")
FORCE_FLAG = "--force"
MULTILINE_FENCE = '"""'
HELP_FOOTER = (
    'Ctrl-C stops an answer or a command. For several lines, start and end with """ '
    "(or press Esc then Enter for a new line)."
)

# What the spinner says while nothing streams, by route (named as soon as the route is chosen).
WAITING = {
    None: "choosing a route…",
    "docs": "docs: searching your documents…",
    "math": "math: calculating…",
    "web": "web: searching the web…",
    "chat": "chat: thinking…",
}
STATUS_DELAY_S = 0.3
# "Summarise the following notes: ..." is a task on the text that follows, not a question to look up.
TASK_ON_TEXT = re.compile(
    r"^\s*(please\s+|can you\s+|could you\s+)?(summari[sz]e|translate|rewrite|rephrase|proofread|shorten|simplify|"
    r"explain|correct|fix|improve|paraphrase|outline|list|classify|extract|tidy|format)\b[^:\n]{0,80}:\s*\S",
    re.IGNORECASE,
)
TASK_MIN_WORDS = 8


def _help_text() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["Commands:"] + [f"  {name.ljust(width)}  {text}" for name, text in COMMANDS.items()]
    return "\n".join(lines + [HELP_FOOTER])


HELP = _help_text()


@dataclass
class ChatSession:
    """What the REPL remembers between lines."""

    app: "OrchestratorApp"
    make_app: Callable[[str | None], "OrchestratorApp"]
    history: list = field(default_factory=list)
    last: Answer | None = None
    turns: list = field(default_factory=list)  # finished Answers of this conversation (for /save)
    log: "ChatLog | None" = None  # a ChatLog, or None when logging is off
    conversation_id: str | None = None
    console: Console = field(default_factory=lambda: common.console)
    err_console: Console = field(default_factory=lambda: common.err_console)
    confirm: Callable[[str], bool] = field(default_factory=lambda: ask_yes_no)


def ask_yes_no(question: str) -> bool:
    """Ask on the terminal; without one (a script on stdin) the answer is no, so nothing is replaced unasked."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return False
    try:
        reply = common.console.input(f"{escape(question)} [y/N] ")
    except (EOFError, KeyboardInterrupt):
        return False
    return reply.strip().lower() in ("y", "yes")


# --- output helpers ---------------------------------------------------------------------------


def say(session: ChatSession, text: str, style: str | None = None) -> None:
    """Print plain text (never parsed as markup)."""
    # A terminal wraps at word boundaries to its width; a pipe gets each message on one line.
    session.console.print(
        Text(common.printable(text), style=style or ""), highlight=False, soft_wrap=not session.console.is_terminal
    )


def print_error(session: ChatSession, message: str) -> None:
    """One red line on stderr; the message's own brackets are shown as typed."""
    console = session.err_console
    console.print(f"[bold red]Error:[/] {common.shown(message)}", highlight=False, soft_wrap=not console.is_terminal)


def model_label(model: str) -> str:
    """The registry name for a registry model's file, else the file name without .gguf."""
    from orchestrator.models import REGISTRY

    by_file = {spec.filename: name for name, spec in REGISTRY.items()}
    name = Path(model).name
    return by_file.get(name, name.removesuffix(".gguf") if name.endswith(".gguf") else model)


class WrappedWriter:
    """Streams text to a console, breaking lines between words at the console's current width.

    The width is read for every word, so a resized terminal wraps at its new width. Output that is
    not a terminal (a pipe, a file) is written unchanged.
    """

    def __init__(self, console: Console, wrap: bool | None = None) -> None:
        self.console = console
        self.wrap = console.is_terminal if wrap is None else wrap
        self.column = 0
        self.word = ""
        self.space = ""
        self.wrote = False

    def _out(self, text: str) -> None:
        text = common.printable(text)  # model output may carry escape sequences from documents
        self.console.print(text, end="", markup=False, highlight=False, soft_wrap=True, emoji=False)
        self.wrote = self.wrote or bool(text)

    def write(self, text: str) -> None:
        if not self.wrap:
            self._out(text)
            return
        for char in text:
            if char == "\n":
                self._flush_word()
                self._out("\n")
                self.column, self.space = 0, ""
            elif char.isspace():
                self._flush_word()
                self.space += " " if char == "\t" else char
            else:
                self.word += char

    def _flush_word(self) -> None:
        from rich.cells import cell_len

        if not self.word:
            return
        width = max(self.console.width, 10)
        word_len = cell_len(self.word)
        if self.column and self.column + len(self.space) + word_len > width:
            self._out("\n")
            self.column = 0
        elif self.space:
            self._out(self.space)
            self.column += len(self.space)
        while self.column + cell_len(self.word) > width and len(self.word) > 1:  # a word longer than a line
            cut = max(width - self.column, 1)
            self._out(self.word[:cut] + "\n")
            self.word, self.column = self.word[cut:], 0
        self._out(self.word)
        self.column += cell_len(self.word)
        self.word, self.space = "", ""

    def finish(self) -> None:
        """Write the last word and end the line."""
        self._flush_word()
        self._out("\n")


class WaitingStatus:
    """A spinner with a message that appears only when nothing has been shown for STATUS_DELAY_S."""

    def __init__(self, console: Console, message: str, delay: float = STATUS_DELAY_S) -> None:
        self.console = console
        self.message = message
        self.delay = delay
        self._lock = threading.Lock()
        self._status: Any = None
        self._timer: threading.Timer | None = None
        self._done = False

    def __enter__(self) -> "WaitingStatus":
        if self.console.is_terminal:
            self._timer = threading.Timer(self.delay, self._show)
            self._timer.daemon = True
            self._timer.start()
        return self

    def _show(self) -> None:
        with self._lock:
            if self._done:
                return
            self._status = self.console.status(escape(self.message))
            self._status.start()

    def update(self, message: str) -> None:
        with self._lock:
            self.message = message
            if self._status is not None:
                self._status.update(escape(message))

    def stop(self) -> None:
        """Remove the spinner for good (text is about to be printed)."""
        with self._lock:
            self._done = True
            if self._timer is not None:
                self._timer.cancel()
            if self._status is not None:
                self._status.stop()
                self._status = None

    def __exit__(self, *exc_info) -> None:
        self.stop()


class InterruptWatch:
    """Ctrl-C during an answer, honoured even when Python sees it inside a C library's callback.

    Python raises KeyboardInterrupt in whatever Python code runs next. While llama.cpp loads a model
    that is llama-cpp-python's ctypes log callback, and ctypes swallows an exception raised there
    (printing "Exception ignored on calling ctypes callback function" with a traceback), so the
    answer went on. Here the handler also sets a flag that the turn checks before showing anything,
    and such a swallowed interrupt is not printed. Only the main thread can set a signal handler;
    elsewhere the watch does nothing.
    """

    def __init__(self) -> None:
        self.interrupted = threading.Event()
        self._previous_handler: Any = None
        self._previous_hook: Any = None

    def __enter__(self) -> "InterruptWatch":
        if threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(signal.SIGINT, self._on_sigint)
            self._previous_hook = sys.unraisablehook
            sys.unraisablehook = self._on_unraisable
        return self

    def _on_sigint(self, signum, frame) -> None:
        self.interrupted.set()
        raise KeyboardInterrupt

    def _on_unraisable(self, unraisable) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt) and self.interrupted.is_set():
            return  # already recorded; the turn stops at its next check
        self._previous_hook(unraisable)

    def check(self) -> None:
        """Raise KeyboardInterrupt if Ctrl-C was pressed, even if the exception itself was swallowed."""
        if self.interrupted.is_set():
            raise KeyboardInterrupt

    def __exit__(self, *exc_info) -> None:
        if self._previous_hook is not None:
            sys.unraisablehook = self._previous_hook
            previous = self._previous_handler
            signal.signal(signal.SIGINT, signal.default_int_handler if previous is None else previous)


class RouteListener(BaseCallbackHandler):
    """Hears the app's route announcement (a LangChain custom event) and names it in the status."""

    def __init__(self, status: WaitingStatus) -> None:
        self.status = status

    def on_custom_event(self, name, data, **kwargs) -> None:
        if name == "orchestrator_route" and isinstance(data, dict):
            self.status.update(WAITING.get(data.get("route"), WAITING["chat"]))


# --- input ------------------------------------------------------------------------------------


class ReplCompleter:
    """Tab completion: command names after "/", file paths after /ingest, /forget and /save."""

    def __new__(cls) -> Completer:  # type: ignore[misc]
        from prompt_toolkit.completion import Completer, Completion, PathCompleter
        from prompt_toolkit.document import Document

        paths = PathCompleter(expanduser=True)

        class _Completer(Completer):
            def get_completions(self, document, complete_event):
                text = document.text_before_cursor
                if text.startswith("/") and " " not in text:
                    for name in COMMANDS:
                        if name.startswith(text):
                            yield Completion(name, start_position=-len(text))
                    return
                command, _, rest = text.partition(" ")
                if command == "/save" and rest.startswith(FORCE_FLAG + " "):
                    rest = rest[len(FORCE_FLAG) + 1 :]
                if command in PATH_COMMANDS:
                    last = _path_being_typed(rest)
                    yield from paths.get_completions(Document(last, len(last)), complete_event)

        return _Completer()


def _path_being_typed(rest: str) -> str:
    """The path under the cursor: after an open quote, the whole unquoted rest if its folder exists, else the last word."""
    if rest.count('"') % 2 == 1:
        return rest.rsplit('"', 1)[1]
    if rest.count("'") % 2 == 1:
        return rest.rsplit("'", 1)[1]
    if " " in rest and Path(rest).expanduser().parent.is_dir():
        return rest
    return rest.split(" ")[-1]


def _key_bindings():
    from prompt_toolkit.key_binding import KeyBindings

    bindings = KeyBindings()

    @bindings.add("escape", "enter")
    def _newline(event) -> None:  # Esc/Alt+Enter adds a line instead of sending
        event.current_buffer.insert_text("\n")

    return bindings


def _terminal_lines(history_file) -> Iterator[str]:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    try:
        history_file.parent.mkdir(parents=True, exist_ok=True)
        open(history_file, "a").close()  # noqa: SIM115 - only checks that lines can be appended
        history: History = FileHistory(str(history_file))
    except OSError:
        history = InMemoryHistory()  # a read-only data dir: no history kept between sessions
    session: PromptSession[str] = PromptSession(
        history=history,
        completer=ReplCompleter(),
        key_bindings=_key_bindings(),
        complete_while_typing=False,
    )
    in_block = False
    while True:
        try:
            line = session.prompt("...  " if in_block else "you> ", prompt_continuation="...  ")
            in_block = _inside_block_after(line, in_block)
            yield line
        except KeyboardInterrupt:  # Ctrl-C at the prompt clears the line
            continue
        except EOFError:  # Ctrl-D
            return


def _inside_block_after(line: str, in_block: bool) -> bool:
    """Whether a \"\"\" block is still open after this line (the prompt then shows "...")."""
    stripped = line.strip()
    if not in_block:
        rest = stripped[len(MULTILINE_FENCE) :] if stripped.startswith(MULTILINE_FENCE) else None
        return rest is not None and not (rest.rstrip().endswith(MULTILINE_FENCE) and rest.strip() != "")
    return not stripped.endswith(MULTILINE_FENCE)


def _piped_lines() -> Iterator[str]:
    for line in sys.stdin:
        yield line.rstrip("\n")


def input_lines(history_file) -> Iterator[str]:
    """Lines typed by the user: prompt-toolkit with persistent history on a TTY, else stdin."""
    if sys.stdin.isatty() and sys.stdout.isatty():
        return _terminal_lines(history_file)
    return _piped_lines()


def messages(lines: Iterator[str]) -> Iterator[str]:
    """Join a block between lines starting and ending with \"\"\" into one message (as `ollama run` does)."""
    for line in lines:
        if not line.lstrip().startswith(MULTILINE_FENCE):
            yield line
            continue
        block = [line.lstrip()[len(MULTILINE_FENCE) :]]
        closed = block[0].rstrip().endswith(MULTILINE_FENCE) and block[0].strip() != ""
        for more in [] if closed else lines:
            block.append(more)
            if more.rstrip().endswith(MULTILINE_FENCE):
                break
        text = "\n".join(block).rstrip()
        yield text[: -len(MULTILINE_FENCE)] if text.endswith(MULTILINE_FENCE) else text


def is_task_on_given_text(message: str) -> bool:
    """True for "Summarise the following notes: ..." or a pasted block: the answer is about that text."""
    if "\n" in message.strip():
        return True
    match = TASK_ON_TEXT.match(message)
    return match is not None and len(message[match.end() - 1 :].split()) >= TASK_MIN_WORDS


# --- one turn ---------------------------------------------------------------------------------


def answer_question(session: ChatSession, question: str, route: str | None = None) -> None:
    """Stream one answer, remembering and logging the turn unless it was interrupted."""
    from orchestrator.chains.chat import remember_turn

    if route is None and is_task_on_given_text(question):
        route = "chat"
    _show_standalone(session, question, route)
    writer = WrappedWriter(session.console)
    result = None
    request = {"question": question, "history": session.history, "route": route}
    try:
        with InterruptWatch() as interrupt, WaitingStatus(session.console, WAITING[route]) as status:
            stream = session.app.stream(request, config={"callbacks": [RouteListener(status)]})
            try:
                for item in stream:
                    interrupt.check()
                    if isinstance(item, str):
                        status.stop()
                        writer.write(item)
                    else:
                        result = item
            finally:
                _close(stream)  # an interrupted stream releases its model at once
            interrupt.check()
    except KeyboardInterrupt:
        writer.finish()
        say(session, "[stopped]", "yellow")
        return
    if writer.wrote:
        writer.finish()
    if result is None:
        return
    if result.finish_reason == "length" and not result.error:
        say(session, f"(truncated at {result.completion_tokens} tokens)", "dim")

    common.print_sources(result, session.console)
    session.last = result
    _log_exchange(session, result)
    if result.error:
        if result.error not in result.answer:  # the streamed answer may already say it
            print_error(session, result.error)
    else:
        asked = result.standalone_question or result.question  # the next follow-up leans on the whole question
        remember_turn(session.history, asked, result.answer, result.route, result.abstained)
        session.turns.append(result)


def _close(stream: Any) -> None:
    close = getattr(stream, "close", None)
    if close is not None:
        close()


def _show_standalone(session: ChatSession, question: str, route: str | None) -> None:
    """Say how the app will take a follow-up (the app makes it stand alone itself: app.standalone)."""
    rewritten = session.app.standalone(question, session.history, route)
    if rewritten.rule is not None and rewritten.question != question:
        say(session, f"(follow-up, taken as: {rewritten.question})", "dim")


def _log_exchange(session: ChatSession, result: Answer) -> None:
    if session.log is None:
        return
    model = model_label(session.app.settings.model)
    if session.conversation_id is None:
        session.conversation_id = session.log.start_conversation(model)
    session.log.record(session.conversation_id, result, model)


# --- commands ---------------------------------------------------------------------------------


def format_stats(answer: Answer | None) -> str:
    """The /stats line for the last answer."""
    if answer is None:
        return "No answer yet."
    return f"last answer: {answer.generation_stats().summary()}, latency {answer.latency_s:.2f} s"


def _number(value) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _signal(value) -> str:
    if isinstance(value, dict):
        return ", ".join(
            f"{key} {_number(v)}"
            for key, v in sorted(value.items(), key=lambda kv: -kv[1] if isinstance(kv[1], (int, float)) else 0)
        )
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return _number(value)


ROUTE_WORDS = {
    "docs": "your documents",
    "math": "the math tool (SymPy)",
    "web": "a web search",
    "chat": "the model directly",
}


def explain_route(answer: Answer) -> str:
    """/why in plain words; the numbers behind each decision stay here, not in the answer."""
    from orchestrator.tuning import TUNING

    reason = answer.route_reason or {}
    lines = [
        f"Answered from {ROUTE_WORDS.get(answer.route, answer.route)} (route: {answer.route}), because {reason.get('reason', 'no reason was recorded')}."
    ]
    scores = reason.get("scores") or {}
    shown = {name: value for name, value in scores.items() if value not in (None, False, [], {}, "")}
    if shown:
        lines.append(
            "Signals: " + "; ".join(f"{name.replace('_', ' ')} {_signal(value)}" for name, value in shown.items())
        )
    if "best_match" in reason:
        lines.append(
            f"The best passage matched {reason['best_match']:.2f}; an answer needs at least {reason['threshold']:.2f}."
        )
    evidence = reason.get("evidence")
    if isinstance(evidence, dict):
        lines.append(f'Evidence sentence (score {_number(evidence.get("score"))}): "{evidence.get("sentence", "")}"')
    kind = reason.get("answer_kind")
    if kind == "generated":
        lines.append(
            f"The model's answer was checked against the passage: {_number(reason.get('grounding_support'))} of "
            f"what it adds is in the passage (at least {TUNING.docs_min_support} needed)."
        )
    elif kind == "quote" and reason.get("quoted_because"):
        lines.append(
            f"The model's answer was checked against the passage ({_number(reason.get('grounding_support'))} of what it "
            "adds is in the passage) but only restated the evidence sentence, so the sentence itself is quoted."
        )
    elif kind == "quote":
        lines.append("The model's own answer did not pass the check, so the evidence sentence is quoted instead.")
    if answer.abstained:
        lines.append("Nothing found was strong enough to answer from, so it refused rather than guess.")
    for call in answer.tool_calls:
        if call.get("error"):
            lines.append(f"Tool {call.get('tool')} failed: {call['error']}")
        elif call.get("tool") == "grounding_check":
            lines.append(f"Check rejected a model answer: {call.get('output')}")
    lines.append(f"Took {answer.latency_s:.2f} s. /why --json shows everything.")
    return "\n".join(lines)


def _passage_texts(session: ChatSession, ids: list[str]) -> dict[str, str]:
    """The chunk texts behind docs sources, read from the knowledge base (empty if it cannot be read)."""
    store = getattr(getattr(session.app, "retriever", None), "store", None)
    if store is None or not ids:
        return {}
    try:
        return {doc.id: doc.page_content for doc in store.documents(ids)}
    except OrchestratorError:
        return {}


PASSAGE_CHARS = 600


def passage_view(text: str, evidence: str | None, context: int = PASSAGE_CHARS // 3) -> Text:
    """The passage around the evidence sentence, which is shown in bold; at most about PASSAGE_CHARS characters."""
    text = " ".join(common.printable(text).split())
    start = end = -1
    for candidate in _evidence_forms(evidence):
        start = text.find(candidate)
        if start >= 0:
            end = start + len(candidate)
            break
    if start < 0:
        cut = text if len(text) <= PASSAGE_CHARS else text[: PASSAGE_CHARS - 1].rsplit(" ", 1)[0] + "…"
        return Text(cut, style="dim")
    left, right = max(0, start - context), min(len(text), end + context)
    if left:  # start and end on word boundaries
        left = text.find(" ", left, start) + 1 or left
    if right < len(text):
        right = text.rfind(" ", end, right) if text.rfind(" ", end, right) > end else right
    view = Text(("…" if left else "") + text[left:start], style="dim")
    view.append(text[start:end], style="bold")
    view.append(text[end:right] + ("…" if right < len(text) else ""), style="dim")
    return view


def _evidence_forms(evidence: str | None) -> list[str]:
    """The evidence sentence as it may appear in the chunk (a heading or question may have been joined to it)."""
    if not evidence:
        return []
    sentence = " ".join(evidence.split())
    forms = [sentence]
    if ": " in sentence:
        forms.append(sentence.split(": ", 1)[1])
    if "? " in sentence:
        forms.append(sentence.split("? ", 1)[1])
    return forms


def show_sources(session: ChatSession, answer: Answer) -> None:
    """/sources: each source with its file and page (or its title and address) and the passage text."""
    ids = [chunk for s in answer.sources if (chunk := s.get("chunk"))]
    texts = _passage_texts(session, ids)
    evidence = (answer.route_reason.get("evidence") or {}).get("sentence")
    for number, source in enumerate(answer.sources, 1):
        if source.get("title") or source.get("snippet"):  # a web result
            say(session, f"[{number}] {source.get('title') or source.get('source')}", "bold")
            say(session, f"    {source.get('source')}" + (f" ({source['date']})" if source.get("date") else ""))
            text = source.get("snippet") or ""
        else:
            page = f", page {source['page']}" if source.get("page") else ""
            score = f" (relevance {source['score']:.2f})" if isinstance(source.get("score"), float) else ""
            say(session, f"[{number}] {source.get('source')}{page}{score}", "bold")
            text = texts.get(source.get("chunk") or "") or evidence or ""
        if text:
            session.console.print(passage_view(text, evidence), highlight=False)


def _arguments(argument: str) -> list[str]:
    """Split like a shell: quotes keep spaces; a lone unquoted path with spaces still works."""
    try:
        parts = shlex.split(argument)
    except ValueError as exc:
        raise ConfigError(f'Cannot read the arguments ({exc}): close the quote, e.g. /ingest "my notes".') from None
    if len(parts) > 1 and Path(argument.strip()).expanduser().exists():
        return [argument.strip()]
    return parts


def _one_argument(argument: str, command: str) -> str:
    """The single path or name a command takes: quoted, or else the whole rest of the line, spaces included.

    Never the first word of it: `/save x/notes draft.md` must not become `x/notes`, which may exist.
    """
    argument = argument.strip()
    if argument[:1] not in ("'", '"'):
        return argument
    parts = _arguments(argument)
    if len(parts) != 1:
        raise ConfigError(f'{command} takes one path; quote it whole, e.g. {command} "my notes/draft.md".')
    return parts[0]


def _ingest(session: ChatSession, paths: list[str]) -> None:
    from orchestrator.cli.knowledge import ingest_into

    app = session.app
    for path in paths:
        if not Path(path).expanduser().exists():
            raise ConfigError(f"{path} does not exist; check the path given to /ingest (quote a path with spaces).")
    before = _chunk_count(app.settings)
    try:
        ingest_into(app, paths)
    except KeyboardInterrupt:
        app.forget_retriever()
        after = _chunk_count(app.settings)
        say(
            session,
            (
                f"Ingest stopped. Collection '{app.settings.collection}' now holds {after} chunks "
                f"({after - before:+d} from this run; whole files finished before the stop are searchable). "
                "Run the same /ingest again to finish: finished files are skipped."
            ),
            "yellow",
        )
        return
    _warm_retriever(session)


def _warm_retriever(session: ChatSession) -> None:
    """Build the keyword index now, under a status line, so the next question does not wait in silence."""
    with WaitingStatus(session.console, "indexing the documents…", delay=0.0):
        _ = session.app.retriever


def _chunk_count(settings) -> int:
    from orchestrator.knowledge.store import collection_size

    return collection_size(settings, settings.collection) or 0


def _open_store(session: ChatSession):
    return session.app.knowledge_store()


def _chunks_by_source(store) -> dict[str, list[str]]:
    by_source: dict[str, list[str]] = {}
    for chunk_id, metadata in store.metadata_by_id().items():
        by_source.setdefault(str(metadata.get("source", "")), []).append(chunk_id)
    return by_source


def show_files(session: ChatSession) -> None:
    """/files: the documents in the collection, with their chunk counts."""
    settings = session.app.settings
    if _chunk_count(settings) == 0:
        say(session, f"Collection '{settings.collection}' is empty. Add documents with /ingest PATH.")
        return
    by_source = _chunks_by_source(_open_store(session))
    say(
        session,
        f"Collection '{settings.collection}': {len(by_source)} files, {sum(map(len, by_source.values()))} chunks",
    )
    for source in sorted(by_source):
        say(session, f"  {source}  ({len(by_source[source])} chunks)")


def forget(session: ChatSession, target: str) -> None:
    """/forget PATH: remove the chunks of that file, or of every file under that folder."""
    settings = session.app.settings
    wanted = Path(target).expanduser().resolve()
    store = _open_store(session) if _chunk_count(settings) else None
    by_source = _chunks_by_source(store) if store is not None else {}
    matched = [s for s in by_source if Path(s) == wanted or wanted in Path(s).parents]
    if not matched:
        say(session, f"No document in collection '{settings.collection}' is at {wanted}. /files lists them.")
        return
    ids = [chunk_id for source in matched for chunk_id in by_source[source]]
    assert store is not None  # matched is empty without a store
    store.delete(ids)
    session.app.forget_retriever()
    say(session, f"Forgot {len(matched)} file(s), {len(ids)} chunks, from collection '{settings.collection}'.")


def show_collections(session: ChatSession) -> None:
    from orchestrator.knowledge.store import list_collections

    rows = list_collections(session.app.settings)
    if not rows:
        say(session, "No collections yet. Add documents with /ingest PATH.")
    for row in rows:
        mark = " (in use)" if row.name == session.app.settings.collection else ""
        say(session, f"  {row.name}{mark}: {row.count} chunks, {row.embedding_model}")


def check_chat_model(name: str, settings) -> None:
    """Refuse an embedding model (or anything else that cannot chat) before it is loaded as one."""
    from orchestrator.errors import ModelNotFoundError
    from orchestrator.gguf_file import check_chat_model as check_chat_header
    from orchestrator.gguf_file import inspect_gguf
    from orchestrator.models import REGISTRY, info_cache, resolve_model

    chat_names = ", ".join(sorted(n for n, spec in REGISTRY.items() if spec.kind == "chat"))
    spec = REGISTRY.get(name)
    if spec is not None and spec.kind != "chat":
        raise ConfigError(
            f"{name} is an {spec.kind} model: it turns text into vectors for the knowledge base and cannot chat. "
            f"Chat models in the registry: {chat_names} (or an installed chat model, or a .gguf path)."
        )
    try:
        path = resolve_model(name, settings, auto_pull=False) if spec is None else None
    except ModelNotFoundError:
        raise ConfigError(
            f"No chat model named {name!r}. Chat models in the registry: {chat_names}; "
            "`orchestrator models` lists installed ones, or give a .gguf path."
        ) from None
    if path is not None:
        check_chat_header(inspect_gguf(path, info_cache(settings)))


def switch_model(session: ChatSession, name: str) -> None:
    check_chat_model(name, session.app.settings)
    session.app = session.make_app(name)
    turns = len(session.history) // 2
    kept = f" The conversation so far ({turns} turns) is kept; /reset clears it." if turns else ""
    say(session, f"Now chatting with {model_label(session.app.settings.model)}.{kept}")


def save_conversation(session: ChatSession, target: str, force: bool = False) -> None:
    """/save [--force] FILE: the conversation as Markdown; an existing file is replaced only when confirmed or forced."""
    from orchestrator.logs import conversation_markdown

    path = Path(target).expanduser()
    if path.suffix == "":
        path = path.with_suffix(".md")
    if path.exists() and not force and not session.confirm(f"{path} exists. Replace it?"):
        say(session, f"Not saved: {path} already exists. /save --force {target} replaces it.", "yellow")
        return
    title = f"Conversation {session.conversation_id}" if session.conversation_id else "Conversation"
    try:
        path.write_text(conversation_markdown(title, session.turns), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"Cannot write {path}: {exc.strerror or exc}. Give /save a writable file path.") from None
    say(session, f"Saved {len(session.turns)} exchanges to {path}.")


def _needs(argument: str, usage: str) -> bool:
    if argument:
        return True
    raise ConfigError(f"Usage: {usage}")


def run_command(session: ChatSession, line: str) -> bool:
    """Run one slash command; return False when the REPL should end."""
    typed, _, argument = line.partition(" ")
    command, argument = typed.lower(), argument.strip()
    if line.strip().lower() in LEAVE:
        return False
    if command in ROUTE_COMMANDS:
        if _needs(argument, f"{command} QUESTION"):
            answer_question(session, argument, route=command[1:])
    elif command == "/help":
        say(session, HELP)
    elif command == "/reset":
        session.history.clear()
        session.turns.clear()
        session.conversation_id = None
        say(session, "Conversation cleared.")
    elif command == "/stats":
        say(session, format_stats(session.last))
    elif command in ("/why", "/sources"):
        _explain(session, command, argument)
    elif command == "/ingest":
        if _needs(argument, "/ingest PATH [PATH...]  (quote a path with spaces)"):
            _ingest(session, _arguments(argument))
    elif command == "/files":
        show_files(session)
    elif command == "/forget":
        if _needs(argument, "/forget PATH"):
            forget(session, _one_argument(argument, command))
    elif command == "/collections":
        show_collections(session)
    elif command == "/save":
        force = argument == FORCE_FLAG or argument.startswith(FORCE_FLAG + " ")
        target = argument[len(FORCE_FLAG) :].strip() if force else argument
        if _needs(target, "/save [--force] FILE.md"):
            save_conversation(session, _one_argument(target, command), force=force)
    elif command == "/model":
        if argument:
            switch_model(session, _one_argument(argument, command))
        else:
            say(session, f"model: {model_label(session.app.settings.model)}")
    else:
        say(session, f"Unknown command {typed}. Type /help.")
    return True


def _explain(session: ChatSession, command: str, argument: str) -> None:
    last = session.last
    if last is None:
        say(session, "No answer yet.")
    elif argument == "--json":
        session.console.print_json(data=last.route_reason if command == "/why" else last.sources)
    elif command == "/why":
        say(session, explain_route(last))
    elif not last.sources:
        say(session, "The last answer has no sources.")
    else:
        show_sources(session, last)


# --- the loop ---------------------------------------------------------------------------------


def _record_crash(session: ChatSession) -> Path | None:
    """Keep the traceback of an unexpected error in DATA_DIR/logs/chat-errors.log for a bug report."""
    return common.record_traceback(session.app.settings.data_dir, "chat-errors.log")


def handle_line(session: ChatSession, line: str) -> bool:
    """One line of input, whatever happens in it; return False when the REPL should end."""
    try:
        if line.startswith("/") or line.lower() in LEAVE:
            return run_command(session, line)
        answer_question(session, line)
    except OrchestratorError as exc:
        print_error(session, str(exc))
    except KeyboardInterrupt:
        say(session, "[stopped] Back at the prompt; nothing else was changed.", "yellow")
    except Exception as exc:  # noqa: BLE001 - one failing turn must not end the conversation
        where = _record_crash(session)
        detail = f" Details in {where}." if where else ""
        print_error(session, f"That turn failed ({type(exc).__name__}: {exc}). The conversation goes on.{detail}")
    return True


def resume(session: ChatSession, conversation_id: str) -> None:
    """Load a logged conversation into the session, so the next question follows it."""
    from orchestrator.chains.chat import remember_turn

    if session.log is None:
        raise ConfigError("Chat logging is off, so there is no conversation to continue.")
    exchanges = session.log.exchanges(conversation_id)
    for exchange in exchanges:
        if not exchange.error:
            asked = exchange.standalone_question or exchange.question
            remember_turn(session.history, asked, exchange.answer, exchange.route)
            session.turns.append(exchange)
    session.conversation_id = conversation_id
    say(session, f"Continuing conversation {conversation_id} ({len(session.turns)} exchanges).")


def run_repl(
    app: "OrchestratorApp",
    make_app: Callable[[str | None], "OrchestratorApp"],
    log: "ChatLog | None" = None,
    continue_id: str | None = None,
) -> None:
    """Read questions and slash commands until /quit or end of input."""
    session = ChatSession(app=app, make_app=make_app, log=log)
    if continue_id:
        resume(session, continue_id)
    if sys.stdin.isatty():
        say(session, f"Chatting with {model_label(app.settings.model)}. /help for commands, Ctrl-D or /bye to leave.")
    for line in messages(input_lines(app.settings.history_file)):
        line = line.strip()
        if line and not handle_line(session, line):
            break
