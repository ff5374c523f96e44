"""Batch question files: questions in (.txt, .jsonl, .csv), one result row per question out (.jsonl, .csv).

A row is the `ask --json` object (orchestrator.result.Answer.to_row) plus `id` and the input's other
fields. Crash safety: every row is written with a single write, flushed and fsync'd before the next
one, so after a SIGKILL the output holds complete rows plus at most one torn last line. Reopening the
output (`ResultFile.open`) truncates that torn tail; the ids of the complete rows are skipped on resume,
so a killed-then-resumed run ends with every id exactly once.

A row is only reused when it answers the same question under the same settings: each row records the
sha256 of its question text and the settings that change answers (`run_settings`: model file hash,
embedding model, collection, route). A resume that finds a row for another question or other settings
stops with an error naming `--overwrite`, instead of keeping a wrong answer. `run_settings` also holds
the collection's write stamp (for the auto and docs routes; `knowledge_fingerprint`): rows answered while the collection
held other documents are answered again, and the summary counts them (`reanswered`).

With `workers > 1` questions are answered by that many worker processes, each with its own app: the
llama.cpp model is one non-thread-safe context per process, so threads could not share it. Only the
parent process writes the output. With `concurrency > 1` (a chat model on an OpenAI-compatible server)
one process keeps that many questions in flight with asyncio instead; rows are the same.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

from orchestrator.errors import ConfigError, OrchestratorError, os_error_message
from orchestrator.result import Answer

if TYPE_CHECKING:
    from orchestrator.config import Settings

ANSWER_COLUMNS = list(Answer.model_fields)  # the `ask --json` schema, in its order
RUN_COLUMNS = ["question_sha256", "run_settings"]  # what a resumed row must match (module docstring)
COLLECTION_FINGERPRINT = "collection_fingerprint"  # in run_settings: a row from other contents is re-answered
RESULT_COLUMNS = ["id", *ANSWER_COLUMNS, *RUN_COLUMNS]
PASSTHROUGH_PREFIX = "input_"  # an input field named like a result column is kept as input_<name>


class BatchInputError(ConfigError):
    """The question file cannot be used at all (missing, unknown format, no question column)."""


class BatchOutputError(OrchestratorError):
    """The output file exists but cannot be resumed (not a batch output, different columns)."""


@dataclass
class Question:
    """One question of an input file; `error` is set when its line could not be read."""

    id: str
    text: str
    fields: dict[str, Any] = field(default_factory=dict)  # other input fields, passed through to the row
    error: str | None = None


# --- reading question files ----------------------------------------------------------------------


def _decode_line(raw: bytes) -> tuple[str, str | None]:
    """The line as text, and an error when it is not UTF-8 (the text then has U+FFFD replacements)."""
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return raw.decode("utf-8", errors="replace"), f"line is not UTF-8 text ({exc.reason} at byte {exc.start})"


def _raw_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, bytes without the line ending); a UTF-8 BOM on the first line is dropped."""
    data = _read_bytes(path)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for number, raw in enumerate(data.splitlines(), start=1):
        yield number, raw


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise BatchInputError(f"Question file {path} does not exist: check the path.") from None
    except IsADirectoryError:
        raise BatchInputError(f"{path} is a folder: give a .txt, .jsonl or .csv question file.") from None
    except OSError as exc:
        raise BatchInputError(f"Cannot read question file {path}: {exc.strerror}.") from None


def read_txt(path: Path) -> list[Question]:
    """One question per line; blank lines and lines starting with # are skipped; id = line number."""
    questions = []
    for number, raw in _raw_lines(path):
        text, error = _decode_line(raw)
        text = text.strip()
        if not text or text.startswith("#"):
            continue
        questions.append(Question(str(number), text, error=error))
    return questions


