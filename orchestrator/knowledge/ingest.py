"""Ingest files into a knowledge-base collection: load, split, give chunks stable ids, sync the store.

Chunk ids hash the source path and the chunk's text, so ingesting the same files twice adds
nothing, and a changed file only costs embeddings for its new chunks.

Crash safety (a SIGKILL at any point, then a rerun, converges to the clean result) comes from the
order of writes: first every new chunk is added (an upsert, so repeating it is harmless), then the
kept chunks' metadata is refreshed, and only at the very end are stale chunks deleted. A file
counts as up to date only when *all* of its stored chunks carry its current sha256 and splitter
settings *and* their number equals the `chunk_count` they record; any half-finished state fails
that test and the file is simply processed again.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

from orchestrator.errors import ConfigError, OrchestratorError
from orchestrator.knowledge.clean import CLEANING, clean_text, hidden_elements, is_instruction_key
from orchestrator.knowledge.structure import Block, heading_path, markdown_blocks, plain_text_blocks
from orchestrator.progress import EMBEDDING_CHUNKS, Progress, split_stage
from orchestrator.timing import StageClock

if TYPE_CHECKING:
    from orchestrator.config import Settings
    from orchestrator.knowledge.store import KnowledgeStore


EMBED_BATCH = 32  # chunks per embedding call: enough to batch well, small enough for steady progress
# Chunks per Chroma write: each write costs a commit and an index update whatever its size (672 chunks took
# 9.3 s of writes in batches of 32, 5.0 s in batches of 128: benchmarks/ingest_throughput.py, docs/benchmarks.md).
STORE_BATCH = 128


class UnreadableFileError(OrchestratorError):
    """A file could not be read or parsed; ingest reports it and moves on."""


@dataclass(frozen=True)
class Section:
    """A piece of a file that is split on its own: a PDF page, a JSON record, or the whole text."""

    text: str
    page: int | None = None  # 1-based PDF page number
    record: int | None = None  # 0-based JSON array index / JSONL line index


@dataclass(frozen=True)
class Chunk:
    id: str
    text: str
    metadata: dict


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


@dataclass
class IngestSummary:
    """What an ingest run did; `orchestrator ingest` prints it as a table."""

    collection: str
    files_seen: int = 0
    files_ingested: int = 0  # files whose chunks are now in the store (new, changed or unchanged)
    files_unchanged: int = 0
    skipped: list[SkippedFile] = field(default_factory=list)
    chunks_added: int = 0
    chunks_unchanged: int = 0
    chunks_removed: int = 0
    chunks_total: int = 0
    seconds: float = 0.0
    # Where the time went: parse, split, embed, store... (the reader thread's stages overlap the others).
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def files_skipped(self) -> int:
        return len(self.skipped)


# --- loaders ---------------------------------------------------------------------------------


# Byte-order marks, longest first (UTF-32's little-endian mark begins with UTF-16's).
_BOMS = [
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
]
# Without a BOM: UTF-8 if it decodes (it almost never does by accident), else Windows-1252, which is
# Latin-1 with printable characters (curly quotes, the euro sign) in place of C1 controls, else Latin-1,
# which decodes any byte. A fixed chain, not a statistical guess (charset-normalizer), so one file always
# decodes the same way; other legacy code pages (Shift-JIS, KOI8-R) need converting to UTF-8 first.
FALLBACK_ENCODINGS = ("utf-8", "cp1252", "latin-1")


def decode_text(data: bytes) -> str:
    """Text from a file's bytes: by its BOM (UTF-8, UTF-16, UTF-32), else FALLBACK_ENCODINGS in order.

    A NUL byte with no BOM means binary data (or UTF-16 without a BOM), which is refused, not decoded as Latin-1.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding)
            except UnicodeDecodeError as exc:
                raise UnreadableFileError(
                    f"not valid {encoding.upper()} text ({exc.reason} at byte {exc.start})"
                ) from None
    if b"\x00" in data:
        raise UnreadableFileError("not text: it holds NUL bytes (binary data, or UTF-16 without a byte-order mark)")
    for encoding in FALLBACK_ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any byte")  # pragma: no cover


def _read_text(path: Path) -> str:
    return decode_text(path.read_bytes())


def load_text(path: Path) -> list[Section]:
    return [Section(_read_text(path))]


