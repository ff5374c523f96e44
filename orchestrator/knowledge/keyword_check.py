"""A cheap first relevance check, before Chroma is opened (issue 17, cold start).

Importing chromadb and opening the store cost a cold `ask` 1-1.5 s, paid by every question the router
weighs against the documents, "Hi" included. But a question none of whose keyword terms occurs in the
collection cannot score: every chunk's term coverage is 0, so its relevance sqrt(cosine * coverage)
is 0 (retrieval.py). The collection's keyword index (keyword_index.py, a SQLite file) is on disk, so
that case is decided from it alone: a lookup per question term, whatever the collection's size.

The index is trusted only while Chroma's files are exactly as they were when it was last known to match
the collection (`KeywordIndex.chroma_files`, recorded by a writer or a retriever's check): any write to the
store changes their size or mtime, and then the check answers "unknown" and the caller opens Chroma as
before. Only the index file of the current KEYWORD_INDEX_VERSION is read (its name holds the version), so
a vocabulary split by another tokenizer is never trusted.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

_CHROMA_FILES = ("chroma.sqlite3", "chroma.sqlite3-wal")


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


def shares_no_term(keyword_dir: str | Path, chroma_path: str | Path, question: str) -> bool:
    """True only when certain that no keyword term of `question` occurs in the collection (its docs score is 0)."""
    from orchestrator.knowledge.keyword_index import index_file, question_terms

    terms = question_terms(question)
    path = index_file(Path(keyword_dir))
    stamp = chroma_stamp(chroma_path)
    if not terms or stamp is None or not path.is_file():
        return False
    try:
        with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=1.0)) as db:
            state = dict(db.execute("SELECT key, value FROM state WHERE key IN ('chroma_files', 'chunks')"))
            if state.get("chroma_files") is None or json.loads(state["chroma_files"]) != stamp:
                return False  # written since the index was last known to match, or never recorded
            if not int(state.get("chunks") or 0):
                return False  # an empty collection: the retriever finds nothing anyway
            marks = ",".join("?" * len(set(terms)))
            found = db.execute(f"SELECT count(*) FROM term_rows WHERE term IN ({marks})", list(set(terms))).fetchone()
    except (sqlite3.Error, ValueError, TypeError):
        return False
    return not found[0]
