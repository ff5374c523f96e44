"""The keyword index at 10,000 chunks: no whole-collection work per cold start or per changed file (issue 30, item 1).

A real Chroma in a temp dir and the real ingest; the embedder is langchain-core's deterministic fake (16
dimensions), because the thing under test is the keyword index, not the embedder. bm25s, the engine the index
replaced, is the reference its scores are checked against, and difflib over the whole vocabulary (the scan the
trigram table replaced) the reference for near spellings.
"""

from __future__ import annotations

import difflib
import random

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from orchestrator.config import Settings
from orchestrator.knowledge import ingest, keyword_index
from orchestrator.knowledge.ingest import ingest_paths
from orchestrator.knowledge.keyword_index import NEAR_SPELLING, IndexWrite, KeywordIndex, keyword_terms
from orchestrator.knowledge.retrieval import HybridRetriever
from orchestrator.knowledge.store import EmbeddingModelId, KnowledgeStore, open_store

MODEL = EmbeddingModelId("fake", "f" * 64, 1, 16)
FILES, CHUNKS_PER_FILE = 250, 40  # 10,000 chunks
PLACES = ["harbour", "mill", "quarry", "orchard", "foundry", "ferry", "granary", "tannery", "brewery", "kiln"]


def paragraph(f: int, c: int) -> str:
    place = PLACES[(f + c) % len(PLACES)]
    return f"Ledger {f}-{c} of the {place} at Brackwater lists item{f * 100 + c} and its keeper Odalys{f}."


def write_library(folder, files: int = FILES) -> None:
    folder.mkdir()
    for f in range(files):
        # chunk_size 110 and 80-100-character paragraphs: every paragraph is one chunk
        (folder / f"ledger{f:03d}.txt").write_text("\n\n".join(paragraph(f, c) for c in range(CHUNKS_PER_FILE)))


def open_library(settings: Settings, **options) -> KnowledgeStore:
    return open_store(settings, DeterministicFakeEmbedding(size=16), MODEL, "ledgers", **options)


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    root = tmp_path_factory.mktemp("library")
    settings = Settings(data_dir=root / "data", chunk_size=110, chunk_overlap=0)
    write_library(root / "docs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ingest, "EMBED_BATCH", 2500, raising=False)  # fewer, larger writes: a faster fixture
        summary = ingest_paths([root / "docs"], open_library(settings), settings)
    assert summary.chunks_total == FILES * CHUNKS_PER_FILE
    return settings, root


class Spy:
    """Records the calls of a replaced method, then runs the original."""

    def __init__(self, monkeypatch, owner, name):
        self.calls: list[tuple] = []
        original = getattr(owner, name)

        def spy(*args, **kwargs):
            self.calls.append(args[1:])
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, spy)


def test_a_cold_retriever_reads_no_whole_collection(library, monkeypatch):
    settings, _ = library
    for name in ("_scan", "texts_by_id", "indexed_texts_by_id", "fingerprint", "metadata_by_id"):

        def refuse(*args, _name=name, **kwargs):
            raise AssertionError(f"a cold retriever called KnowledgeStore.{_name}")

        monkeypatch.setattr(KnowledgeStore, name, refuse)
    rebuilds = Spy(monkeypatch, IndexWrite, "replace_all")
    retriever = HybridRetriever(store=open_library(settings), k=3)  # as a new process would
    docs = retriever.retrieve_with_scores("Which ledger names Odalys17 at the quarry?")
    by_keywords = min(docs, key=lambda doc: doc.metadata["bm25_rank"] or 99)
    assert by_keywords.metadata["bm25_rank"] == 1 and by_keywords.metadata["file_name"] == "ledger017.txt"
    assert "quarry" in by_keywords.page_content
    assert retriever.unseen_names("Who keeps the Zephyrine granary?") == ["Zephyrine"]
    assert retriever.unseen_names("Who keeps the Brackwatter granary?") == []  # misspelt, still known
    assert rebuilds.calls == []