def load_html(path: Path) -> list[Section]:
    """Visible text of an HTML page (BeautifulSoup with the stdlib parser, which never raises on bad markup).

    Scripts, styles, templates and hidden elements (`hidden`, `aria-hidden="true"`, `display:none`, a
    stylesheet class with `opacity:0`...: `clean.hidden_elements`) are dropped: text a reader never sees
    must not reach the model.
    """
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(path.read_bytes(), "html.parser")
    for element in hidden_elements(soup):
        if not element.decomposed:
            element.decompose()
    _write_structure_as_markdown(soup)
    lines = (line.strip() for line in soup.get_text("\n").splitlines())
    return [Section("\n".join(line for line in lines if line))]


def _flat_text(element) -> str:
    return " ".join(element.get_text(" ").split())


def _write_structure_as_markdown(soup) -> None:
    """Replace tables, headings and list items by their Markdown form, so HTML is split like Markdown.

    A table becomes header row, rule and rows ("| Plan | Monthly fee |"), which knowledge/structure.py reads
    as one line per row with its column headers; a heading becomes "## Title"; a list item "- text".
    """
    for table in soup.find_all("table"):
        rows = [
            [_flat_text(cell).replace("|", "/") for cell in row.find_all(["th", "td"])] for row in table.find_all("tr")
        ]
        rows = [row for row in rows if any(row)]
        if not rows:
            table.decompose()
            continue
        width = max(len(row) for row in rows)
        has_header = bool(table.find("th"))
        header, body = (rows[0], rows[1:]) if has_header else ([""] * width, rows)
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * width] + [
            "| " + " | ".join(row) + " |" for row in body
        ]
        table.replace_with("\n" + "\n".join(lines) + "\n")
    for level in range(1, 7):
        for heading in soup.find_all(f"h{level}"):
            heading.replace_with(f"\n{'#' * level} {_flat_text(heading)}\n")
    for item in soup.find_all("li"):
        if item.find(["ul", "ol"]) is None:
            item.replace_with(f"\n- {_flat_text(item)}\n")


def load_pdf(path: Path) -> list[Section]:
    """One section per page, so every chunk can cite its page number."""
    from pypdf import PdfReader

    # pypdf raises many exception types on damaged files (PdfReadError, KeyError, ValueError,
    # struct errors...); any of them means "this PDF cannot be read", which is what we report.
    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadableFileError("the PDF is encrypted with a password")
        return [Section(page.extract_text() or "", page=number) for number, page in enumerate(reader.pages, start=1)]
    except UnreadableFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - see comment above
        raise UnreadableFileError(f"not a readable PDF ({type(exc).__name__}: {exc})") from None


