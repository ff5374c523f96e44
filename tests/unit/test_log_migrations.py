"""The chat log's schema grows by numbered migrations (orchestrator/logs.py, issue 31 item 26)."""

import sqlite3
import threading
from contextlib import closing

from orchestrator.logs import MIGRATIONS, SCHEMA, ChatLog
from orchestrator.result import Answer


def _version(path) -> int:
    with closing(sqlite3.connect(path)) as db:
        return db.execute("PRAGMA user_version").fetchone()[0]


def _columns(path) -> set[str]:
    with closing(sqlite3.connect(path)) as db:
        return {row[1] for row in db.execute("PRAGMA table_info(exchanges)")}


def _log_made_before_migrations(path) -> None:
    """A logs.db as the release before numbered migrations wrote it: SCHEMA alone, user_version 0."""
    with closing(sqlite3.connect(path)) as db, db:
        db.executescript(SCHEMA)
        db.execute("INSERT INTO conversations (id, model, started) VALUES ('c1', 'm', '2026-01-01T00:00:00')")
        db.execute(
            "INSERT INTO exchanges (conversation_id, datetime, question, answer, route)"
            " VALUES ('c1', '2026-01-01T00:00:01', 'When does the ferry leave?', 'At 08:40.', 'docs')"
        )


def test_a_new_log_has_every_migration(tmp_path):
    path = tmp_path / "logs.db"
    ChatLog(path)
    assert _version(path) == len(MIGRATIONS)
    assert "standalone_question" in _columns(path)


def test_an_old_log_upgrades_in_place_and_keeps_its_rows(tmp_path):
    path = tmp_path / "logs.db"
    _log_made_before_migrations(path)
    assert "standalone_question" not in _columns(path)

    log = ChatLog(path)

    assert _version(path) == len(MIGRATIONS)
    old = log.exchanges("c1")
    assert [e.question for e in old] == ["When does the ferry leave?"]
    assert old[0].standalone_question is None
    conversation = log.start_conversation("m")
    answer = Answer(question="and on Sundays?", answer="At 10:00.", route="docs")
    answer.standalone_question = "When does the ferry leave on Sundays?"
    log.record(conversation, answer, "m")
    assert log.exchanges(conversation)[0].standalone_question == "When does the ferry leave on Sundays?"


def test_opening_twice_or_at_once_applies_each_migration_once(tmp_path):
    path = tmp_path / "logs.db"
    _log_made_before_migrations(path)
    errors: list[BaseException] = []

    def open_log():
        try:
            ChatLog(path)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_log) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ChatLog(path)
    assert errors == []
    assert _version(path) == len(MIGRATIONS)