def read_jsonl(path: Path) -> list[Question]:
    """One JSON object per line with `question`, optional `id`; other fields are passed through."""
    questions = []
    for number, raw in _raw_lines(path):
        text, error = _decode_line(raw)
        if not text.strip():
            continue
        if error:
            questions.append(Question(str(number), text.strip(), error=error))
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            questions.append(Question(str(number), text.strip(), error=f"line {number} is not valid JSON ({exc.msg})"))
            continue
        if not isinstance(record, dict):
            questions.append(Question(str(number), text.strip(), error=f"line {number} is not a JSON object"))
            continue
        questions.append(_question_from_record(record, number))
    return questions


def read_csv(path: Path) -> list[Question]:
    """A header row with a `question` column and optional `id`; id defaults to the row's line number."""
    text = _read_bytes(path).decode("utf-8-sig", errors="surrogateescape")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = reader.fieldnames or []
    if "question" not in columns:
        raise BatchInputError(
            f"{path} has no `question` column (its header is {columns or 'empty'}): "
            "the first row must name the columns, e.g. `id,question`."
        )
    questions = []
    for record in reader:
        number = reader.line_num
        values = [v for v in record.values() if isinstance(v, str)]
        if not any(v.strip() for v in values):
            continue  # a blank line
        bad = next((v for v in values if _has_undecodable(v)), None)
        if bad is not None:
            text = (record.get("question") or "").encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            questions.append(
                Question(str(record.get("id") or number), text, error=f"row at line {number} is not UTF-8 text")
            )
            continue
        if None in record:  # more cells than header columns
            record["extra_cells"] = record.pop(None)
        questions.append(_question_from_record(record, number))
    return questions


def _has_undecodable(text: str) -> bool:
    # surrogateescape maps each undecodable byte to U+DC80..U+DCFF, which never occur in real text.
    return any("\udc80" <= char <= "\udcff" for char in text)


def _question_from_record(record: dict, number: int) -> Question:
    raw_id = record.get("id")
    question_id = str(raw_id) if raw_id not in (None, "") else str(number)
    text = record.get("question")
    fields = {_passthrough_name(k): v for k, v in record.items() if k not in ("id", "question")}
    if not isinstance(text, str) or not text.strip():
        shown = "missing" if text is None else f"not a non-empty string ({text!r:.40})"
        return Question(question_id, str(text or ""), fields, error=f"line {number}: `question` is {shown}")
    return Question(question_id, text.strip(), fields)


def _passthrough_name(name: str) -> str:
    return PASSTHROUGH_PREFIX + name if name in RESULT_COLUMNS else name


READERS: dict[str, Callable[[Path], list[Question]]] = {".txt": read_txt, ".jsonl": read_jsonl, ".csv": read_csv}


def read_questions(path: str | Path) -> list[Question]:
    """Questions of a .txt, .jsonl or .csv file; raises BatchInputError when the file is unusable."""
    path = Path(path)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise BatchInputError(
            f"Unknown question file type {path.suffix or '(none)'!r} for {path}: use .txt, .jsonl or .csv."
        )
    questions = reader(path)
    _check_unique_ids(path, questions)
    if not questions:
        raise BatchInputError(f"{path} contains no questions.")
    return questions


def _check_unique_ids(path: Path, questions: Sequence[Question]) -> None:
    # Resume skips ids already answered, so two questions sharing an id could never both be answered.
    counts = Counter(q.id for q in questions)
    duplicates = [question_id for question_id, count in counts.items() if count > 1]
    if duplicates:
        shown = ", ".join(repr(d) for d in duplicates[:5])
        raise BatchInputError(f"{path} has duplicate ids ({shown}): give every question its own `id`.")


def default_output_path(input_path: str | Path) -> Path:
    """INPUT.answers.jsonl next to the input."""
    input_path = Path(input_path)
    return input_path.with_name(input_path.name + ".answers.jsonl")


# --- result rows -----------------------------------------------------------------------------------


def result_row(question: Question, answer_row: dict) -> dict:
    """id, then the ask --json fields, then the input's passthrough fields."""
    return {"id": question.id, **answer_row, **question.fields}


