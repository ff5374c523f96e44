"""The keyword (BM25) index of one collection: SQLite FTS5 beside Chroma, updated by every write, checked in O(1).

Engine: SQLite's FTS5, from the standard library (no dependency), because it updates in place: a chunk is
inserted or deleted by its row, so one changed file costs its own chunks, not the collection. bm25s (used
before) can only be built whole, so any write rebuilt it from every chunk's text.

* Tokens are ours: each chunk's `keyword_terms` are inserted joined by spaces into a table whose tokenizer is
  `ascii` (it splits at ASCII spaces and punctuation, keeps every non-ASCII character, folds only A-Z, which
  our lowercase terms never hold), so FTS5 stores exactly the terms `keyword_terms` gives.
* Scores are the BM25 bm25s computed (its defaults: the Lucene variant, k1 = 1.5, b = 0.75):
  score(d) = sum over query terms t of idf(t) * tf / (tf + k1 * (1 - b + b * |d| / avgdl)), with
  idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5)) and a term asked twice counted twice. tf comes from FTS5's
  per-occurrence rows (fts5vocab 'instance'), df from fts5vocab 'row', |d| and N from our own tables; the
  sum runs in SQL. FTS5's own bm25() is not used: it fixes k1 = 1.2 and takes idf = ln((N - df + 0.5) /
  (df + 0.5)), near 0 for a term in half the chunks, which would move the ranking the thresholds were set on.
  Ties are broken by chunk id, as bm25s' stable sort over sorted ids did. Scores are float64 (bm25s: float32).
* Heading paths (the name match, `HybridRetriever.name_matches`) are a column of the chunk table.
* Near spellings (`unseen`): every term ever indexed is a row of `words`, and an FTS5 `trigram` table holds it
  padded as "^^word$$". A term's candidates are the words of similar length (within 2 letters, as before)
  sharing a padded trigram with it; difflib then judges the candidates only, with the same NEAR_SPELLING cutoff
  as the scan over the whole vocabulary it replaces. No word is missed: if difflib's ratio 2M / (|a| + |b|)
  reaches 0.8, the matched characters M are at least twice the unmatched U; were no padded trigram shared,
  every matching block would hold at most 2 characters and none could touch both words' starts or both ends
  (the padding makes those trigrams), so U >= blocks + 1 and M <= 2 * blocks, a contradiction.
  `words` only grows; a word whose chunks are all gone is dropped by the df check.

Freshness: the index records the collection's write stamp, a random value that `KnowledgeStore` writes into
the Chroma collection's metadata before every change to its chunks (store.py). Checking the index is reading
that value (one metadata read) and comparing it with the index's: O(1), whatever the collection holds. A
writer, holding the index's SQLite write lock (BEGIN IMMEDIATE, so writers of one collection take turns across
processes and threads), reads the stamp, writes a new one to Chroma, writes the chunks to Chroma, then applies
the same change here and records the new stamp, in one SQLite transaction; when the index was not current
before, it changes nothing here and stays behind. So a crash between the two writes leaves Chroma with a stamp
the index never recorded, and the next reader rebuilds it.

That rebuild (`IndexWrite.replace_all`, from every chunk in Chroma) is the one pass over the whole collection
that is kept: it runs only when the index is missing, built by another KEYWORD_INDEX_VERSION, behind after a
crash, or behind because something wrote Chroma without this code; it is measured in docs/benchmarks.md.

Chroma server (settings.chroma_host): the index lives in this machine's data folder as for the embedded store
(data_dir/bm25/<collection>/), and the write stamp lives in the server's collection metadata. A write from
another machine changes the stamp, so this machine's index is rebuilt on its next question. Writers on two
machines share no lock: if they write one collection at the same moment, a change can be missed until the
next write; ingest into one collection from one machine at a time.

The file is named for KEYWORD_INDEX_VERSION; files and folders of other versions are deleted when it opens.
"""

from __future__ import annotations

import difflib
import math
import shutil
import sqlite3
import threading
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from orchestrator.text import QUESTION_WORDS, search_terms

