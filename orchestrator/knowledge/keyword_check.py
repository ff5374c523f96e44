"""A cheap first relevance check, before Chroma is opened (issue 17, cold start).

Importing chromadb and opening the store cost a cold `ask` 1-1.5 s, paid by every question the router
weighs against the documents, "Hi" included. But a question none of whose keyword terms occurs in the
collection cannot score: every chunk's term coverage is 0, so its relevance sqrt(cosine * coverage)
is 0 (retrieval.py). The collection's BM25 vocabulary is already on disk with its keyword index, so
that case is decided from it alone.

The vocabulary is trusted only while Chroma's files are exactly as they were when the keyword index
was last loaded for the collection as it is: any write to the store changes their size or mtime,
and then the check answers "unknown" and the caller opens Chroma as before. It is trusted only when
the index was built by the tokenizer the question is split with (its folder is named for
KEYWORD_INDEX_VERSION, retrieval.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

STAMP_FILE = "chroma-stamp.json"
_CHROMA_FILES = ("chroma.sqlite3", "chroma.sqlite3-wal")
_vocabularies: dict[str, tuple[list, frozenset[str]]] = {}  # index folder -> (stamp, vocabulary)


def chroma_stamp(chroma_path: str | Path) -> list | None:
    """[name, mtime_ns, size] of Chroma's sqlite files; None for a server or a missing store."""
    folder = Path(chroma_path)
    if "://" in str(chroma_path) or not folder.is_dir():
        return None
    stamp = []
    for name in _CHROMA_FILES:
        try:
            status = (folder / name).stat()
        except OSError:
            continue
        stamp.append([name, status.st_mtime_ns, status.st_size])
    return stamp or None


def record_stamp(index_dir: str | Path, stamp_before: list | None, chroma_path: str | Path) -> None:
    """Note, inside the keyword index folder `index_dir`, that it is the collection as Chroma's files are now.

    `stamp_before` is the stamp taken before the collection's fingerprint was read: when a write landed
    since, the two differ and nothing is recorded (and an older record is removed).
    """
    target = Path(index_dir) / STAMP_FILE
    try:
        if stamp_before is None or chroma_stamp(chroma_path) != stamp_before:
            target.unlink(missing_ok=True)
            return
        partial = target.with_name(f"{STAMP_FILE}.partial-{os.getpid()}")
        partial.write_text(json.dumps({"chroma": stamp_before}))
        os.replace(partial, target)
    except OSError:
        pass  # a read-only data dir: the check just stays "unknown"


def shares_no_term(keyword_dir: str | Path, chroma_path: str | Path, question: str) -> bool:
    """True only when certain that no keyword term of `question` occurs in the collection (its docs score is 0)."""
    from orchestrator.knowledge.retrieval import KEYWORD_INDEX_VERSION, question_terms

    vocabulary = _current_vocabulary(Path(keyword_dir), chroma_path, KEYWORD_INDEX_VERSION)
    if vocabulary is None:
        return False

    terms = question_terms(question)
    return bool(terms) and vocabulary.isdisjoint(terms)


def _current_vocabulary(keyword_dir: Path, chroma_path: str | Path, version: str) -> frozenset[str] | None:
    records = list(keyword_dir.glob(f"*/{STAMP_FILE}"))  # the collection's one index folder, once recorded
    if len(records) != 1 or not records[0].parent.name.startswith(f"{version}-"):
        return None  # none, unsure which, or built by another tokenizer (the retriever rebuilds it)
    index = records[0].parent
    try:
        recorded = json.loads(records[0].read_text()).get("chroma")
    except (OSError, ValueError, AttributeError):
        return None
    stamp = chroma_stamp(chroma_path)
    if stamp is None or recorded != stamp:
        return None
    cached = _vocabularies.get(str(index))
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        vocabulary = frozenset(json.loads((index / "vocab.index.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if not vocabulary:
        return None
    _vocabularies[str(index)] = (stamp, vocabulary)
    return vocabulary