def error_row(question: Question, message: str, route: str | None = None) -> dict:
    """A row for a question that could not be answered; route is None when it was never routed."""
    row = Answer(question=question.text, error=message).to_row()
    row["route"] = route
    return result_row(question, row)


def answer_question(app, question: Question, route: str | None) -> dict:
    """The row for one question; any failure becomes a row with `error` set, never an exception."""
    if question.error:
        return error_row(question, question.error)
    try:
        answer = app.invoke({"question": question.text, "route": route})
    except Exception as exc:  # noqa: BLE001 - one failing question must not stop the batch
        return failure_row(question, exc, route)
    return result_row(question, answer.to_row())


async def answer_question_async(app, question: Question, route: str | None) -> dict:
    """answer_question through the app's async API (`ainvoke`), so many questions can wait on a server at once."""
    if question.error:
        return error_row(question, question.error)
    try:
        answer = await app.ainvoke({"question": question.text, "route": route})
    except Exception as exc:  # noqa: BLE001 - one failing question must not stop the batch
        return failure_row(question, exc, route)
    return result_row(question, answer.to_row())


def failure_row(question: Question, exc: Exception, route: str | None) -> dict:
    """The error row for a question whose answer raised: our own errors say what to do, others name their type."""
    message = str(exc) if isinstance(exc, OrchestratorError) else f"{type(exc).__name__}: {exc}"
    return error_row(question, message, route)


# --- output files ----------------------------------------------------------------------------------


def _csv_cell(value: Any) -> Any:
    """Lists and dicts (sources, tool_calls, route_reason) as JSON text; None as an empty cell."""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else value