# Bumped whenever tokenisation or the index format changes: the file is named for it, so an index built
# another way is never read (keyword_check.py trusts no other file either).
KEYWORD_INDEX_VERSION = "fts5-v4"
INDEX_FILE = f"keywords-{KEYWORD_INDEX_VERSION}.sqlite3"
# How alike a question's name and a word of the collection must be (difflib's ratio) to count as the same
# name misspelt: "kowalsky"/"kowalski" 0.88, "velmore"/"velmoor" 0.86; "velmoor"/"vale" 0.36.
NEAR_SPELLING = 0.8
NEAR_LENGTH = 2  # a near spelling is at most this many letters longer or shorter
BM25_K1 = 1.5  # bm25s' defaults, which the relevance thresholds were measured with
BM25_B = 0.75
# Query terms in at most max(RARE_DF, RARE_SHARE x chunks) chunks are "rare": when a question has some, only the
# chunks holding a rare term are scored (`_search_rare_first`), if that provably finds the top k; if it does
# not, the next rarest term in at most COMMON_SHARE of the chunks joins them and it is tried again.
RARE_DF = 256
RARE_SHARE = 0.02
COMMON_SHARE = 0.25
# A writer waits this long for another writer or a rebuild of the same collection's index.
LOCK_WAIT_S = 600.0
_PAD = ("^^", "$$")  # around a word in the trigram table; never part of a term (terms are letters and digits)

