"""Persistent knowledge-base collections in Chroma, through `langchain-chroma`.

This is the only module that imports chromadb or langchain_chroma. Two rules hold everywhere:

* Chroma's own default embedding function (which downloads an ONNX model) is never invoked: every
  collection is created and opened with `embedding_function=None`, and vectors always come from our
  LangChain `Embeddings`, so Chroma is only ever handed ready-made vectors.
* A collection remembers which embedding model built it (name, sha256, size, dimension in the
  collection metadata). Opening it with another model is refused, because vectors from two models
  are not comparable and the search would silently return nonsense.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import re
import shutil
import struct
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence

from orchestrator.config import validate_collection_name
from orchestrator.errors import OrchestratorError, os_error_message
from orchestrator.knowledge.structure import indexed_text

if TYPE_CHECKING:
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings

    from orchestrator.config import Settings

CHROMA_DIRNAME = "chroma"
BM25_DIRNAME = "bm25"
# Collection metadata key of the write stamp: a new random value before every change to the chunks, so a
# keyword index (keyword_index.py) or a resumed batch tells in O(1) whether the collection changed.
WRITE_STAMP_KEY = "write_stamp"
# Chroma's rule for collection names (checked here so the message can say what to change).
# Cosine distance, so 1 - distance is the cosine similarity our relevance scores are built on.
_COLLECTION_CONFIGURATION = {"hnsw": {"space": "cosine"}}
_GET_PAGE = 5000  # rows per Collection.get call when reading a whole collection
REPAIR_COMMAND = "orchestrator collections --check --repair"
# Chroma's persisted HNSW index (its hnswlib fork): header.bin starts with an int32 version, then size_t
# offsetLevel0, max_elements, cur_element_count, size_data_per_element; data_level0.bin holds the vectors.
_HNSW_COUNTS = struct.Struct("<QQ")
_HNSW_COUNTS_OFFSET = 4 + 8 + 8
SELF_CHECK_SAMPLE = 16  # chunks searched by their own vector when a collection is opened
SELF_CHECK_MAX_MISSES = 1  # an approximate index may miss one; a damaged one misses many


class KnowledgeStoreError(OrchestratorError):
    """The knowledge-base store cannot be opened or used as asked."""


class KnowledgeStoreUnwritable(KnowledgeStoreError):
    """The store's files cannot be written (no permission, read-only file system, disk full); they are not damaged."""