def _json_strings(value: object) -> Iterable[str]:
    """Every string leaf of a JSON value, depth first, in document order."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if not is_instruction_key(str(key)):  # "instructions_for_ai": not content
                yield from _json_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _json_strings(item)


def _json_record_section(record: object, index: int | None) -> Section:
    return Section("\n\n".join(text.strip() for text in _json_strings(record) if text.strip()), record=index)


def load_json(path: Path) -> list[Section]:
    """A top-level array gives one section per record; anything else is one section."""
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise UnreadableFileError(f"invalid JSON (line {exc.lineno}: {exc.msg})") from None
    if isinstance(data, list):
        return [_json_record_section(record, index) for index, record in enumerate(data)]
    return [_json_record_section(data, None)]


def load_jsonl(path: Path) -> list[Section]:
    """One section per non-empty line; one bad line makes the whole file unreadable."""
    sections = []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            sections.append(_json_record_section(json.loads(line), number - 1))
        except json.JSONDecodeError as exc:
            raise UnreadableFileError(f"invalid JSON on line {number} ({exc.msg})") from None
    return sections


LOADERS: dict[str, Callable[[Path], list[Section]]] = {
    ".txt": load_text,
    ".md": load_text,
    ".markdown": load_text,
    ".html": load_html,
    ".htm": load_html,
    ".pdf": load_pdf,
    ".json": load_json,
    ".jsonl": load_jsonl,
}


def load_file(path: Path) -> list[Section]:
    """Load a supported file into sections; raise UnreadableFileError with the reason otherwise."""
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise UnreadableFileError(
            f"unsupported file type {path.suffix or '(none)'}; supported: {', '.join(sorted(LOADERS))}"
        )
    try:
        sections = loader(path)
    except OrchestratorError:
        raise
    except OSError as exc:
        raise UnreadableFileError(f"cannot be read ({exc.strerror or exc})") from None
    except RecursionError:
        raise UnreadableFileError("nested too deeply to read (deeper than Python's recursion limit)") from None
    except Exception as exc:  # noqa: BLE001 - one odd file must not stop the others (a parser's own bug, say)
        raise UnreadableFileError(f"could not be parsed ({type(exc).__name__}: {str(exc)[:200]})") from None
    return [replace(section, text=clean_text(section.text)) for section in sections]  # clean.py


# --- splitting and ids -----------------------------------------------------------------------


# Bumped whenever splitting changes (v1: cut at headings, heading path in metadata, table rows as lines), so a
# collection split the old way is re-split on the next ingest: a stored chunk with another signature is stale.
SPLITTER_VERSION = "structured-v1"


def splitter_signature(settings: Settings) -> str:
    """Stored with each chunk, so changing chunk settings (or SPLITTER_VERSION, or the cleaning rules) re-splits files on the next ingest."""
    return f"{SPLITTER_VERSION}:{settings.chunk_size}:{settings.chunk_overlap}+{CLEANING}"


def _splitter(path: Path, settings: Settings):
    from langchain_text_splitters import Language, RecursiveCharacterTextSplitter

    if settings.chunk_overlap >= settings.chunk_size:
        raise ConfigError(
            f"chunk_overlap ({settings.chunk_overlap}) must be smaller than chunk_size ({settings.chunk_size}); "
            "change ORCH_CHUNK_OVERLAP or ORCH_CHUNK_SIZE."
        )
    options: dict[str, Any] = {
        "chunk_size": settings.chunk_size,
        "chunk_overlap": settings.chunk_overlap,
        "add_start_index": True,
    }
    if path.suffix.lower() in MARKDOWN_LIKE:
        return RecursiveCharacterTextSplitter.from_language(Language.MARKDOWN, **options)
    return RecursiveCharacterTextSplitter(**options)


# Files cut at their headings (the HTML loader writes headings, list items and tables the Markdown way).
MARKDOWN_LIKE = (".md", ".markdown", ".html", ".htm")


def chunk_id(source: str, text: str, occurrence: int = 0, headings: str = "") -> str:
    """sha256 of source path, heading path and chunk text; `occurrence` tells identical chunks of one file apart.

    The heading path is part of the key because the embedding reads it (`structure.indexed_text`): a renamed
    section must be embedded again. A chunk without headings keeps the key it always had.
    """
    body = f"{headings}\0{text}" if headings else text
    key = f"{source}\0{body}" if occurrence == 0 else f"{source}\0{body}\0#{occurrence}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]


def section_blocks(path: Path, section: Section, first: bool) -> list[Block]:
    """A section cut at its headings (Markdown, HTML); a plain-text file's first section may open with a title."""
    suffix = path.suffix.lower()
    if suffix in MARKDOWN_LIKE:
        return markdown_blocks(section.text)
    if suffix == ".txt" and first:
        return plain_text_blocks(section.text)
    return [Block((), section.text)] if section.text.strip() else []


def split_file(path: Path, sections: Sequence[Section], file_metadata: dict, settings: Settings) -> list[Chunk]:
    """Split sections into chunks with ids and metadata (chunk_index/chunk_count count the whole file).

    Each block under one heading path is split on its own, so no chunk straddles two sections, and every
    chunk records its `heading_path` ("Title > Section > Subsection", see knowledge/structure.py).
    """
    splitter = _splitter(path, settings)
    pieces = []
    for number, section in enumerate(sections):
        for block in section_blocks(path, section, first=number == 0):
            for doc in splitter.create_documents([block.text]):
                pieces.append(
                    (doc.page_content, doc.metadata.get("start_index"), section, heading_path(block.headings))
                )
    seen: dict[tuple[str, str], int] = defaultdict(int)
    chunks = []
    for index, (text, start, section, headings) in enumerate(pieces):
        occurrence = seen[headings, text]
        seen[headings, text] += 1
        metadata = {
            **file_metadata,
            "chunk_index": index,
            "chunk_count": len(pieces),
            "start_index": start,
            "page": section.page,
            "record": section.record,
            "heading_path": headings or None,
        }
        chunks.append(Chunk(chunk_id(file_metadata["source"], text, occurrence, headings), text, metadata))
    return chunks