class ResultFile:
    """An append-only .jsonl or .csv output whose rows survive a SIGKILL; open() repairs a torn tail."""

    def __init__(self, path: Path, columns: list[str], done: dict[str, dict], repaired_bytes: int, handle) -> None:
        self.path = path
        self.columns = columns
        self.done = done  # id -> row already in the file
        self.repaired_bytes = repaired_bytes  # bytes of a torn last line removed on open
        self._handle = handle
        self.expected_rows: int | None = None  # rows the run will write in all, when known (for "space needed")

    @classmethod
    def open(cls, path: str | Path, columns: Sequence[str], overwrite: bool = False) -> ResultFile:
        """Open for appending, creating it (with a CSV header) if needed; read the rows already there.

        `overwrite` empties the file first (once no other batch holds it).
        """
        path = Path(path)
        kind = path.suffix.lower()
        if kind not in (".jsonl", ".csv"):
            raise ConfigError(f"Unknown output type {path.suffix or '(none)'!r} for {path}: use .jsonl or .csv.")
        handle = _open_output(path)
        try:
            _lock(handle, path)
            data = b"" if overwrite else handle.read()
            if kind == ".jsonl":
                done, keep = _scan_jsonl(path, data)
                columns = list(columns)
            else:
                done, keep, existing_columns = _scan_csv(path, data)
                columns = _check_csv_columns(path, existing_columns, list(columns))
            handle.truncate(keep)  # drop the torn tail of a killed run
            handle.seek(keep)
        except BaseException:
            handle.close()
            raise
        result = cls(path, columns, done, len(data) - keep, handle)
        if kind == ".csv" and keep == 0:
            result._write(_csv_line(columns))
        return result

    def format(self, row: dict) -> str:
        """One row as a line of this file's format."""
        if self.path.suffix.lower() == ".jsonl":
            return json.dumps(row, ensure_ascii=False) + "\n"
        return _csv_line([_csv_cell(row.get(column)) for column in self.columns])

    def write(self, row: dict) -> None:
        """Append one row with a single write, then flush and fsync so a crash cannot lose it."""
        self._write(self.format(row))
        self.done[str(row["id"])] = row

    def _write(self, text: str) -> None:
        # errors="replace": a lone surrogate must not make the row unwritable.
        start = self._handle.tell()
        data = memoryview(text.encode("utf-8", errors="replace"))
        try:
            while data:  # an unbuffered write may write part of the row
                data = data[self._handle.write(data) :]
            os.fsync(self._handle.fileno())
        except OSError as exc:
            self._cut_back(start)  # a half-written row must not stay behind (e.g. disk full)
            needed = self.bytes_still_needed(len(text.encode("utf-8", errors="replace")))
            message = os_error_message(exc, self.path, needed_bytes=needed)
            raise BatchOutputError(message or f"Cannot write {self.path}: {exc.strerror}.") from None

    def bytes_still_needed(self, row_bytes: int) -> int | None:
        """About how many bytes the rest of the run writes: the rows still to come at the mean row size so far."""
        if self.expected_rows is None:
            return None
        remaining = max(1, self.expected_rows - len(self.done))
        try:
            mean = self._handle.tell() / len(self.done) if self.done else row_bytes
        except (OSError, ValueError):
            mean = row_bytes
        return int(remaining * max(mean, row_bytes))

    def _cut_back(self, size: int) -> None:
        try:
            self._handle.truncate(size)
            self._handle.seek(size)
        except (OSError, ValueError):
            pass  # the torn tail is cut when the file is next opened

    def drop_error_rows(self) -> int:
        """Rewrite the file without its error rows (atomically), so those questions are asked again."""
        return self.drop_rows(lambda row: bool(row.get("error")))

    def drop_rows(self, unwanted: Callable[[dict], bool]) -> int:
        """Rewrite the file without the rows `unwanted` picks (atomically), so those questions are asked again."""
        from orchestrator.files import atomic_output

        errors = [key for key, row in self.done.items() if unwanted(row)]
        if not errors:
            return 0
        kept = {key: row for key, row in self.done.items() if not unwanted(row)}
        with atomic_output(self.path, fsync=True) as partial, open(partial, "wb") as handle:
            if self.path.suffix.lower() == ".csv":
                handle.write(_csv_line(self.columns).encode("utf-8"))
            for row in kept.values():
                handle.write(self.format(row).encode("utf-8", errors="replace"))
        old, self._handle = self._handle, open(self.path, "ab", buffering=0)  # noqa: SIM115 - closed in close()
        _lock(self._handle, self.path)
        old.close()
        self.done = kept
        return len(errors)

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> ResultFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_result_rows(path: str | Path) -> dict[str, dict]:
    """The complete rows of a .jsonl output by id (a torn last line is ignored, not repaired)."""
    path = Path(path)
    if not path.exists():
        return {}
    return _scan_jsonl(path, path.read_bytes())[0]