@dataclass(frozen=True)
class EmbeddingModelId:
    """Which embedding model built a collection: vectors of different models never mix."""

    name: str
    sha256: str
    size: int
    dimension: int

    def as_metadata(self) -> dict[str, Any]:
        return {
            "embedding_model": self.name,
            "embedding_sha256": self.sha256,
            "embedding_size": self.size,
            "embedding_dimension": self.dimension,
        }

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any] | None) -> EmbeddingModelId | None:
        metadata = metadata or {}
        try:
            return cls(
                name=str(metadata["embedding_model"]),
                sha256=str(metadata["embedding_sha256"]),
                size=int(metadata["embedding_size"]),
                dimension=int(metadata["embedding_dimension"]),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def same_model(self, other: EmbeddingModelId) -> bool:
        """Same weights and dimension (the file name may differ)."""
        return (self.sha256, self.size, self.dimension) == (other.sha256, other.size, other.dimension)

    def describe(self) -> str:
        return f"{self.name} (dim {self.dimension}, sha256 {self.sha256[:12]})"


@dataclass(frozen=True)
class CollectionInfo:
    """One row of `orchestrator collections`."""

    name: str
    count: int
    embedding_model: str


def embedding_model_id(model_path: Path, embeddings: Embeddings) -> EmbeddingModelId:
    """Identify an embedding model by its file's sha256 and size, and the dimension it produces."""
    stat = model_path.stat()
    dimension = len(embeddings.embed_query("dimension probe"))
    return EmbeddingModelId(
        model_path.stem, _file_sha256(str(model_path), stat.st_size, stat.st_mtime_ns), stat.st_size, dimension
    )


SERVED_MODEL_PREFIX = "server:"  # the name of a model on an embedding server (embeddings_backend=openai)


def served_embedding_model_id(served_name: str, dimension: int) -> EmbeddingModelId:
    """Identify a model on an embedding server by the name it reports and the size of its vectors.

    A server cannot show which weights it runs, so its model name stands for them: the same name
    reached through another URL (a load balancer, another port) is the same model.
    """
    digest = hashlib.sha256(f"{SERVED_MODEL_PREFIX}{served_name}".encode()).hexdigest()
    return EmbeddingModelId(f"{SERVED_MODEL_PREFIX}{served_name}", digest, 0, dimension)


def injected_embeddings_id(embeddings: Embeddings) -> EmbeddingModelId:
    """Identify embeddings that come with no model file (passed to build_app): by class and by their output.

    The sha256 is of the vector they give a fixed probe text (rounded, so float noise does not
    matter), so two configurations that embed differently never share a collection or a cache.
    """
    import json

    vector = [round(float(x), 4) for x in embeddings.embed_query("dimension probe")]
    digest = hashlib.sha256(json.dumps([type(embeddings).__qualname__, vector]).encode()).hexdigest()
    return EmbeddingModelId(type(embeddings).__name__, digest, 0, len(vector))


@functools.lru_cache(maxsize=8)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    """sha256 of a file, hashed once per process while its size and mtime stay the same."""
    from orchestrator.files import sha256_of

    return sha256_of(Path(path))


def chroma_dir(settings: Settings) -> Path:
    """Where Chroma keeps its persistent files."""
    return settings.data_dir / CHROMA_DIRNAME


def chroma_location(settings: Settings) -> str:
    """The Chroma server's URL in server mode, else the embedded store's folder."""
    if settings.chroma_host:
        scheme = "https" if settings.chroma_ssl else "http"
        return f"{scheme}://{settings.chroma_host}:{settings.chroma_port}"
    return str(chroma_dir(settings))


def _recovery_hint(path: Path | str) -> str:
    if str(path).startswith(("http://", "https://")):
        return "Check the Chroma server's log; this app never deletes or rebuilds a server's data."
    return (
        f"Repair it with `{REPAIR_COMMAND}` (re-ingests your documents from their files), or move it aside "
        f"and ingest again, e.g. `mv {path} {path}.broken` then `orchestrator ingest PATH...`. Nothing was deleted."
    )


def _is_rust_panic(exc: BaseException) -> bool:
    """chromadb's Rust core reports a damaged file as pyo3's PanicException, a BaseException."""
    return type(exc).__name__ == "PanicException"


def _store_error(path: Path | str, action: str, exc: BaseException) -> KnowledgeStoreError:
    """The error for a failed store operation: disk full and permissions named as such, else possible damage."""
    cause = _os_cause(exc, path)
    if cause is not None:
        return KnowledgeStoreUnwritable(f"The knowledge base at {path} could not {action}: {cause}")
    return KnowledgeStoreError(
        f"The knowledge base at {path} could not {action} ({type(exc).__name__}: {str(exc).strip()[:300]}). "
        "It may be damaged or written by an incompatible chromadb version. " + _recovery_hint(path)
    )


# What sqlite and chromadb's Rust core say for a full disk or a file they may not write.
_NO_SPACE = re.compile(r"disk is full|no space left|SQLITE_FULL|os error 28", re.IGNORECASE)
_READ_ONLY = re.compile(
    r"readonly database|read-only|permission denied|SQLITE_READONLY|os error (13|30)|unable to open database file",
    re.IGNORECASE,
)


def _on_read_only_file_system(path: Path | str) -> bool:
    import os

    for folder in (Path(path), *Path(path).parents):
        try:
            return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
        except OSError:
            continue
    return False


LOW_SPACE_BYTES = 32 * 1024 * 1024  # below this, a failed write is taken to be the full disk's doing


def _nearly_full(path: Path | str) -> bool:
    existing = next((p for p in (Path(path), *Path(path).parents) if p.exists()), Path("/"))
    try:
        return shutil.disk_usage(existing).free < LOW_SPACE_BYTES
    except OSError:
        return False


def _unwritable(path: Path | str) -> bool:
    import os

    existing = next((p for p in (Path(path), *Path(path).parents) if p.exists()), Path("/"))
    return _on_read_only_file_system(existing) or not os.access(existing, os.W_OK)


def _os_cause(exc: BaseException, path: Path | str) -> str | None:
    """ "No space left" or "no permission" when that is what went wrong (sqlite and Rust name no errno)."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return os_error_message(exc, exc.filename or path)
    text = str(exc)
    if _NO_SPACE.search(text):
        return os_error_message(OSError(errno.ENOSPC, "No space left on device", str(path)), path)
    if _nearly_full(path):  # chromadb's Rust core often reports a full disk as a failed compaction
        return os_error_message(OSError(errno.ENOSPC, "No space left on device", str(path)), path)
    if _READ_ONLY.search(text) and _unwritable(path):
        code = errno.EROFS if _on_read_only_file_system(path) else errno.EACCES
        return os_error_message(OSError(code, "Permission denied", str(path)), path)
    return None


@contextmanager
def _chroma_errors(path: Path | str, action: str) -> Iterator[None]:
    """Turn Chroma/SQLite failures into an error that says how to recover; never rebuild silently."""
    import sqlite3

    from chromadb.errors import ChromaError

    try:
        yield
    except OrchestratorError:
        raise
    except (ChromaError, sqlite3.DatabaseError, OSError) as exc:
        raise _store_error(path, action, exc) from exc
    except BaseException as exc:
        if not _is_rust_panic(exc):
            raise
        raise _store_error(path, action, exc) from None


def _http_client(settings: Settings):
    """A client for a Chroma server (`chroma run`), with the token as a bearer header if set."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    token = settings.chroma_token.get_secret_value() if settings.chroma_token else None
    location = chroma_location(settings)
    try:
        client = chromadb.HttpClient(
            host=settings.chroma_host or "",
            port=settings.chroma_port,
            ssl=settings.chroma_ssl,
            headers={"Authorization": f"Bearer {token}"} if token else None,
            settings=ChromaSettings(anonymized_telemetry=False),
        )
        client.heartbeat()
        return client
    except Exception as exc:  # noqa: BLE001 - connection errors come as several chromadb/httpx types
        raise KnowledgeStoreError(
            f"The Chroma server at {location} is not reachable ({type(exc).__name__}: {exc}). Start it "
            f"(`chroma run --path DIR --host {settings.chroma_host} --port {settings.chroma_port}`), or unset "
            "ORCH_CHROMA_HOST to use the embedded store."
        ) from None


def _client(settings: Settings, fresh: bool = False, rebuilding: bool = False, reading: bool = False):
    """The configured Chroma client: a server's, or a persistent one in the data directory.

    A database that lost its contents (`lost_database`) is refused unless `rebuilding` (the repair).
    `reading`: the caller never writes through it, so a full disk does not stop it (`_read_snapshot`).
    """
    if settings.chroma_host:
        return _http_client(settings)
    if not rebuilding:
        refuse_lost_database(settings)
    return _persistent_client(chroma_dir(settings), fresh, reading)


def recorded_collections(settings: Settings) -> list[str]:
    """The collections whose source files ingest recorded (knowledge/ingest.py, record_sources)."""
    folder = recorded_sources_dir(settings)
    return sorted(path.stem for path in folder.glob("*.sources")) if folder.is_dir() else []


def lost_database(settings: Settings) -> str | None:
    """Why the embedded database lost everything: chroma.sqlite3 is missing or empty, yet collections were
    recorded as built from files. None when it has contents, or when nothing was ever ingested."""
    from orchestrator.knowledge.ingest import recorded_sources

    if settings.chroma_host:
        return None
    db = chroma_dir(settings) / "chroma.sqlite3"
    try:
        size: int | None = db.stat().st_size
    except FileNotFoundError:
        size = None
    except OSError:
        return None  # unreadable: opening it says why
    if size:
        return None
    built = [name for name in recorded_collections(settings) if recorded_sources(settings, name)]
    if not built:
        return None
    state = "is missing" if size is None else "is empty (0 bytes)"
    return f"{db} {state}, but collection{'s' if len(built) > 1 else ''} {', '.join(map(repr, built))} had been built there"


def refuse_lost_database(settings: Settings) -> None:
    """KnowledgeStoreError naming the repair when `lost_database` finds one; never an empty store in its place."""
    problem = lost_database(settings)
    if problem:
        raise KnowledgeStoreError(
            f"The knowledge base is damaged: {problem}. Rebuild it from the recorded files with `{REPAIR_COMMAND}`, "
            f"or, to start over without them, delete the lists in {recorded_sources_dir(settings)}. Nothing was deleted."
        )


def recorded_sources_dir(settings: Settings) -> Path:
    """The folder of the source lists ingest records, one per collection."""
    from orchestrator.knowledge.ingest import sources_manifest_path

    return sources_manifest_path(settings, "x").parent


def _persistent_client(path: Path, fresh: bool = False, reading: bool = False):
    """A persistent Chroma client with telemetry off (the app is offline-first).

    chromadb keeps one system per path and process, whose vector index is loaded once and never sees
    another process's writes. `fresh` drops that cache first, so a writer holding the collection lock
    (see knowledge/ingest.py) starts from what is on disk now; clients opened earlier keep working.
    `reading`: the caller only reads, so on a full disk the store is read from a snapshot (`_read_snapshot`).
    """
    import sqlite3

    import chromadb
    from chromadb.api.shared_system_client import SharedSystemClient
    from chromadb.config import Settings as ChromaSettings
    from chromadb.errors import ChromaError

    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _store_error(path, "be created", exc) from None
    if _unwritable(path) or _unwritable(path / "chroma.sqlite3"):
        # chromadb cannot open a store it may not write, and fails differently on each later attempt.
        code = errno.EROFS if _on_read_only_file_system(path) else errno.EACCES
        cause = os_error_message(OSError(code, "Permission denied", str(path)), path)
        raise KnowledgeStoreUnwritable(f"The knowledge base at {path} could not be opened: {cause}")
    damage = database_damage(path)
    if damage:
        raise KnowledgeStoreError(
            f"The knowledge base at {path} could not be opened: chroma.sqlite3 fails SQLite's integrity check "
            f"({damage}). " + _recovery_hint(path)
        )
    if fresh:
        SharedSystemClient.clear_system_cache()
        _snapshots.pop(str(path), None)
    with _chroma_errors(path, "be opened"):
        try:
            client = chromadb.PersistentClient(
                path=str(_snapshots.get(str(path), path)),
                settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False),
            )
            client.heartbeat()
            return client
        except (ChromaError, sqlite3.DatabaseError, OSError) as exc:
            if not (reading and _no_space(exc, path)) or str(path) in _snapshots:
                raise
            _snapshots[str(path)] = _read_snapshot(path)
            return _persistent_client(path, reading=True)
        except Exception as exc:  # noqa: BLE001
            # After a first failed open, chromadb 1.5's cleanup raises AttributeError on the next
            # attempt for the same path; any failure here means "cannot open this directory".
            raise ChromaError(f"{type(exc).__name__}: {exc}") from exc  # type: ignore[abstract]