# --- finding files ---------------------------------------------------------------------------


def _is_hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def check_paths_exist(paths: Sequence[str | Path]) -> None:
    """Raise ConfigError for a given path that does not exist (checked before any model loads)."""
    for given in paths:
        path = Path(given).expanduser()
        if not path.exists() and not path.is_symlink():
            raise ConfigError(f"{given} does not exist; check the path given to `orchestrator ingest`.")


def not_a_regular_file(path: Path) -> str | None:
    """Why `path` cannot be read as a document (a FIFO would block open() forever), or None for a regular file."""
    try:
        mode = path.stat().st_mode  # follows symlinks
    except OSError as exc:
        if path.is_symlink():
            return "symlink loop" if exc.errno == errno.ELOOP else "dangling symlink (its target does not exist)"
        return f"cannot be read ({exc.strerror})"
    if stat.S_ISREG(mode):
        return None
    kinds = {
        stat.S_ISFIFO: "a named pipe (FIFO)",
        stat.S_ISSOCK: "a socket",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISDIR: "a folder",
    }
    kind = next((name for test, name in kinds.items() if test(mode)), "a special file")
    return f"not a regular file ({kind})"


def discover_files(paths: Sequence[str | Path]) -> tuple[list[Path], list[SkippedFile]]:
    """Expand folders (recursively, skipping hidden entries and unsupported types) into files.

    Special files (FIFOs, sockets, devices), symlink loops and dangling links are listed as skipped.
    """
    check_paths_exist(paths)
    files: list[Path] = []
    skipped: list[SkippedFile] = []
    for given in paths:
        path = Path(given).expanduser()
        if path.is_dir():
            root = path.resolve()
            for entry in sorted(root.rglob("*")):
                if _is_hidden(entry, root) or entry.is_dir():
                    continue
                _add_file(entry, files, skipped, report_unsupported=False)
        else:
            _add_file(path, files, skipped, report_unsupported=True)
    unique = list(dict.fromkeys(files))  # a file named twice (or inside two given folders) counts once
    return unique, skipped


def _add_file(path: Path, files: list[Path], skipped: list[SkippedFile], report_unsupported: bool) -> None:
    reason = not_a_regular_file(path)
    if reason:
        skipped.append(SkippedFile(str(path), reason))
    elif path.suffix.lower() in LOADERS:
        files.append(path.resolve())
    elif report_unsupported:
        skipped.append(SkippedFile(str(path), f"unsupported file type {path.suffix or '(none)'}"))