def test_changing_one_file_touches_only_its_rows(library, monkeypatch):
    settings, root = library
    store = open_library(settings)
    retriever = HybridRetriever(store=store, k=1, mode="bm25")
    retriever.retrieve_with_scores("warm")  # the index is current
    changed = root / "docs" / "ledger042.txt"
    old_ids = {chunk_id for chunk_id, _ in store.keyword_index().search("odalys42", 100)}
    assert len(old_ids) == CHUNKS_PER_FILE
    changed.write_text(changed.read_text().replace("Ledger 42-7 of", "Ledger 42-7, rewritten by Quillon, of"))
    puts, removals = Spy(monkeypatch, IndexWrite, "put"), Spy(monkeypatch, IndexWrite, "remove")
    rebuilds = Spy(monkeypatch, IndexWrite, "replace_all")
    summary = ingest_paths([changed], store, settings)
    assert (summary.chunks_added, summary.chunks_removed) == (1, 1)
    written = [chunk_id for (rows,) in puts.calls for chunk_id, _, _ in rows]
    removed = [chunk_id for (ids,) in removals.calls for chunk_id in ids]
    assert len(written) == 1 and written[0] not in old_ids
    [gone] = set(removed) - set(written)  # `put` also clears its own ids first (an upsert)
    assert gone in old_ids
    assert rebuilds.calls == []
    [doc] = retriever.retrieve_with_scores("Quillon")
    assert doc.metadata["file_name"] == "ledger042.txt"
    assert len(store.keyword_index()) == FILES * CHUNKS_PER_FILE


def test_an_index_behind_chroma_is_found_and_rebuilt(tmp_path, monkeypatch):
    # A process killed after its Chroma write but before the index's: simulated by an exception at that
    # point, which rolls the index's transaction back as a crash would.
    settings = Settings(data_dir=tmp_path / "data", chunk_size=110, chunk_overlap=0)
    write_library(tmp_path / "docs", files=3)
    store = open_library(settings)
    ingest_paths([tmp_path / "docs"], store, settings)
    (tmp_path / "late.txt").write_text("The Velcourt lock opens at dawn.")

    def crash(self, rows):
        raise KeyboardInterrupt("killed between the Chroma write and the index write")

    with monkeypatch.context() as patch:
        patch.setattr(IndexWrite, "put", crash)
        with pytest.raises(KeyboardInterrupt):
            ingest_paths([tmp_path / "late.txt"], open_library(settings), settings)
    reopened = open_library(settings)
    index = KeywordIndex.open(reopened.keyword_index_dir)
    assert index.stamp != reopened.write_stamp()  # the O(1) check sees the difference
    assert not index.search("velcourt", 1)
    rebuilds = Spy(monkeypatch, IndexWrite, "replace_all")
    [doc] = HybridRetriever(store=reopened, k=1, mode="bm25").retrieve_with_scores("Velcourt lock")
    assert doc.metadata["file_name"] == "late.txt"
    assert len(rebuilds.calls) == 1
    assert KeywordIndex.open(reopened.keyword_index_dir).stamp == reopened.write_stamp()


def old_unseen(vocabulary: list[str], term: str) -> bool:
    """The scan the trigram table replaced: difflib against every vocabulary word within two letters."""
    if term in vocabulary:
        return False
    similar = [word for word in vocabulary if abs(len(word) - len(term)) <= 2]
    return not difflib.get_close_matches(term, similar, 1, NEAR_SPELLING)


def misspell(word: str, rng: random.Random) -> str:
    letters = list(word)
    for _ in range(rng.randint(1, 3)):
        where = rng.randrange(len(letters) + 1)
        action = rng.choice("swap insert delete")
        if action == "swap" and where < len(letters):
            letters[where] = rng.choice("aeiourstlnk")
        elif action == "insert":
            letters.insert(where, rng.choice("aeiourstlnk"))
        elif where < len(letters) and len(letters) > 2:
            del letters[where]
    return "".join(letters)