# Embedded stores read through a snapshot in this process (see _read_snapshot): store folder -> snapshot folder.
_snapshots: dict[str, Path] = {}


def _no_space(exc: BaseException, path: Path | str) -> bool:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return True
    return bool(_NO_SPACE.search(str(exc))) or _nearly_full(path)


def _read_snapshot(path: Path) -> Path:
    """A copy of chroma.sqlite3 (its vector index folders linked, not copied) where there is room, for reading.

    chromadb writes a row into chroma.sqlite3 whenever it opens it (its `acquire_write` table), which a
    full disk refuses, so even a search would fail. The copy goes to /dev/shm (memory) or the temporary
    folder, whichever has room; it is removed when the process exits. Writers never use it.
    """
    import atexit
    import tempfile

    needed = sum(f.stat().st_size for f in path.glob("chroma.sqlite3*")) + LOW_SPACE_BYTES
    for base in ("/dev/shm", tempfile.gettempdir()):
        try:
            if shutil.disk_usage(base).free < needed:
                continue
            target = Path(tempfile.mkdtemp(prefix="orchestrator-read-", dir=base))
        except OSError:
            continue
        atexit.register(shutil.rmtree, target, ignore_errors=True)
        try:
            for entry in path.iterdir():
                if entry.is_dir():
                    (target / entry.name).symlink_to(entry)
                elif entry.name.startswith("chroma.sqlite3"):  # with a journal or WAL, if any
                    shutil.copy2(entry, target / entry.name)
            return target
        except OSError:
            shutil.rmtree(target, ignore_errors=True)
    raise OSError(errno.ENOSPC, "No space left on device (not even for a temporary copy to read from)", str(path))