def read_regular_file(path: Path) -> bytes:
    """The file's bytes; opened without blocking and refused unless it is a regular file (it may have changed)."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        return handle.read()


# --- syncing the store -----------------------------------------------------------------------


def _file_metadata(path: Path, data: bytes) -> dict:
    return {
        "source": str(path),
        "file_name": path.name,
        "file_type": path.suffix.lower().lstrip("."),
        "file_sha256": hashlib.sha256(data).hexdigest(),
        "file_mtime": path.stat().st_mtime,
    }


def _is_current(stored: dict[str, dict], file_sha256: str, signature: str) -> bool:
    """True when the stored chunks are exactly one complete, finished ingest of this file version."""
    if not stored:
        return False
    return all(
        meta.get("file_sha256") == file_sha256
        and meta.get("splitter") == signature
        and meta.get("chunk_count") == len(stored)
        for meta in stored.values()
    )


@dataclass
class _Plan:
    to_refresh: list[Chunk] = field(default_factory=list)  # kept chunks whose metadata changes
    to_delete: list[str] = field(default_factory=list)


def _plan_file(
    path: Path, stored: dict[str, dict], settings: Settings, plan: _Plan, summary: IngestSummary, clock: StageClock
) -> list[Chunk]:
    """Decide what one file needs and return its chunks to add; record skips in the summary. No store writes."""
    signature = splitter_signature(settings)
    try:
        data = read_regular_file(path)
    except OSError as exc:
        _skip_unreadable(path, f"cannot be read ({exc.strerror or exc})", stored, plan, summary)
        return []
    file_metadata = {**_file_metadata(path, data), "splitter": signature}
    if _is_current(stored, file_metadata["file_sha256"], signature):
        summary.files_ingested += 1
        summary.files_unchanged += 1
        summary.chunks_unchanged += len(stored)
        return []
    try:
        with clock.timed("parse"):
            sections = load_file(path)
        with clock.timed("split"):
            chunks = split_file(path, sections, file_metadata, settings)
    except UnreadableFileError as exc:
        _skip_unreadable(path, str(exc), stored, plan, summary)
        return []
    if not chunks:
        _skip_unreadable(path, _no_text_reason(path, data), stored, plan, summary)
        return []
    new_ids = {chunk.id for chunk in chunks}
    plan.to_delete.extend(chunk_id for chunk_id in stored if chunk_id not in new_ids)
    plan.to_refresh.extend(chunk for chunk in chunks if chunk.id in stored)
    summary.chunks_unchanged += sum(1 for chunk in chunks if chunk.id in stored)
    summary.files_ingested += 1
    return [chunk for chunk in chunks if chunk.id not in stored]


def _skip_unreadable(path: Path, reason: str, stored: dict[str, dict], plan: _Plan, summary: IngestSummary) -> None:
    """Skip a file that cannot be read now; chunks of an earlier version go, so no answer cites text it no longer has."""
    if stored:
        plan.to_delete.extend(stored)
        reason += f"; its {len(stored)} chunks from an earlier version were removed"
    summary.skipped.append(SkippedFile(str(path), reason))


def _no_text_reason(path: Path, data: bytes) -> str:
    if path.suffix.lower() == ".pdf":
        return "no extractable text (a scanned PDF needs OCR first)"
    return "the file is empty" if not data.strip() else "no text to index (only blank records or markup)"


_held_locks: dict[str, tuple[threading.RLock, list]] = {}  # lock file -> (thread lock, [depth, open file])
_held_locks_guard = threading.Lock()


def collection_lock_path(settings: Settings, collection: str) -> Path:
    return settings.data_dir / "locks" / f"ingest-{collection}.lock"


@contextmanager
def collection_lock(settings: Settings, collection: str, progress: Progress | None = None) -> Iterator[None]:
    """Hold the per-collection write lock: one ingest at a time, across threads and processes.

    Two processes writing one Chroma collection at once lose vectors (each persists its own copy
    of the vector index), so a second ingest waits here, saying so through `progress`. The lock
    is an flock, released by the OS if its holder dies, and re-entrant within a thread.
    """
    import fcntl

    path = collection_lock_path(settings, collection)
    with _held_locks_guard:
        thread_lock, state = _held_locks.setdefault(str(path), (threading.RLock(), [0, None]))
    with thread_lock:
        if state[0] == 0:
            handle = _open_lock_file(path)
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if progress is not None:
                    progress(f"Waiting for another ingest into collection '{collection}' to finish", 0, 0)
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            state[1] = handle
        state[0] += 1
        try:
            yield
        finally:
            state[0] -= 1
            if state[0] == 0:
                state[1].close()  # closing the file releases the flock
                state[1] = None


# Chroma keeps each vector twice (the write-ahead log in SQLite and the HNSW index: float32 plus ~32 links
# of 4 bytes), the text, the metadata and SQLite's indexes: measured at 2.9 KB per chunk for 1,310 chunks
# of 150 characters with 16-dimension vectors (3.75 MB; the knowledge base of test_damaged_knowledge_base.py).
_CHUNK_OVERHEAD_BYTES = 2500


def space_needed(chunks: Sequence[Chunk], store: KnowledgeStore) -> int:
    """A rough estimate of the disk space adding `chunks` takes."""
    per_vector = 2 * 4 * store.model_id.dimension + 32 * 4
    return sum(len(chunk.text.encode()) + per_vector + _CHUNK_OVERHEAD_BYTES for chunk in chunks)


def sources_manifest_path(settings: Settings, collection: str) -> Path:
    """Where the files a collection was built from are listed, so it can be rebuilt if Chroma's files are damaged."""
    # Not .json: a folder holding the data dir may be ingested, and this list is not a document.
    return settings.data_dir / "sources" / f"{collection}.sources"


def record_sources(settings: Settings, collection: str, sources: Iterable[str]) -> None:
    """Write the collection's source list atomically (a crash leaves the old list or the new one)."""
    from orchestrator.files import atomic_output

    path = sources_manifest_path(settings, collection)
    try:
        with atomic_output(path) as partial:
            partial.write_text(
                json.dumps({"collection": collection, "sources": sorted(s for s in sources if s)}, indent=1)
            )
    except OSError as exc:
        from orchestrator.errors import DiskWriteError, os_error_message

        raise DiskWriteError(os_error_message(exc, path) or f"Cannot write {path}: {exc.strerror}.") from None