# Lucene's English stopwords, the list bm25s' own analyser drops (bm25s.stopwords.STOPWORDS_EN; a unit test
# keeps the two equal).
INDEX_STOPWORDS = frozenset(
    """a an and are as at be but by for if in into is it no not of on or such that the their then there these
    they this to was will with""".split()
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS state(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS chunks(
    rowid INTEGER PRIMARY KEY, chunk_id TEXT NOT NULL UNIQUE, heading TEXT NOT NULL, length INTEGER NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS terms USING fts5(body, tokenize = 'ascii');
CREATE VIRTUAL TABLE IF NOT EXISTS term_rows USING fts5vocab(terms, 'row');
CREATE VIRTUAL TABLE IF NOT EXISTS term_instances USING fts5vocab(terms, 'instance');
CREATE TABLE IF NOT EXISTS words(rowid INTEGER PRIMARY KEY, word TEXT NOT NULL UNIQUE, length INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS words_by_length ON words(length);
CREATE VIRTUAL TABLE IF NOT EXISTS word_grams USING fts5(padded, tokenize = 'trigram case_sensitive 1', content = '');
CREATE TRIGGER IF NOT EXISTS words_to_grams AFTER INSERT ON words BEGIN
    INSERT INTO word_grams(rowid, padded) VALUES (new.rowid, '^^' || new.word || '$$');
END;
"""

# BM25 over the query terms (q: term, idf x times asked), summed per chunk in SQL (module docstring).
_SEARCH = """
WITH q(term, weight) AS (VALUES {values}),
tf AS (
    SELECT i.doc AS doc, q.weight AS weight, count(*) AS tf
    FROM q JOIN term_instances AS i ON i.term = q.term GROUP BY i.doc, q.term
)
SELECT c.chunk_id, SUM(tf.weight * tf.tf / (tf.tf + ? * (1 - ? + ? * c.length / ?))) AS score
FROM tf JOIN chunks AS c ON c.rowid = tf.doc
GROUP BY tf.doc ORDER BY score DESC, c.chunk_id LIMIT ?
"""


def _tokenize(texts: Sequence[str]) -> list[list[str]]:
    return [[term for term in search_terms(text) if term not in INDEX_STOPWORDS] for text in texts]


def keyword_terms(text: str) -> list[str]:
    """The BM25 terms of a text: lowercased words minus English stopwords, as the index sees them."""
    return _tokenize([text])[0]


def question_terms(question: str) -> list[str]:
    """The BM25 terms a question searches with: its keyword terms minus QUESTION_WORDS."""
    return [term for term in keyword_terms(question) if term not in QUESTION_WORDS]


def lucene_idf(n_docs: int, df: int) -> float:
    """Lucene's BM25 idf: ln(1 + (N - df + 0.5) / (df + 0.5)); unseen terms weigh most."""
    return math.log(1 + (n_docs - df + 0.5) / (df + 0.5))


def padded_trigrams(word: str) -> list[str]:
    """The trigrams of "^^word$$", as the trigram table indexes them."""
    padded = f"{_PAD[0]}{word}{_PAD[1]}"
    return list(dict.fromkeys(padded[i : i + 3] for i in range(len(padded) - 2)))


def index_file(folder: Path) -> Path:
    """Where a collection's keyword index is kept (folder: data_dir/bm25/<collection>)."""
    return Path(folder) / INDEX_FILE


def _connect(target: str, uri: bool = False) -> sqlite3.Connection:
    connection = sqlite3.connect(target, timeout=LOCK_WAIT_S, isolation_level=None, check_same_thread=False, uri=uri)
    # A rollback journal, not WAL: no -wal/-shm files beside the index (a full or read-only disk leaves nothing
    # behind); readers still read while a writer holds its lock, until it commits.
    connection.execute("PRAGMA journal_mode = DELETE")
    return connection


def _remove_other_versions(folder: Path) -> None:
    """Delete index files and folders of other KEYWORD_INDEX_VERSIONs (their format is never read again)."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith(INDEX_FILE):  # the file and its -journal
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


class KeywordIndex:
    """The BM25 index of one collection, addressed by chunk id (module docstring). Safe to share between threads."""

    def __init__(self, connection: sqlite3.Connection, path: Path | None = None) -> None:
        self._db = connection
        self.path = path  # None: in memory (the data folder cannot be written)
        self._lock = threading.RLock()
        with self._lock:
            self._db.executescript(_SCHEMA)

    @classmethod
    def open(cls, folder: Path) -> KeywordIndex:
        """The index file in `folder`, created if missing; in memory (rebuilt by each process) when it cannot be written."""
        folder = Path(folder)
        path = index_file(folder)
        existed = path.exists()
        connection = None
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _remove_other_versions(folder)
            connection = _connect(str(path))
            return cls(connection, path)
        except (sqlite3.Error, OSError):
            if connection is not None:
                connection.close()
            if not existed:  # a full disk: no empty file may stay behind
                for leftover in (path, path.with_name(path.name + "-journal")):
                    try:
                        leftover.unlink(missing_ok=True)
                    except OSError:
                        pass
            return cls.in_memory()

    @classmethod
    def in_memory(cls) -> KeywordIndex:
        return cls(_connect(":memory:"))

    @classmethod
    def build(cls, texts_by_id: dict[str, str] | dict[str, tuple[str, str]]) -> KeywordIndex:
        """An index in memory of these texts by chunk id; a value may be (heading path, indexed text)."""
        index = cls.in_memory()
        rows = [(i, *(value if isinstance(value, tuple) else ("", value))) for i, value in texts_by_id.items()]
        with index.writing() as write:
            write.replace_all(rows)
        return index

    # --- reading ---

    def _query(self, sql: str, parameters: Sequence = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, parameters).fetchall()

    def _state(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM state WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    @property
    def stamp(self) -> str | None:
        """The collection write stamp this index was last brought up to (None: never)."""
        return self._state("stamp")

    def _counts(self) -> tuple[int, int]:
        """(chunks, terms in all chunks)."""
        return int(self._state("chunks") or 0), int(self._state("tokens") or 0)

    def __len__(self) -> int:
        return self._counts()[0]

    def document_frequencies(self, terms: Iterable[str]) -> dict[str, int]:
        """How many chunks hold each term (0 for a term no chunk holds)."""
        wanted = list(dict.fromkeys(terms))
        found: dict[str, int] = dict.fromkeys(wanted, 0)
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            marks = ",".join("?" * len(part))
            for term, df in self._query(f"SELECT term, doc FROM term_rows WHERE term IN ({marks})", part):
                found[term] = int(df)
        return found

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """Up to k (chunk id, BM25 score) pairs with a positive score, best first."""
        asked = Counter(question_terms(query))
        n_docs, n_tokens = self._counts()
        if not asked or not n_docs or not n_tokens:
            return []
        dfs = self.document_frequencies(asked)
        weights = [(term, lucene_idf(n_docs, dfs[term]) * times) for term, times in asked.items() if dfs[term]]
        if not weights:
            return []
        avgdl = n_tokens / n_docs
        by_df = sorted((term for term, _ in weights), key=lambda term: dfs[term])
        rare = [term for term in by_df if dfs[term] <= max(RARE_DF, RARE_SHARE * n_docs)]
        while rare or (by_df and dfs[by_df[0]] <= COMMON_SHARE * n_docs):
            rare = rare or by_df[:1]
            found = self._search_rare_first(dict(weights), rare, avgdl, k)
            if found is not None:
                return found
            following = by_df[len(rare) : len(rare) + 1]
            if not following or dfs[following[0]] > COMMON_SHARE * n_docs:
                break
            rare = rare + following
        sql = _SEARCH.format(values=",".join("(?, ?)" for _ in weights))
        parameters = [value for pair in weights for value in pair]
        parameters += [BM25_K1, BM25_B, BM25_B, avgdl, k]
        return [(chunk_id, float(score)) for chunk_id, score in self._query(sql, parameters) if score > 0]

    def _search_rare_first(self, weights: dict[str, float], rare: list[str], avgdl: float, k: int):
        """The top k scored over the chunks holding a rare term only, or None when that cannot be proven right.

        Every term adds less than its weight (idf x times asked) to a chunk's score, since tf / (tf + ...) < 1
        (MaxScore, Turtle & Flood 1995). A chunk without a rare term scores less than the common terms' weights
        summed, so when the k-th best chunk with a rare term scores at least that, no other chunk can enter
        the top k. A term in every chunk costs a pass over all of them; this skips it for most questions.
        """
        match = " OR ".join('"' + term + '"' for term in rare)
        rows = self._query(
            "SELECT c.chunk_id, c.length, t.body FROM terms AS t JOIN chunks AS c ON c.rowid = t.rowid "
            "WHERE terms MATCH ?",
            (match,),
        )
        scored = []
        for chunk_id, length, body in rows:
            counts = Counter(body.split(" "))
            norm = BM25_K1 * (1 - BM25_B + BM25_B * length / avgdl)
            score = sum(
                weight * counts[term] / (counts[term] + norm) for term, weight in weights.items() if counts[term]
            )
            scored.append((chunk_id, score))
        scored.sort(key=lambda pair: (-pair[1], pair[0]))
        rest = sum(weight for term, weight in weights.items() if term not in rare)
        if rest and (len(scored) < k or scored[k - 1][1] <= rest):
            return None
        return [(chunk_id, score) for chunk_id, score in scored[:k] if score > 0]

    def idf(self, terms: Sequence[str]) -> dict[str, float]:
        """Lucene's BM25 idf per term: ln(1 + (N - df + 0.5) / (df + 0.5)); unseen terms weigh most."""
        n_docs = len(self)
        return {term: lucene_idf(n_docs, df) for term, df in self.document_frequencies(terms).items()}

    def headings(self, chunk_ids: Sequence[str]) -> dict[str, str]:
        """The heading path ("Title > Section") of each of these chunks that has one."""
        found: dict[str, str] = {}
        wanted = list(dict.fromkeys(chunk_ids))
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            marks = ",".join("?" * len(part))
            sql = f"SELECT chunk_id, heading FROM chunks WHERE chunk_id IN ({marks}) AND heading != ''"
            found.update(self._query(sql, part))
        return found

    def unseen(self, terms: Sequence[str]) -> list[str]:
        """The terms that no chunk contains, nor a near spelling of them ("Kowalsky" meets "kowalski")."""
        asked = list(dict.fromkeys(terms))
        dfs = self.document_frequencies(asked)
        return [term for term in asked if not dfs[term] and not self._has_near_spelling(term)]

    def _has_near_spelling(self, term: str) -> bool:
        candidates = self.near_spelling_candidates(term)
        close = difflib.get_close_matches(term, candidates, len(candidates) or 1, NEAR_SPELLING)
        return any(self.document_frequencies(close).values())

    def near_spelling_candidates(self, term: str) -> list[str]:
        """The words of similar length that share a padded trigram with `term` (a superset of its near spellings)."""
        match = " OR ".join('"' + gram.replace('"', '""') + '"' for gram in padded_trigrams(term))
        sql = (
            "SELECT w.word FROM word_grams AS g JOIN words AS w ON w.rowid = g.rowid "
            "WHERE word_grams MATCH ? AND w.length BETWEEN ? AND ?"
        )
        return [row[0] for row in self._query(sql, (match, len(term) - NEAR_LENGTH, len(term) + NEAR_LENGTH))]

    def chroma_files(self) -> str | None:
        """The Chroma file stamp (keyword_check.chroma_stamp, as JSON) recorded when this index was last known current."""
        return self._state("chroma_files")

    def note_chroma_files(self, before: list | None, after: list | None) -> None:
        """Record Chroma's file stamp when it did not change while the index was checked; never waits for a writer."""
        import json

        value = json.dumps(before) if before is not None and before == after else None
        if value == self.chroma_files():
            return
        with self._lock:
            try:
                self._db.execute("PRAGMA busy_timeout = 0")
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute("INSERT OR REPLACE INTO state(key, value) VALUES ('chroma_files', ?)", (value,))
                self._db.execute("COMMIT")
            except sqlite3.Error:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
            finally:
                self._db.execute(f"PRAGMA busy_timeout = {int(LOCK_WAIT_S * 1000)}")

    # --- writing ---

    @contextmanager
    def writing(self) -> Iterator[IndexWrite]:
        """One write transaction, holding the index's write lock across processes (BEGIN IMMEDIATE).

        An exception inside rolls the index back; if the index cannot be written at all, the writes are dropped
        and the index is left behind the collection (its stamp then differs, so a reader rebuilds it).
        """
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                started = True
            except sqlite3.Error:
                started = False
            write = IndexWrite(self, usable=started)
            if not started:
                yield write
                return
            try:
                yield write
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            try:
                self._db.execute("ROLLBACK" if write.failed else "COMMIT")
            except sqlite3.Error:
                write.failed = True
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")


class IndexWrite:
    """The changes of one write transaction (`KeywordIndex.writing`)."""

    def __init__(self, index: KeywordIndex, usable: bool) -> None:
        self._index = index
        self._db = index._db
        self.usable = usable
        self.failed = False  # a statement failed (a full disk, say): the whole transaction is rolled back
        self.stamp = index.stamp if usable else None  # read inside the transaction: no writer can change it now

    @contextmanager
    def _guarded(self) -> Iterator[None]:
        """Run statements; on an SQLite error, give up this transaction (the index stays behind, never half-written)."""
        try:
            yield
        except sqlite3.Error:
            self.failed, self.usable = True, False

    def _execute(self, sql: str, parameters: Sequence = ()) -> sqlite3.Cursor:
        return self._db.execute(sql, parameters)

    def _set_state(self, key: str, value: str | int | None) -> None:
        self._execute("INSERT OR REPLACE INTO state(key, value) VALUES (?, ?)", (key, value))

    def set_stamp(self, stamp: str | None) -> None:
        if self.usable:
            with self._guarded():
                self._set_state("stamp", stamp)

    def set_chroma_files(self, before: list | None, after: list | None) -> None:
        import json

        if self.usable:
            with self._guarded():
                self._set_state("chroma_files", json.dumps(before) if before is not None and before == after else None)

    def _add_counts(self, chunks: int, tokens: int) -> None:
        n_docs, n_tokens = self._index._counts()
        self._set_state("chunks", n_docs + chunks)
        self._set_state("tokens", n_tokens + tokens)

    def remove(self, chunk_ids: Sequence[str]) -> None:
        """Delete these chunks (unknown ids are ignored)."""
        if self.usable:
            with self._guarded():
                self._remove(chunk_ids)

    def _remove(self, chunk_ids: Sequence[str]) -> None:
        removed = tokens = 0
        for start in range(0, len(chunk_ids), 500):
            part = list(chunk_ids[start : start + 500])
            marks = ",".join("?" * len(part))
            rows = self._execute(f"SELECT rowid, length FROM chunks WHERE chunk_id IN ({marks})", part).fetchall()
            rowids = [(rowid,) for rowid, _ in rows]
            self._db.executemany("DELETE FROM terms WHERE rowid = ?", rowids)
            self._db.executemany("DELETE FROM chunks WHERE rowid = ?", rowids)
            removed += len(rows)
            tokens += sum(length for _, length in rows)
        if removed:
            self._add_counts(-removed, -tokens)

    def put(self, rows: Sequence[tuple[str, str, str]]) -> None:
        """Insert or replace chunks: (chunk id, heading path, indexed text) each."""
        if self.usable and rows:
            with self._guarded():
                self._remove([chunk_id for chunk_id, _, _ in rows])
                self._insert(rows)

    def _insert(self, rows: Iterable[tuple[str, str, str]]) -> None:
        added = tokens = 0
        for chunk_id, heading, text in rows:
            terms = keyword_terms(text)
            rowid = self._execute(
                "INSERT INTO chunks(chunk_id, heading, length) VALUES (?, ?, ?)", (chunk_id, heading, len(terms))
            ).lastrowid
            self._execute("INSERT INTO terms(rowid, body) VALUES (?, ?)", (rowid, " ".join(terms)))
            self._db.executemany(
                "INSERT OR IGNORE INTO words(word, length) VALUES (?, ?)", [(t, len(t)) for t in set(terms)]
            )
            added += 1
            tokens += len(terms)
        self._add_counts(added, tokens)

    def replace_all(self, rows: Iterable[tuple[str, str, str]]) -> None:
        """Empty the index and fill it with these chunks: the one pass over a whole collection (module docstring)."""
        if not self.usable:
            return
        with self._guarded():
            for table in ("chunks", "terms", "words"):
                self._execute(f"DELETE FROM {table}")
            self._execute("INSERT INTO word_grams(word_grams) VALUES ('delete-all')")  # a contentless table
            self._set_state("chunks", 0)
            self._set_state("tokens", 0)
            self._insert(rows)