def database_damage(path: Path) -> str | None:
    """What SQLite's quick_check finds wrong with chroma.sqlite3 under `path`, or None when it is sound or absent.

    Checked before chromadb opens the file: its Rust core panics on a malformed page instead of
    raising an error (a 70-line traceback on every command).
    """
    import sqlite3
    from contextlib import closing

    db = path / "chroma.sqlite3"
    if not db.is_file():
        return None
    try:
        with closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)) as connection:
            rows = connection.execute("PRAGMA quick_check(5)").fetchall()
    except sqlite3.OperationalError as exc:
        if "malformed" in str(exc) or "not a database" in str(exc):
            return str(exc)
        return None  # e.g. locked or unreadable: chromadb's own error says what it is
    except sqlite3.DatabaseError as exc:
        return str(exc)
    problems = [str(row[0]) for row in rows if row and row[0] != "ok"]
    return "; ".join(problems)[:300] if problems else None


def vector_index_damage(path: Path, collection_id: str) -> str | None:
    """Why the persisted vector index of a collection cannot be whole (a data file shorter than its header says)."""
    import sqlite3
    from contextlib import closing

    try:
        with closing(sqlite3.connect(f"{(path / 'chroma.sqlite3').as_uri()}?mode=ro", uri=True)) as connection:
            segments = [
                row[0]
                for row in connection.execute(
                    "SELECT id FROM segments WHERE collection = ? AND scope = 'VECTOR'", (collection_id,)
                )
            ]
    except sqlite3.Error:
        return None  # database_damage reports a damaged database
    for segment in segments:
        header, data = path / segment / "header.bin", path / segment / "data_level0.bin"
        if not header.is_file():
            continue  # not persisted yet: the vectors are still in the write-ahead log
        raw = header.read_bytes()
        if len(raw) < _HNSW_COUNTS_OFFSET + _HNSW_COUNTS.size:
            return f"{header} is truncated ({len(raw)} bytes)"
        count, per_vector = _HNSW_COUNTS.unpack_from(raw, _HNSW_COUNTS_OFFSET)
        size = data.stat().st_size if data.is_file() else 0
        if count * per_vector > size:
            return (
                f"{data} has {size:,} bytes, but the index lists {count:,} vectors of {per_vector} bytes "
                f"({count * per_vector:,} bytes): the file was truncated"
            )
    return None


def collection_damage(collection, path: Path | str) -> str | None:
    """What is wrong with a Chroma collection's vector index, or None: a truncated index file, vectors that
    cannot be read, or chunks that a search for their own vector does not find (SELF_CHECK_SAMPLE, spread out)."""
    if not str(path).startswith(("http://", "https://")):
        problem = vector_index_damage(Path(path), str(collection.id))
        if problem:
            return problem
    try:
        misses, tried = self_retrieval_misses(collection, path, SELF_CHECK_SAMPLE)
    except KnowledgeStoreError as exc:
        return f"its vectors cannot be read ({exc.__cause__ or exc})"
    if misses > SELF_CHECK_MAX_MISSES:
        return f"{misses} of {tried} chunks searched by their own vector were not found (the vector index is damaged)"
    return None