def recorded_sources(settings: Settings, collection: str) -> list[str]:
    """The source list `record_sources` wrote, or [] when there is none (or it is unreadable)."""
    try:
        return list(json.loads(sources_manifest_path(settings, collection).read_text())["sources"])
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _open_lock_file(path: Path):
    from orchestrator.errors import DiskWriteError, os_error_message

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return open(path, "a+b")  # noqa: SIM115 - closed when the outermost holder leaves
    except OSError as exc:
        message = os_error_message(exc, path) or f"Cannot create the lock file {path}: {exc.strerror}."
        raise DiskWriteError(f"Cannot ingest: {message}") from None


def _vanished_sources(by_source: dict[str, dict[str, dict]]) -> list[str]:
    return [source for source in by_source if not Path(source).exists()]


def _no_space_message(store: KnowledgeStore, batch: Sequence[Chunk], still_to_add: int) -> str:
    """The full-disk message with this ingest's own estimate (from the batch in hand), in place of the generic one."""
    from orchestrator.errors import os_error_message

    full = OSError(errno.ENOSPC, "No space left on device", str(store.path))
    per_chunk = space_needed(batch, store) / max(1, len(batch))
    needed = max(round(per_chunk * still_to_add), 100_000)
    message = os_error_message(full, store.path, needed_bytes=needed)
    return f"{message} ({still_to_add} chunks were still to add.)"


# --- the pipeline: a reader thread parses and splits files while the caller's thread embeds and stores ------

READ_AHEAD_BATCHES = 64  # batches the reader may have ready ahead of the embedder (memory stays bounded)
LARGE_FILE_CHUNKS = 1000  # a file that makes at least this many chunks is announced with its count


@dataclass(frozen=True)
class _Failure:
    error: BaseException


_DONE = object()


class ChunkReader:
    """Reads, parses and splits files in a thread of its own; hands their new chunks over in file order.

    Parsing and splitting the next files overlaps with embedding the chunks already read (llama.cpp
    releases the GIL while it computes). Only the caller's thread reports progress and writes to the
    store: the reader sends progress events through the same queue, after the chunks they follow. An
    exception in the reader is raised in the caller's thread; when the caller stops early (an error,
    Ctrl-C) the reader stops at its next file and nothing half-read is handed over.
    """

    def __init__(
        self,
        files: Sequence[Path],
        by_source: dict[str, dict[str, dict]],
        settings: Settings,
        plan: _Plan,
        summary: IngestSummary,
        clock: StageClock,
    ) -> None:
        import queue

        self._files, self._by_source, self._settings = files, by_source, settings
        self._plan, self._summary, self._clock = plan, summary, clock
        self._queue: queue.Queue = queue.Queue(maxsize=READ_AHEAD_BATCHES)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ingest-reader", daemon=True)
        self.total_bytes = sum(_size(path) for path in files)
        self.read_bytes = 0
        self.planned_chunks = 0
        self.finished = False
        self._batch_size = EMBED_BATCH

    def estimated_total(self) -> int:
        """Chunks this ingest will embed: exact once every file is read, else scaled from the bytes read so far."""
        if self.finished or not self.read_bytes:
            return self.planned_chunks
        return max(self.planned_chunks, round(self.planned_chunks * self.total_bytes / self.read_bytes))

    def batches(self, size: int, report: Progress) -> Iterator[list[Chunk]]:
        """Batches of at most `size` new chunks, in file order; progress events are passed to `report` on the way."""
        self._batch_size = size
        self._thread.start()
        try:
            while True:
                item = self._queue.get()
                if item is _DONE:
                    return
                if isinstance(item, _Failure):
                    raise item.error
                if isinstance(item, tuple):
                    report(*item)
                else:
                    yield item
        finally:
            self._stop.set()
            self._thread.join(timeout=5)  # it stops at its next file; a daemon never blocks the exit

    def _run(self) -> None:
        try:
            pending: list[Chunk] = []
            for done, path in enumerate(self._files, start=1):
                if self._stop.is_set():
                    return
                chunks = _plan_file(
                    path, self._by_source.get(str(path), {}), self._settings, self._plan, self._summary, self._clock
                )
                if len(chunks) >= LARGE_FILE_CHUNKS:
                    self._put((split_stage(path.name), len(chunks), len(chunks)))
                self.planned_chunks += len(chunks)
                self.read_bytes += _size(path)
                pending.extend(chunks)
                while len(pending) >= self._batch_size:
                    self._put(pending[: self._batch_size])
                    pending = pending[self._batch_size :]
                self._put(("Reading files", done, len(self._files)))
            if pending:
                self._put(pending)
            self.finished = True
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread, which raises it
            self._put(_Failure(exc))
        finally:
            self._put(_DONE)

    def _put(self, item: object) -> None:
        """Queue `item`, waiting for room; give up once the caller has stopped listening."""
        import queue

        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def ingest_paths(
    paths: Sequence[str | Path],
    store: KnowledgeStore,
    settings: Settings,
    progress: Progress | None = None,
    prune: bool = False,
) -> IngestSummary:
    """Bring `store` in line with the files under `paths`; see the module docstring for the guarantees.

    With `prune`, chunks of files that no longer exist are removed as well.
    """
    with collection_lock(settings, store.name, progress):
        return _ingest_locked(paths, store, settings, progress, prune)


