"""Every chat exchange in a local SQLite database, like `llm logs`: list, show, search, continue.

The database is DATA_DIR/logs.db (stdlib sqlite3). Logging is on unless the file DATA_DIR/logs-off
exists (`orchestrator logs off`), or the chat was started with --no-log.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.errors import OrchestratorError

if TYPE_CHECKING:
    from orchestrator.config import Settings
    from orchestrator.result import Answer

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    model TEXT,
    started TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS exchanges (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    datetime TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    route TEXT,
    sources TEXT,
    route_reason TEXT,
    model TEXT,
    latency_s REAL,
    first_token_s REAL,
    completion_tokens INTEGER,
    error TEXT
);
CREATE INDEX IF NOT EXISTS exchanges_by_conversation ON exchanges(conversation_id, id);
"""


def _add_standalone_question(db: sqlite3.Connection) -> None:
    """The question as answered (a follow-up made to stand alone) beside what was typed."""
    db.execute("ALTER TABLE exchanges ADD COLUMN standalone_question TEXT")


# Numbered migrations, applied in order after SCHEMA; PRAGMA user_version counts those applied (as `llm` does).
MIGRATIONS = [_add_standalone_question]


def _migrate(db: sqlite3.Connection) -> None:
    done = db.execute("PRAGMA user_version").fetchone()[0]
    for number, migration in enumerate(MIGRATIONS[done:], start=done + 1):
        migration(db)
        db.execute(f"PRAGMA user_version = {number}")


@dataclass
class Exchange:
    """One logged question and answer."""

    id: int
    conversation_id: str
    datetime: str
    question: str
    answer: str
    route: str | None
    sources: list
    route_reason: dict
    model: str | None
    latency_s: float | None
    first_token_s: float | None
    completion_tokens: int | None
    error: str | None
    standalone_question: str | None = None  # the question as answered; `question` is what was typed


@dataclass
class ConversationSummary:
    """A conversation as `orchestrator logs list` shows it."""

    id: str
    model: str | None
    started: str
    exchanges: int
    first_question: str


def log_path(settings: Settings) -> Path:
    return settings.data_dir / "logs.db"


def _off_marker(settings: Settings) -> Path:
    return settings.data_dir / "logs-off"


def logging_enabled(settings: Settings) -> bool:
    """True unless `orchestrator logs off` was run for this data dir."""
    return not _off_marker(settings).exists()


def set_logging(settings: Settings, enabled: bool) -> None:
    """Switch chat logging on or off for this data dir (a marker file, as `llm logs off` does)."""
    marker = _off_marker(settings)
    if enabled:
        marker.unlink(missing_ok=True)
    else:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def new_conversation_id() -> str:
    """Sortable by start time, unique enough for one person's machine: 20261201-161530-a3f9c2."""
    return f"{dt.datetime.now(dt.timezone.utc):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


class ChatLog:
    """The SQLite log of chat exchanges."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with closing(self._connect()) as db, db:
                db.executescript(SCHEMA)
                _migrate(db)
        except (OSError, sqlite3.Error) as exc:
            raise OrchestratorError(
                f"Cannot open the chat log {path}: {exc}. Run `orchestrator logs off` to chat without it."
            ) from None

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=5.0)
        db.row_factory = sqlite3.Row
        return db

    def start_conversation(self, model: str | None, conversation_id: str | None = None) -> str:
        """Create a conversation (or keep an existing id) and return its id."""
        conversation_id = conversation_id or new_conversation_id()
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT OR IGNORE INTO conversations (id, model, started) VALUES (?, ?, ?)",
                (conversation_id, model, _now()),
            )
        return conversation_id

    def record(self, conversation_id: str, answer: Answer, model: str | None) -> int:
        """Store one finished exchange; returns its id."""
        with closing(self._connect()) as db, db:
            cursor = db.execute(
                "INSERT INTO exchanges (conversation_id, datetime, question, answer, route, sources, route_reason,"
                " model, latency_s, first_token_s, completion_tokens, error, standalone_question)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    conversation_id,
                    _now(),
                    answer.question,
                    answer.answer,
                    answer.route,
                    json.dumps(answer.sources, ensure_ascii=False),
                    json.dumps(answer.route_reason, ensure_ascii=False, default=str),
                    model,
                    answer.latency_s,
                    answer.first_token_s,
                    answer.completion_tokens,
                    answer.error,
                    answer.standalone_question,
                ),
            )
            return int(cursor.lastrowid or 0)

    def conversations(self, limit: int = 20) -> list[ConversationSummary]:
        """The newest conversations first."""
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT c.id, c.model, c.started, COUNT(e.id) AS n,"
                " (SELECT question FROM exchanges WHERE conversation_id = c.id ORDER BY id LIMIT 1) AS first"
                " FROM conversations c LEFT JOIN exchanges e ON e.conversation_id = c.id"
                " GROUP BY c.id HAVING n > 0 ORDER BY MAX(e.id) DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [ConversationSummary(r["id"], r["model"], r["started"], r["n"], r["first"] or "") for r in rows]

    def latest_conversation_id(self) -> str | None:
        """The conversation with the most recent exchange."""
        with closing(self._connect()) as db:
            row = db.execute("SELECT conversation_id FROM exchanges ORDER BY id DESC LIMIT 1").fetchone()
        return row[0] if row else None

    def exchanges(self, conversation_id: str) -> list[Exchange]:
        """A conversation's exchanges in order; an unknown id is an error that says what to do."""
        with closing(self._connect()) as db:
            known = db.execute("SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
            rows = db.execute(
                "SELECT * FROM exchanges WHERE conversation_id = ? ORDER BY id", (conversation_id,)
            ).fetchall()
        if not known:
            raise OrchestratorError(
                f"No conversation {conversation_id!r} in the log; `orchestrator logs list` shows their ids."
            )
        return [_exchange(row) for row in rows]

    def search(self, text: str, limit: int = 20) -> list[Exchange]:
        """Exchanges whose question or answer contains `text` (case-insensitive), newest first."""
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT * FROM exchanges WHERE question LIKE ? ESCAPE '\\' OR answer LIKE ? ESCAPE '\\'"
                " ORDER BY id DESC LIMIT ?",
                (pattern, pattern, limit),
            ).fetchall()
        return [_exchange(row) for row in rows]


def _exchange(row: sqlite3.Row) -> Exchange:
    return Exchange(
        id=row["id"],
        conversation_id=row["conversation_id"],
        datetime=row["datetime"],
        question=row["question"],
        answer=row["answer"],
        route=row["route"],
        sources=json.loads(row["sources"] or "[]"),
        route_reason=json.loads(row["route_reason"] or "{}"),
        model=row["model"],
        latency_s=row["latency_s"],
        first_token_s=row["first_token_s"],
        completion_tokens=row["completion_tokens"],
        error=row["error"],
        standalone_question=row["standalone_question"],
    )


def conversation_markdown(title: str, exchanges: list) -> str:
    """A conversation as Markdown (what /save writes); `exchanges` are Exchange or Answer objects."""
    lines = [f"# {title}", ""]
    for exchange in exchanges:
        lines += [f"**You:** {exchange.question}", "", f"**Assistant** ({exchange.route}): {exchange.answer}", ""]
        for number, source in enumerate(exchange.sources or [], 1):
            where = source.get("title") or source.get("source")
            page = f", page {source['page']}" if source.get("page") else ""
            lines.append(f"{number}. {where}{page}" + (f" <{source['source']}>" if source.get("title") else ""))
        if exchange.sources:
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