def _open_output(path: Path):
    """The output file opened for reading and appending, its folder created; OS errors as one clear line."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Unbuffered: a failed write (disk full) must not leave bytes in a buffer that close() would flush.
        return os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o644), "r+b", buffering=0)
    except IsADirectoryError:
        raise BatchOutputError(f"{path} is a folder: give --output a .jsonl or .csv file name.") from None
    except OSError as exc:
        message = (
            os_error_message(exc, path, "create the output") or f"Cannot create the output {path}: {exc.strerror}."
        )
        raise BatchOutputError(message) from None


def refuse_output_as_input(input_path: str | Path, output_path: str | Path) -> None:
    """The output must never be the question file: resuming would read answers as questions, or erase them."""
    input_path, output_path = Path(input_path), Path(output_path)
    same = input_path.resolve() == output_path.resolve()
    if not same and input_path.exists() and output_path.exists():
        same = os.path.samefile(input_path, output_path)
    if same:
        raise BatchOutputError(
            f"--output {output_path} is the question file itself: choose another --output, "
            f"e.g. {default_output_path(input_path)}."
        )


def _lock(handle, path: Path) -> None:
    """Refuse a second batch writing the same output at once (their rows would interleave)."""
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise BatchOutputError(f"Another batch is writing {path}; wait for it or choose another --output.") from None


def _csv_line(cells: Sequence[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(cells)  # the csv module's default dialect ends rows with \r\n
    return buffer.getvalue()


def _scan_jsonl(path: Path, data: bytes) -> tuple[dict[str, dict], int]:
    """Rows by id, and how many leading bytes are whole rows; the torn tail of a killed run is cut.

    Torn means: text after the last newline, or a last line that is not a row (e.g. zero bytes left
    by a power loss). A bad line in the middle means the file is not a batch output at all.
    """
    *lines, _tail = data.split(b"\n")  # _tail: bytes after the final newline, always dropped
    done: dict[str, dict] = {}
    keep = 0
    for number, raw in enumerate(lines, start=1):
        row = _parse_row(raw) if raw.strip() else None
        if raw.strip() and row is None:
            if number == len(lines) and not _tail.strip():
                break
            raise BatchOutputError(
                f"{path} line {number} is not a batch result row; write to a new --output file instead."
            )
        if row is not None:
            done[str(row["id"])] = row
        keep += len(raw) + 1
    return done, keep


def _parse_row(raw: bytes) -> dict | None:
    try:
        row = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return row if isinstance(row, dict) and "id" in row else None


def _scan_csv(path: Path, data: bytes) -> tuple[dict[str, dict], int, list[str] | None]:
    """Rows by id, the byte length of the whole records, and the header (None for an empty file)."""
    consumed = [0]

    def lines() -> Iterator[str]:
        # Feed csv one physical line at a time, counting bytes, so we know where each record ends.
        for raw in data.splitlines(keepends=True):
            consumed[0] += len(raw)
            yield raw.decode("utf-8", errors="replace")

    reader = csv.reader(lines(), strict=True)
    header: list[str] | None = None
    done: dict[str, dict] = {}
    keep = 0
    try:
        for record in reader:
            whole = data[: consumed[0]].endswith(b"\n")
            if header is None:
                if not whole:
                    break
                header = record
                if "id" not in header:
                    raise BatchOutputError(
                        f"{path} is not a batch output (no `id` column); write to a new --output file."
                    )
            elif not whole or len(record) != len(header):
                break  # a torn last record
            else:
                done[record[header.index("id")]] = dict(zip(header, record))
            keep = consumed[0]
    except csv.Error:
        pass  # end of file inside a quoted field: the last record was torn
    return done, keep, header


def _check_csv_columns(path: Path, existing: list[str] | None, wanted: list[str]) -> list[str]:
    if existing is None or existing == wanted:
        return wanted
    raise BatchOutputError(
        f"{path} has the columns {existing}, but this input gives {wanted}: resume needs the same input "
        "fields, so write to a new --output file."
    )


def output_columns(questions: Iterable[Question]) -> list[str]:
    """Result columns, then every passthrough field in order of first appearance (for CSV headers)."""
    extra: dict[str, None] = {}
    for question in questions:
        extra.update(dict.fromkeys(question.fields))
    return RESULT_COLUMNS + [name for name in extra if name not in RESULT_COLUMNS]


# --- what a resumed row must match ----------------------------------------------------------------


def question_sha256(question: Question) -> str:
    """sha256 of the question text as read from the input file."""
    return hashlib.sha256(question.text.encode("utf-8", errors="replace")).hexdigest()


def run_settings(settings: Settings, route: str | None) -> dict:
    """The settings that change answers; a row answered under other settings is not reused."""
    model = Path(settings.model)
    local = settings.llm_backend == "llamacpp" and model.is_file()
    return {
        "llm_backend": settings.llm_backend,
        "model": model.name
        if local
        else (settings.openai_model if settings.llm_backend == "openai" else settings.model),
        "model_sha256": _model_sha256(str(model), *_size_and_mtime(model)) if local else None,
        "embedding_model": settings.embedding_model
        if settings.embeddings_backend == "llamacpp"
        else f"server:{settings.embeddings_server_model}",
        "collection": settings.collection,
        "route": route or "auto",
    }


def _size_and_mtime(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


@functools.lru_cache(maxsize=8)
def _model_sha256(path: str, size: int, mtime_ns: int) -> str:
    """Hashed once per process while the file's size and mtime stay the same."""
    from orchestrator.files import sha256_of

    return sha256_of(Path(path))