def _ingest_locked(
    paths, store: KnowledgeStore, settings: Settings, progress: Progress | None, prune: bool
) -> IngestSummary:
    started = time.perf_counter()
    report = progress or (lambda stage, done, total: None)
    summary = IngestSummary(collection=store.name)
    clock = StageClock()
    files, summary.skipped = discover_files(paths)
    summary.files_seen = len(files) + len(summary.skipped)

    by_source: dict[str, dict[str, dict]] = defaultdict(dict)
    with clock.timed("read the store's chunk list"):
        for chunk_id_, metadata in store.metadata_by_id().items():
            by_source[str(metadata.get("source", ""))][chunk_id_] = metadata

    # Order matters for crash safety: add, then refresh metadata, then delete (module docstring).
    plan = _Plan()
    reader = ChunkReader(files, by_source, settings, plan, summary, clock)
    added_sources: set[str] = set()
    spent_before = dict(store.seconds_spent)
    report(EMBEDDING_CHUNKS, 0, reader.estimated_total())
    unwritten: list[tuple[Chunk, list[float]]] = []  # embedded, waiting for the next Chroma write

    def write(pending: list[tuple[Chunk, list[float]]]) -> None:
        chunks = [chunk for chunk, _ in pending]
        try:
            store.add(
                [c.text for c in chunks], [c.metadata for c in chunks], [c.id for c in chunks], [v for _, v in pending]
            )
        except OrchestratorError as exc:
            if "No space left" not in str(exc):
                raise
            still_to_add = max(len(chunks), reader.estimated_total() - summary.chunks_added)
            raise type(exc)(_no_space_message(store, chunks, still_to_add)) from None
        summary.chunks_added += len(chunks)
        added_sources.update(str(chunk.metadata["source"]) for chunk in chunks)
        pending.clear()

    embedded = 0
    for batch in reader.batches(EMBED_BATCH, report):
        unwritten.extend(zip(batch, store.embed([c.text for c in batch], [c.metadata for c in batch])))
        embedded += len(batch)
        if len(unwritten) >= STORE_BATCH:
            write(unwritten)
        report(EMBEDDING_CHUNKS, embedded, reader.estimated_total())
    write(unwritten)
    for name, seconds in store.seconds_spent.items():
        clock.add(name, seconds - spent_before.get(name, 0.0))
    if prune:
        for source in _vanished_sources(by_source):
            plan.to_delete.extend(by_source[source])
    with clock.timed("refresh and delete"):
        store.update_metadata([c.id for c in plan.to_refresh], [c.metadata for c in plan.to_refresh])
        to_delete = list(dict.fromkeys(plan.to_delete))
        store.delete(to_delete)
    pruned = set(_vanished_sources(by_source)) if prune else set()
    record_sources(settings, store.name, (set(by_source) - pruned) | added_sources)

    summary.chunks_removed = len(to_delete)
    summary.chunks_total = store.count()
    summary.seconds = time.perf_counter() - started
    summary.stage_seconds = dict(clock.seconds)
    return summary