def self_retrieval_misses(collection, path: Path | str, sample: int) -> tuple[int, int]:
    """(chunks not among the 3 nearest to their own stored vector, chunks tried)."""
    with _chroma_errors(path, "check its vector index"):
        count = collection.count()
        ids, vectors = [], []
        for offset in sorted({i * count // sample for i in range(min(sample, count))}):
            page = collection.get(limit=1, offset=offset, include=["embeddings"])
            if page["ids"]:
                ids.append(page["ids"][0])
                vectors.append(list(page["embeddings"][0]))
        if not ids:
            return 0, 0
        found = collection.query(query_embeddings=vectors, n_results=min(3, count), include=["distances"])
    misses = sum(
        chunk_id not in hits and not any(d < 1e-6 for d in distances)  # a duplicate chunk may come first
        for chunk_id, hits, distances in zip(ids, found["ids"], found["distances"])
    )
    return misses, len(ids)


@dataclass(frozen=True)
class CollectionHealth:
    """One row of `orchestrator collections --check`."""

    name: str
    count: int | None
    problem: str | None


def check_collections(settings: Settings) -> list[CollectionHealth]:
    """Every collection's health; raises KnowledgeStoreError when the database itself is damaged."""
    path = chroma_location(settings)
    refuse_lost_database(settings)
    if not settings.chroma_host and not (chroma_dir(settings) / "chroma.sqlite3").exists():
        return []
    client = _client(settings, fresh=True, reading=True)
    rows = []
    for name in sorted(_collection_names(client, path)):
        with _chroma_errors(path, f"open collection {name!r}"):
            collection = client.get_collection(name, embedding_function=None)
            count = collection.count()
        rows.append(CollectionHealth(name, count, collection_damage(collection, path)))
    return rows


def collection_sources(settings: Settings, name: str) -> list[str]:
    """The source files named in a collection's chunk metadata (kept in SQLite, readable with a damaged index)."""
    path = chroma_location(settings)
    client = _client(settings, reading=True)
    sources: set[str] = set()
    with _chroma_errors(path, f"read collection {name!r}"):
        collection = client.get_collection(name, embedding_function=None)
        offset = 0
        while True:
            page = collection.get(include=["metadatas"], limit=_GET_PAGE, offset=offset)
            sources.update(str(m["source"]) for m in page["metadatas"] or [] if m and m.get("source"))
            if len(page["ids"]) < _GET_PAGE:
                return sorted(sources)
            offset += len(page["ids"])


def _ids_fingerprint(ids: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for chunk_id in sorted(ids):
        digest.update(chunk_id.encode() + b"\n")
    return digest.hexdigest()


def _reading_client_with(settings: Settings, name: str):
    """A reading Chroma client when the collection exists, else None (a lost database is refused first)."""
    if not settings.chroma_host and not (chroma_dir(settings) / "chroma.sqlite3").exists():
        refuse_lost_database(settings)
        return None
    client = _client(settings, reading=True)
    return client if name in _collection_names(client, chroma_location(settings)) else None


def collection_fingerprint(settings: Settings, name: str) -> str | None:
    """KnowledgeStore.fingerprint of a collection, without an embedding model; None when it does not exist."""
    path = chroma_location(settings)
    if (client := _reading_client_with(settings, name)) is None:
        return None
    ids: list[str] = []
    with _chroma_errors(path, f"read collection {name!r}"):
        collection = client.get_collection(name, embedding_function=None)
        while True:
            page = collection.get(include=[], limit=_GET_PAGE, offset=len(ids))
            ids.extend(page["ids"])
            if len(page["ids"]) < _GET_PAGE:
                return _ids_fingerprint(ids)


def collection_write_stamp(settings: Settings, name: str) -> str | None:
    """What a resumed batch compares: the collection's write stamp (O(1)); None when it does not exist.

    A collection no stamping version of this app has written yet has none: then its fingerprint (a scan of
    every chunk id) stands in, until its first write or keyword-index check gives it a stamp.
    """
    path = chroma_location(settings)
    if (client := _reading_client_with(settings, name)) is None:
        return None
    with _chroma_errors(path, f"read collection {name!r}"):
        stamp = (client.get_collection(name, embedding_function=None).metadata or {}).get(WRITE_STAMP_KEY)
    return f"stamp-{stamp}" if stamp else collection_fingerprint(settings, name)


def move_aside(settings: Settings) -> Path:
    """Rename the embedded store's folder to chroma.damaged-<time>, so a new one can be built; return the new name."""
    import time

    path = chroma_dir(settings)
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    path.rename(aside)
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    return aside


def _existing_collection(client, path: Path | str, name: str):
    """The named collection, or None when there is none: only that one is opened, however many there are."""
    from chromadb.errors import NotFoundError

    with _chroma_errors(path, f"open collection {name!r}"):
        try:
            return client.get_collection(name, embedding_function=None)
        except NotFoundError:
            return None


def collection_size(settings: Settings, name: str) -> int | None:
    """How many chunks one collection holds, None when it does not exist; no other collection is opened."""
    path = chroma_location(settings)
    refuse_lost_database(settings)
    if not settings.chroma_host and not (chroma_dir(settings) / "chroma.sqlite3").exists():
        return None
    collection = _existing_collection(_client(settings, reading=True), path, validate_collection_name(name))
    if collection is None:
        return None
    with _chroma_errors(path, f"count the chunks of collection {name!r}"):
        return collection.count()


def _collection_names(client, path: Path | str) -> list[str]:
    with _chroma_errors(path, "list its collections"):
        return [collection.name for collection in client.list_collections()]


def list_collections(settings: Settings) -> list[CollectionInfo]:
    """Every collection with its chunk count and the embedding model that built it."""
    path = chroma_location(settings)
    refuse_lost_database(settings)
    if not settings.chroma_host and not (chroma_dir(settings) / "chroma.sqlite3").exists():
        return []
    client = _client(settings, reading=True)
    rows = []
    with _chroma_errors(path, "read its collections"):
        for name in sorted(_collection_names(client, path)):
            collection = client.get_collection(name, embedding_function=None)
            model = EmbeddingModelId.from_metadata(collection.metadata)
            rows.append(CollectionInfo(name, collection.count(), model.describe() if model else "unknown"))
    return rows


def delete_collection(settings: Settings, name: str) -> bool:
    """Delete a collection and its keyword index; False when it did not exist."""
    path = chroma_location(settings)
    client = _client(settings)
    existed = validate_collection_name(name) in _collection_names(client, path)
    if existed:
        with _chroma_errors(path, f"delete collection {name!r}"):
            client.delete_collection(name)
    shutil.rmtree(settings.data_dir / BM25_DIRNAME / name, ignore_errors=True)
    return existed


def open_store(
    settings: Settings,
    embeddings: Embeddings,
    model_id: EmbeddingModelId,
    collection: str | None = None,
    reset: bool = False,
    fresh: bool = False,
    verify: bool = True,
    read_only: bool = False,
) -> KnowledgeStore:
    """Open (creating if needed) a collection built with `model_id`; refuse one built with another model.

    `reset=True` deletes the collection first, which is how a user switches embedding models.
    `fresh=True` reloads Chroma's state from disk (for a writer that holds the collection lock).
    An existing collection is checked once per process (`KnowledgeStore.damage`), and a database that lost its
    contents is refused (`lost_database`); both raise KnowledgeStoreError naming the repair command, unless
    `verify=False` (the repair itself). `read_only=True` promises no writes, so a full disk does not stop a search.
    """
    from langchain_chroma import Chroma

    name = validate_collection_name(collection or settings.collection)
    path = chroma_location(settings)
    client = _client(settings, fresh, rebuilding=not verify, reading=read_only)
    if reset:
        delete_collection(settings, name)
    existing = _existing_collection(client, path, name)
    if existing is not None:
        _check_model(name, existing.metadata, model_id)
    with _chroma_errors(path, f"open collection {name!r}"):
        vectorstore = Chroma(
            collection_name=name,
            embedding_function=embeddings,
            client=client,
            collection_metadata=model_id.as_metadata(),
            collection_configuration=_COLLECTION_CONFIGURATION,  # type: ignore[arg-type]
        )
    store = KnowledgeStore(vectorstore, embeddings, model_id, name, path, settings.data_dir / BM25_DIRNAME / name)
    if verify and (path, name) not in _verified:
        problem = store.damage()
        if problem:
            raise KnowledgeStoreError(
                f"Collection {name!r} of the knowledge base at {path} is damaged: {problem}. " + _recovery_hint(path)
            )
        _verified.add((path, name))
    return store


_verified: set[tuple[str, str]] = set()  # collections checked by this process (the check costs a few searches)


def _check_model(name: str, metadata: dict | None, wanted: EmbeddingModelId) -> None:
    stored = EmbeddingModelId.from_metadata(metadata)
    if stored is not None and stored.same_model(wanted):
        return
    built_with = stored.describe() if stored else "an unknown embedding model"
    raise KnowledgeStoreError(
        f"Collection {name!r} was built with {built_with}, but the configured embedding model is "
        f"{wanted.describe()}. Vectors of different models cannot be compared: re-ingest with "
        f"`orchestrator ingest --collection {name} --reset PATH...`, or set ORCH_EMBEDDING_MODEL "
        "(or ORCH_EMBEDDINGS_BACKEND and ORCH_EMBEDDINGS_SERVER_MODEL) back."
    )


class KnowledgeStore:
    """One Chroma collection plus the bookkeeping ingest and retrieval need.

    `generation` increases on every write in this process, so a retriever can tell when its
    keyword index is stale without asking Chroma. Every change to the chunks goes through `_recorded_write`,
    which keeps the collection's keyword index (keyword_index.py) in step with Chroma.
    """

    def __init__(
        self,
        vectorstore: Any,
        embeddings: Embeddings,
        model_id: EmbeddingModelId,
        name: str,
        path: Path | str,
        keyword_index_dir: Path,
    ) -> None:
        self.vectorstore = vectorstore  # a langchain_chroma.Chroma
        self.embeddings = embeddings
        self.model_id = model_id
        self.name = name
        self.path = path
        self.keyword_index_dir = keyword_index_dir
        self.generation = 0
        self.seconds_spent = {"embed": 0.0, "store": 0.0}  # in add(), since the store was opened
        self._keyword_index: Any = None  # a keyword_index.KeywordIndex, opened on first use

    @property
    def _collection(self):
        return self.vectorstore._collection

    def count(self) -> int:
        with _chroma_errors(self.path, "count chunks"):
            return self._collection.count()

    def damage(self) -> str | None:
        """What is wrong with this collection's vector index, or None (see `collection_damage`)."""
        return collection_damage(self._collection, self.path)

    def embed(self, texts: Sequence[str], metadatas: Sequence[dict]) -> list[list[float]]:
        """The vectors `add` stores for these chunks: the embedding of `indexed_text` (heading path, then text)."""
        import time

        started = time.perf_counter()
        vectors = self.embeddings.embed_documents([indexed_text(t, m) for t, m in zip(texts, metadatas)])
        self.seconds_spent["embed"] += time.perf_counter() - started
        return vectors

    def add(
        self,
        texts: Sequence[str],
        metadatas: Sequence[dict],
        ids: Sequence[str],
        vectors: Sequence[Sequence[float]] | None = None,
    ) -> None:
        """Embed (unless `vectors` come from `embed`) and upsert chunks (upsert: re-adding an id after a crash is harmless).

        The vector is the embedding of `indexed_text` (the chunk's heading path, then its text); the stored
        document is the text alone, which is what answers show.
        """
        if not ids:
            return
        import time

        if vectors is None:
            vectors = self.embed(texts, metadatas)
        indexed = [indexed_text(t, m) for t, m in zip(texts, metadatas)]
        headings = [str(m.get("heading_path") or "") for m in metadatas]
        started = time.perf_counter()
        with self._recorded_write() as keywords:
            with _chroma_errors(self.path, "add chunks"):
                self._collection.upsert(
                    ids=list(ids),
                    embeddings=[list(v) for v in vectors],
                    documents=list(texts),
                    metadatas=[_clean(m) for m in metadatas],
                )
            keywords.put(list(zip(ids, headings, indexed)))
        self.seconds_spent["store"] += time.perf_counter() - started
        self.generation += 1

    def update_metadata(self, ids: Sequence[str], metadatas: Sequence[dict]) -> None:
        """Rewrite chunks' metadata without re-embedding them.

        The keyword index is not touched: it reads the text and the heading path, and a chunk's id hashes both
        (ingest.chunk_id), so a kept id keeps them.
        """
        if not ids:
            return
        with _chroma_errors(self.path, "update chunk metadata"):
            for start in range(0, len(ids), _GET_PAGE):
                self._collection.update(
                    ids=list(ids[start : start + _GET_PAGE]),
                    metadatas=[_clean(m) for m in metadatas[start : start + _GET_PAGE]],
                )
        self.generation += 1

    def delete(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        with self._recorded_write() as keywords:
            with _chroma_errors(self.path, "delete chunks"):
                for start in range(0, len(ids), _GET_PAGE):
                    self._collection.delete(ids=list(ids[start : start + _GET_PAGE]))
            keywords.remove(list(ids))
        self.generation += 1

    def metadata_by_id(self) -> dict[str, dict]:
        """Every chunk id with its metadata (what ingest compares files against)."""
        return {chunk_id: metadata for chunk_id, metadata, _ in self._scan(include=["metadatas"])}

    def texts_by_id(self) -> dict[str, str]:
        """Every chunk id with its text."""
        return {chunk_id: text for chunk_id, _, text in self._scan(include=["documents"])}

    def indexed_texts_by_id(self) -> dict[str, tuple[str, str]]:
        """Every chunk id with (its heading path, its indexed text): what the keyword index is built from."""
        return {
            chunk_id: (str(metadata.get("heading_path") or ""), indexed_text(text, metadata))
            for chunk_id, metadata, text in self._scan(include=["documents", "metadatas"])
        }

    # --- the keyword index and the write stamp (knowledge/keyword_index.py) ---

    def write_stamp(self) -> str | None:
        """The collection's write stamp, read from Chroma now (one metadata read); None if it was never set."""
        with _chroma_errors(self.path, "read its write stamp"):
            collection = self.vectorstore._client.get_collection(self.name, embedding_function=None)
        return (collection.metadata or {}).get(WRITE_STAMP_KEY)

    def _new_write_stamp(self) -> str:
        """Give the collection a new random write stamp (its other metadata kept) and return it."""
        import uuid

        stamp = uuid.uuid4().hex
        with _chroma_errors(self.path, "record a write"):
            collection = self.vectorstore._client.get_collection(self.name, embedding_function=None)
            collection.modify(metadata={**(collection.metadata or {}), WRITE_STAMP_KEY: stamp})
        return stamp

    def _open_keyword_index(self):
        from orchestrator.knowledge.keyword_index import KeywordIndex

        if self._keyword_index is None:
            self._keyword_index = KeywordIndex.open(self.keyword_index_dir)
        return self._keyword_index

    @contextmanager
    def _recorded_write(self) -> Iterator[Any]:
        """Change the chunks inside: a new write stamp first, then Chroma, then the keyword index in step.

        Holds the keyword index's write lock throughout, so writers of this collection take turns. Yields the
        index write (`keyword_index.IndexWrite`); it applies the change only when the index was current
        before, and then records the new stamp. A crash after the Chroma write leaves the index with the
        old stamp, so the next reader rebuilds it (keyword_index.py).
        """
        from orchestrator.knowledge.keyword_check import chroma_stamp

        index = self._open_keyword_index()
        with index.writing() as keywords:
            before = self.write_stamp()
            # Never stamped: current only when both are empty (a new collection's first write).
            current = keywords.stamp == before and (before is not None or not len(index) and not self.count())
            stamp = self._new_write_stamp()
            if not current:
                keywords.usable = False  # behind already: only a rebuild can bring it up to date
            yield keywords
            keywords.set_stamp(stamp)
            files = chroma_stamp(self.path)
            keywords.set_chroma_files(files, files)

    def keyword_index(self):
        """This collection's keyword index, up to date: checked in O(1) against the write stamp, rebuilt if behind."""
        from orchestrator.knowledge.keyword_check import chroma_stamp
        from orchestrator.knowledge.keyword_index import KeywordIndex

        index = self._open_keyword_index()
        files_before = chroma_stamp(self.path)  # before the stamp: a write in between voids the record
        stamp = self.write_stamp()
        if stamp is not None and index.stamp == stamp:
            index.note_chroma_files(files_before, chroma_stamp(self.path))
            return index
        if self._rebuild_keyword_index(index):
            return index
        memory = KeywordIndex.in_memory()  # the index file cannot be written (a full disk): this process only
        self._rebuild_keyword_index(memory)
        return memory

    def _rebuild_keyword_index(self, index) -> bool:
        """Fill the keyword index from every chunk in Chroma: the one whole-collection pass kept (keyword_index.py).

        Under the index's write lock, so no writer changes the collection meanwhile; when another process
        rebuilt it while this one waited for the lock, nothing is done. False when the index could not be written.
        """
        from orchestrator.knowledge.keyword_check import chroma_stamp

        with index.writing() as keywords:
            files_before = chroma_stamp(self.path)
            stamp = self.write_stamp()
            if stamp is not None and keywords.stamp == stamp:
                return True
            if stamp is None:
                try:
                    stamp = self._new_write_stamp()
                except KnowledgeStoreError:
                    stamp = None  # a store opened read-only: rebuilt again by the next process
            rows = (
                (chunk_id, str(metadata.get("heading_path") or ""), indexed_text(text, metadata))
                for chunk_id, metadata, text in self._scan(include=["documents", "metadatas"])
            )
            keywords.replace_all(rows)
            keywords.set_stamp(stamp)
            keywords.set_chroma_files(files_before, chroma_stamp(self.path))
        return keywords.usable and not keywords.failed

    def fingerprint(self) -> str:
        """A hash of the sorted chunk ids. Ids hash content, so equal fingerprints mean equal contents."""
        return _ids_fingerprint(chunk_id for chunk_id, _, _ in self._scan(include=[]))

    def _scan(self, include: list[str]) -> Iterator[tuple[str, dict, str]]:
        with _chroma_errors(self.path, "read chunks"):
            offset = 0
            while True:
                page = self._collection.get(include=include, limit=_GET_PAGE, offset=offset)
                ids = page["ids"]
                metadatas = page.get("metadatas") or [{}] * len(ids)
                documents = page.get("documents") or [""] * len(ids)
                yield from zip(ids, (m or {} for m in metadatas), documents)
                if len(ids) < _GET_PAGE:
                    return
                offset += len(ids)

    def vector_search(self, query_embedding: Sequence[float], k: int) -> list[tuple[Document, float]]:
        """The k nearest chunks with their cosine similarity to the query (1 - cosine distance)."""
        with _chroma_errors(self.path, "search"):
            hits = self.vectorstore.similarity_search_by_vector_with_relevance_scores(list(query_embedding), k=k)
        # With the cosine space, the raw value Chroma returns here is the cosine *distance*.
        return [(doc, 1.0 - distance) for doc, distance in hits]

    def documents(self, ids: Sequence[str]) -> list[Document]:
        """Chunks by id, in the order asked (missing ids are left out)."""
        if not ids:
            return []
        with _chroma_errors(self.path, "read chunks"):
            found = {doc.id: doc for doc in self.vectorstore.get_by_ids(list(ids))}
        return [found[i] for i in ids if i in found]

    def embeddings_of(self, ids: Sequence[str]) -> dict[str, list[float]]:
        """Stored vectors by id, so scores can be computed for keyword-only hits."""
        if not ids:
            return {}
        with _chroma_errors(self.path, "read vectors"):
            page = self._collection.get(ids=list(ids), include=["embeddings"])
        return {chunk_id: list(vector) for chunk_id, vector in zip(page["ids"], page["embeddings"])}


def _clean(metadata: dict) -> dict:
    """Chroma accepts str/int/float/bool values only; None means 'absent' (e.g. no page number)."""
    return {key: value for key, value in metadata.items() if value is not None}