def stored_run_settings(row: dict) -> dict | None:
    """The `run_settings` a row was answered under, or None when it records none."""
    stored_run = row.get("run_settings")
    if isinstance(stored_run, str):  # a CSV cell holds it as JSON text
        try:
            stored_run = json.loads(stored_run)
        except json.JSONDecodeError:
            return None
    return stored_run if isinstance(stored_run, dict) else None


def knowledge_fingerprint(settings: Settings, route: str | None) -> str | None:
    """What identifies the contents of the collection answers may come from; None for a route that never reads it.

    The collection's write stamp (store.collection_write_stamp): every change to its chunks sets a new one, so
    an edited, added or removed document changes it, and reading it costs one metadata read, not a scan.
    """
    if route not in (None, "docs"):
        return None
    from orchestrator.knowledge.store import collection_write_stamp

    try:
        return collection_write_stamp(settings, settings.collection)
    except OrchestratorError:
        return "unreadable"  # a damaged store: each answer says so, and a repaired store re-answers them


def answered_from_another_collection(row: dict, run: dict) -> bool:
    """True when the row was answered while the collection held other contents than it does now."""
    stored = stored_run_settings(row) or {}
    return stored.get(COLLECTION_FINGERPRINT) != run.get(COLLECTION_FINGERPRINT)


def resume_mismatch(row: dict, question: Question, run: dict) -> str | None:
    """Why an existing row cannot stand for this question under these settings, or None when it can."""
    stored_hash = row.get("question_sha256")
    if not stored_hash:
        return "it records no question fingerprint (written by an older version)"
    if stored_hash != question_sha256(question):
        return f"it answers another question ({str(row.get('question', ''))[:60]!r}, not {question.text[:60]!r})"
    stored_run = stored_run_settings(row)
    if stored_run is None:
        return "it records no run settings (written by an older version)"
    changed = [
        f"{key} {stored_run.get(key)!r} then, {value!r} now"
        for key, value in run.items()
        if stored_run.get(key) != value and key != COLLECTION_FINGERPRINT  # a changed collection is re-answered
    ]
    return "it was answered with other settings: " + "; ".join(changed) if changed else None


def check_resumable(results: ResultFile, questions: Sequence[Question], run: dict) -> None:
    """Refuse to resume an output whose rows do not match this input and these settings."""
    for question in questions:
        row = results.done.get(question.id)
        problem = resume_mismatch(row, question, run) if row is not None else None
        if problem:
            raise BatchOutputError(
                f"{results.path} already has a row for id {question.id!r}, but {problem}. Pass --overwrite to "
                "answer everything again into it, or choose a new --output."
            )


# --- running ---------------------------------------------------------------------------------------


@dataclass
class BatchSummary:
    """What a batch run did; rows written by earlier runs count only in `skipped`."""

    total: int = 0
    skipped: int = 0  # already in the output (resume)
    reanswered: int = 0  # rows dropped on resume because the collection changed since they were answered
    answered: int = 0  # rows written by this run, errors included
    errors: int = 0
    abstained: int = 0
    routes: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    workers: int = 1
    concurrency: int = 1

    @property
    def per_minute(self) -> float:
        return 60.0 * self.answered / self.seconds if self.seconds > 0 else 0.0

    def add(self, row: dict) -> None:
        self.answered += 1
        self.errors += bool(row.get("error"))
        self.abstained += bool(row.get("abstained"))
        self.routes[row.get("route") or "none"] += 1

    def as_dict(self) -> dict:
        return {
            "total": self.total,
            "skipped": self.skipped,
            "reanswered": self.reanswered,
            "answered": self.answered,
            "errors": self.errors,
            "abstained": self.abstained,
            "routes": dict(self.routes),
            "seconds": round(self.seconds, 3),
            "questions_per_minute": round(self.per_minute, 2),
            "workers": self.workers,
            "concurrency": self.concurrency,
        }