def test_near_spellings_are_those_of_the_whole_vocabulary_scan():
    text = (
        "Marisol Kowalski keeps the Velmoor lighthouse; Brackwater harbour, the Quillon mill and the Odalys "
        "orchard trade wool, amber, copper and rye. Ferries sail at dawn from Saltmarsh and Thornbury, ab, axb."
    )
    vocabulary = sorted(set(keyword_terms(text)))
    index = KeywordIndex.build({f"c{i}": word for i, word in enumerate(vocabulary)})
    rng = random.Random(30)
    asked = ["kowalsky", "velmore", "sicillian", "zorbianville", "acdyf", "axcdf", "ab", "abc", "x1"]
    asked += [misspell(rng.choice(vocabulary), rng) for _ in range(400)]
    asked = [term for term in dict.fromkeys(asked) if len(term) > 1]
    expected = [term for term in asked if old_unseen(vocabulary, term)]
    assert index.unseen(asked) == expected
    assert 0 < len(expected) < len(asked)  # both kinds of answer are exercised


@pytest.mark.parametrize("rare_df", [0, 8, 10_000])  # every path: all terms scored, rare ones first, all "rare"
def test_bm25_scores_are_those_of_bm25s(monkeypatch, rare_df):
    import bm25s
    import numpy as np

    monkeypatch.setattr(keyword_index, "RARE_DF", rare_df)
    monkeypatch.setattr(keyword_index, "RARE_SHARE", 0.0)

    rng = random.Random(7)
    words = [f"w{i}" + "x" * (i % 4) for i in range(120)]
    texts = {
        f"c{i:03d}": " ".join(rng.choices(words, [1 / (j + 1) for j in range(120)], k=rng.randint(0, 30)))
        for i in range(300)
    }
    index = KeywordIndex.build(texts)
    ids = sorted(texts)
    reference = bm25s.BM25()
    reference.index([keyword_terms(texts[i]) for i in ids], show_progress=False)
    for _ in range(60):
        query = rng.choices(words, k=rng.randint(1, 4))
        known = [term for term in query if term in reference.vocab_dict]
        mine = index.search(" ".join(query), 10)
        if not known:
            assert mine == []
            continue
        scores = reference.get_scores(known)
        best = np.argsort(-scores, kind="stable")[:10]
        theirs = [(ids[i], float(scores[i])) for i in best if scores[i] > 0]
        assert [chunk_id for chunk_id, _ in mine] == [chunk_id for chunk_id, _ in theirs]
        assert [score for _, score in mine] == pytest.approx([score for _, score in theirs], rel=1e-4)


def test_every_chunk_write_in_the_store_keeps_the_keyword_index_in_step():
    # The index is current only if every Chroma write that changes chunks' text runs inside `_recorded_write`
    # (a new write stamp, then Chroma, then the index). A new write path outside it would go unnoticed.
    import ast
    import inspect

    from orchestrator.knowledge import store

    tree = ast.parse(inspect.getsource(store))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}

    def inside_recorded_write(node) -> bool:
        while node in parents:
            node = parents[node]
            if isinstance(node, ast.With) and any("_recorded_write" in ast.unparse(item) for item in node.items):
                return True
        return False

    writes = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("add", "upsert", "delete")
        and ast.unparse(node.func.value) == "self._collection"
    ]
    assert len(writes) >= 2  # the upsert of `add`, the delete of `delete`
    assert all(inside_recorded_write(node) for node in writes), [ast.unparse(node) for node in writes]


def test_a_resumed_batch_reads_the_write_stamp_not_every_chunk_id(library, monkeypatch):
    from orchestrator import batch
    from orchestrator.knowledge import store

    settings, _ = library

    def refuse(*args, **kwargs):
        raise AssertionError("the batch read every chunk id")

    monkeypatch.setattr(store, "collection_fingerprint", refuse)
    monkeypatch.setattr(KnowledgeStore, "_scan", refuse)
    stamp = batch.knowledge_fingerprint(settings.model_copy(update={"collection": "ledgers"}), "docs")
    assert stamp == f"stamp-{open_library(settings).write_stamp()}"