RowCallback = Callable[[dict, BatchSummary], None]


def run_batch(
    questions: Sequence[Question],
    output: str | Path,
    settings: Settings,
    route: str | None = None,
    workers: int = 1,
    app=None,
    on_row: RowCallback | None = None,
    retry_errors: bool = False,
    on_start: Callable[[BatchSummary], None] | None = None,
    overwrite: bool = False,
    concurrency: int = 1,
) -> BatchSummary:
    """Answer every question not yet in `output`, appending one row per question as it finishes.

    `app` (one process only) replaces the app built from `settings`; with `workers > 1` each worker
    process builds its own app from `settings`; with `concurrency > 1` one process keeps that many
    questions in flight to the chat model's server (`check_concurrency`). `on_start(summary)` is called
    once the output is read (summary.skipped is known), `on_row(row, summary)` after each write.
    With `retry_errors`, rows with `error` set are removed first and their questions asked again.
    Rows for other questions or other settings raise BatchOutputError, unless `overwrite` empties the output first.
    """
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1 (got {workers}).")
    check_concurrency(settings, concurrency, workers)
    summary = BatchSummary(total=len(questions), workers=workers, concurrency=concurrency)
    run = {**run_settings(settings, route), COLLECTION_FINGERPRINT: knowledge_fingerprint(settings, route)}
    fingerprints = {question.id: question_sha256(question) for question in questions}
    with ResultFile.open(output, output_columns(questions), overwrite=overwrite) as results:
        if retry_errors:
            results.drop_error_rows()
        check_resumable(results, questions, run)
        summary.reanswered = results.drop_rows(lambda row: answered_from_another_collection(row, run))
        results.expected_rows = len(questions)
        todo = [q for q in questions if q.id not in results.done]
        summary.skipped = len(questions) - len(todo)
        if on_start is not None:
            on_start(summary)
        started = time.perf_counter()

        def record(row: dict) -> None:
            row = {**row, "question_sha256": fingerprints[str(row["id"])], "run_settings": run}
            results.write(row)
            summary.add(row)
            summary.seconds = time.perf_counter() - started
            if on_row is not None:
                on_row(row, summary)

        if todo:
            if concurrency > 1:
                _answer_concurrently(todo, app or _build_app(settings), route, concurrency, record)
            elif workers == 1 or len(todo) == 1:
                _answer_in_process(todo, app or _build_app(settings), route, record)
            else:
                _answer_in_workers(todo, settings, route, min(workers, len(todo)), record)
        summary.seconds = time.perf_counter() - started
    return summary


def _build_app(settings: Settings):
    from orchestrator.app import build_app

    return build_app(settings)


def _answer_in_process(todo: Sequence[Question], app, route: str | None, record: Callable[[dict], None]) -> None:
    for question in todo:
        record(answer_question(app, question, route))


def check_concurrency(settings: Settings, concurrency: int, workers: int) -> None:
    """Refuse a --concurrency that could not keep requests in flight; ConfigError says what to use instead."""
    if concurrency < 1:
        raise ConfigError(f"--concurrency must be at least 1 (got {concurrency}).")
    if concurrency == 1:
        return
    if workers > 1:
        raise ConfigError(
            "Use --workers or --concurrency, not both: --concurrency N alone keeps N questions in flight."
        )
    if settings.llm_backend != "openai":
        raise ConfigError(
            f"--concurrency {concurrency} keeps questions in flight to a chat-model server (ORCH_LLM_BACKEND=openai). "
            "The in-process llama.cpp model answers one question at a time, so it would only queue them: "
            "use --workers N to run N processes with a model each."
        )


def _answer_concurrently(
    todo: Sequence[Question], app, route: str | None, concurrency: int, record: Callable[[dict], None]
) -> None:
    """`concurrency` questions in flight at once through app.ainvoke, each row recorded as it finishes."""
    import asyncio

    async def answer_all() -> None:
        queue = iter(todo)

        async def lane() -> None:
            # Lanes take the next question when they finish one, so a slow answer never holds the others back.
            for question in queue:
                record(await answer_question_async(app, question, route))

        await asyncio.gather(*(lane() for _ in range(min(concurrency, len(todo)))))

    asyncio.run(answer_all())


# Each worker process keeps its own app in this global, set once by the pool's initializer.
_worker_app = None


def _init_worker(settings_values: dict) -> None:
    global _worker_app
    from orchestrator.config import Settings

    exit_when_parent_dies()
    _worker_app = _build_app(Settings(**settings_values))


def exit_when_parent_dies() -> None:
    """In a worker: a daemon thread ends this process as soon as the batch process that started it is gone.

    A SIGKILLed parent cannot stop its pool, and each worker holds a model (~270 MB). multiprocessing
    gives spawned children a sentinel that becomes ready when the parent exits, however it exits.
    """
    import multiprocessing
    import threading
    from multiprocessing.connection import wait

    parent = multiprocessing.parent_process()
    if parent is None or parent.sentinel is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _worker_answer(question: Question, route: str | None) -> dict:
    return answer_question(_worker_app, question, route)


def worker_settings(settings: Settings, workers: int) -> Settings:
    """Split the cores between the workers unless threads were set explicitly (N llama.cpp contexts)."""
    if settings.n_threads is not None:
        return settings
    return settings.model_copy(update={"n_threads": max(1, settings.threads // workers)})


def _answer_in_workers(todo: Sequence[Question], settings: Settings, route: str | None, workers: int, record) -> None:
    """A spawn-started process pool; a question whose worker died is retried once in a fresh pool."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    if route in (None, "docs"):
        warm_shared_caches(settings)
    values = worker_settings(settings, workers).model_dump()
    pending = list(todo)
    attempts: Counter = Counter()
    while pending:
        pool = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker, initargs=(values,)
        )
        in_flight: dict[Any, Question] = {}
        broken = False
        try:
            while (pending or in_flight) and not broken:
                # A short queue (two per worker) keeps workers busy while a crash puts little back in the queue.
                while pending and len(in_flight) < 2 * workers:
                    question = pending.pop(0)
                    in_flight[pool.submit(_worker_answer, question, route)] = question
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in finished:
                    question = in_flight.pop(future)
                    try:
                        record(future.result())
                    except BrokenProcessPool:
                        broken = True
                        attempts[question.id] += 1
                        if attempts[question.id] >= 2:
                            record(
                                error_row(
                                    question,
                                    "the worker process answering it died twice (out of memory or a crash)",
                                    route,
                                )
                            )
                        else:
                            pending.insert(0, question)
                    except Exception as exc:  # noqa: BLE001 - e.g. a row that cannot be unpickled
                        record(error_row(question, f"{type(exc).__name__}: {exc}", route))
            # Questions still in flight when the pool broke go back to the queue.
            for question in in_flight.values():
                pending.insert(0, question)
        finally:
            pool.shutdown(wait=not broken, cancel_futures=True)


def warm_shared_caches(settings: Settings) -> None:
    """Build the on-disk caches (keyword index, route classifier) once, before several processes race to."""
    app = _build_app(settings)
    retriever = app.retriever  # an EmptyRetriever when the collection is empty: nothing to warm
    if hasattr(retriever, "retrieve_with_scores"):
        retriever.retrieve_with_scores("warm-up")
    app.route_classifier  # noqa: B018 - trains and caches the route classifier when the shipped one does not fit
