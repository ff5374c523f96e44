"""Hybrid retrieval over a real Chroma in a temp dir.

`WordHashEmbeddings` is a fast stand-in for a sentence model: a bag of hashed words, so the cosine
between two texts reflects the words they share and vector ranking is meaningful in these tests.
"""

from __future__ import annotations

import numpy as np
import pytest

from orchestrator.config import Settings
from orchestrator.knowledge.ingest import ingest_paths
from orchestrator.knowledge.keyword_index import IndexWrite, index_file
from orchestrator.knowledge.retrieval import (
    HybridRetriever,
    KeywordIndex,
    question_terms,
    reciprocal_rank_fusion,
    relevance_score,
    term_coverage,
)
from orchestrator.knowledge.store import EmbeddingModelId, open_store
from tests.helpers.word_hash import WordHashEmbeddings

DIM = 64
MODEL = EmbeddingModelId("word-hash", "w" * 64, 1, DIM)


FILES = {
    "volcano.txt": "Mount Etna is an active volcano on the east coast of Sicily. Lava flows reach Catania.",
    "bread.txt": "Sourdough bread rises with a wild yeast starter and needs a long fermentation.",
    "chess.txt": "The Sicilian Defence is a chess opening that begins with 1.e4 c5.",
    "tides.txt": "Ocean tides are caused by the gravity of the Moon and the Sun acting on the sea.",
    "serial.txt": "The error code QX-4471 means the pump firmware must be updated before use.",
}


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "data", top_k=3, relevance_threshold=0.3)


@pytest.fixture
def store(settings, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in FILES.items():
        (folder / name).write_text(text)
    store = open_store(settings, WordHashEmbeddings(), MODEL, "facts")
    ingest_paths([folder], store, settings)
    return store


def test_rrf_follows_the_formula():
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["b", "d"]], rrf_k=60)
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert fused["a"] == pytest.approx(1 / 61)
    assert fused["d"] == pytest.approx(1 / 62)
    assert max(fused, key=fused.get) == "b"


def test_from_settings_takes_top_k_and_threshold(store, settings):
    retriever = HybridRetriever.from_settings(store, settings)
    assert (retriever.k, retriever.relevance_threshold) == (3, 0.3)


def test_hybrid_finds_the_right_chunk_with_full_metadata(store, settings):
    retriever = HybridRetriever.from_settings(store, settings)
    docs = retriever.retrieve_with_scores("Which volcano is on the coast of Sicily?")
    assert len(docs) == 3
    top = docs[0]
    assert top.metadata["file_name"] == "volcano.txt"
    assert top.metadata["vector_rank"] == 1 and top.metadata["bm25_rank"] == 1
    assert top.metadata["page"] is None and top.metadata["chunk_id"] == top.id
    assert top.metadata["rrf"] == pytest.approx(2 / 61)
    assert [d.metadata["rrf"] for d in docs] == sorted((d.metadata["rrf"] for d in docs), reverse=True)
    for doc in docs:
        assert 0.0 <= doc.metadata["score"] <= 1.0


@pytest.mark.parametrize("mode", ["bm25", "hybrid"])
def test_score_is_the_query_chunk_cosine_for_every_hit(store, settings, mode):
    retriever = HybridRetriever.from_settings(store, settings, k=5, mode=mode)
    embeddings = WordHashEmbeddings()
    question = "QX-4471 pump firmware Sicilian chess"
    docs = retriever.retrieve_with_scores(question)
    assert len(docs) >= 2
    if mode == "bm25":
        assert all(d.metadata["vector_rank"] is None for d in docs)  # keyword-only hits are scored too
    query = np.array(embeddings.embed_query(question))
    for doc in docs:
        expected = float(query @ np.array(embeddings.embed_query(doc.page_content)))
        assert doc.metadata["cosine"] == pytest.approx(expected, abs=1e-4)
        assert 0.0 <= doc.metadata["coverage"] < 1.0
        assert doc.metadata["score"] == pytest.approx((max(0.0, expected) * doc.metadata["coverage"]) ** 0.5, abs=1e-4)


def test_coverage_weighs_rare_terms_more():
    idf = {"etna": 3.0, "volcano": 1.0, "zorbian": 5.0}
    assert term_coverage(["etna", "volcano"], "Mount Etna is a volcano.", idf) == 1.0
    assert term_coverage(["etna", "volcano"], "A volcano.", idf) == pytest.approx(0.25)
    assert term_coverage(["zorbian", "volcano"], "A volcano.", idf) == pytest.approx(1 / 6)
    assert term_coverage([], "anything", {}) is None


def test_relevance_score_needs_both_signals():
    assert relevance_score(0.81, 1.0) == pytest.approx(0.9)
    assert relevance_score(0.81, 0.0) == 0.0
    assert relevance_score(-0.2, 1.0) == 0.0
    assert relevance_score(0.64, None) == pytest.approx(0.64)


def test_an_unknown_name_lowers_the_score(store, settings):
    retriever = HybridRetriever.from_settings(store, settings, k=1)
    [known] = retriever.retrieve_with_scores("Which volcano is near Catania?")
    [unknown] = retriever.retrieve_with_scores("Which volcano is near Zorbianville?")
    assert known.metadata["file_name"] == unknown.metadata["file_name"] == "volcano.txt"
    assert unknown.metadata["coverage"] < known.metadata["coverage"]
    assert unknown.metadata["score"] < known.metadata["score"]


def test_names_the_collection_never_mentions_are_reported(store, settings):
    retriever = HybridRetriever.from_settings(store, settings)
    assert retriever.unseen_names("Which volcano is near Zorbianville?") == ["Zorbianville"]
    assert retriever.unseen_names("Is Mount Etna near Catania?") == []
    assert retriever.unseen_names("Does the Sicillian Defence begin with c5?") == []  # misspelt, still known
    assert retriever.unseen_names("which volcano is near zorbianville?") == []  # only capitalised words count
    assert retriever.unseen_names("Is Sour Dough bread made with yeast?") == []  # the documents say "sourdough"
    assert "Sour" in retriever.unseen_names("Is Sour Mash bread made with yeast?")


def test_bm25_rescues_a_rare_exact_term(store, settings):
    bm25 = HybridRetriever.from_settings(store, settings, mode="bm25", k=1)
    [doc] = bm25.retrieve_with_scores("what does QX-4471 mean")
    assert doc.metadata["file_name"] == "serial.txt"
    assert doc.metadata["vector_rank"] is None and doc.metadata["bm25_rank"] == 1


def test_vector_mode_uses_no_keywords(store, settings):
    docs = HybridRetriever.from_settings(store, settings, mode="vector").retrieve_with_scores("tides moon gravity")
    assert docs[0].metadata["file_name"] == "tides.txt"
    assert all(d.metadata["bm25_rank"] is None for d in docs)


def test_threshold_helpers(store, settings):
    retriever = HybridRetriever.from_settings(store, settings)
    relevant = retriever.retrieve_with_scores("sourdough bread starter fermentation")
    assert retriever.has_relevant(relevant)
    assert all(d.metadata["score"] >= 0.3 for d in retriever.relevant(relevant))
    unrelated = retriever.retrieve_with_scores("xylophone quartet zeppelin")
    assert len(unrelated) == 3  # retrieval itself never filters ...
    assert not retriever.has_relevant(unrelated)  # ... the threshold helpers do
    assert retriever.relevant(unrelated) == []


def test_invoke_accepts_k(store, settings):
    retriever = HybridRetriever.from_settings(store, settings)
    assert len(retriever.invoke("volcano", k=1)) == 1
    assert len(retriever.invoke("volcano")) == 3


def test_ainvoke_accepts_k(store, settings):
    import asyncio

    retriever = HybridRetriever.from_settings(store, settings)
    assert len(asyncio.run(retriever.ainvoke("volcano", k=2))) == 2


def test_empty_collection_returns_nothing(settings):
    store = open_store(settings, WordHashEmbeddings(), MODEL, "empty")
    assert HybridRetriever(store=store).invoke("anything") == []


def test_keyword_index_follows_new_chunks(store, settings, tmp_path):
    retriever = HybridRetriever.from_settings(store, settings, mode="bm25", k=1)
    assert retriever.invoke("zanzibar") == []
    (tmp_path / "late.txt").write_text("Zanzibar is an archipelago off the coast of Tanzania.")
    ingest_paths([tmp_path / "late.txt"], store, settings)
    [doc] = retriever.invoke("zanzibar")
    assert doc.metadata["file_name"] == "late.txt"


def test_keyword_index_is_cached_on_disk_and_reused(store, settings, monkeypatch):
    HybridRetriever.from_settings(store, settings).invoke("volcano")
    assert index_file(store.keyword_index_dir).is_file()

    def no_rebuild(self, rows):
        raise AssertionError("rebuilt although the collection did not change")

    monkeypatch.setattr(IndexWrite, "replace_all", no_rebuild)
    reopened = open_store(settings, WordHashEmbeddings(), MODEL, "facts")
    assert HybridRetriever.from_settings(reopened, settings).invoke("volcano")


def test_keyword_cache_of_another_content_is_not_used(store, settings, tmp_path):
    HybridRetriever.from_settings(store, settings).invoke("volcano")  # caches the index
    other = open_store(settings, WordHashEmbeddings(), MODEL, "facts")  # like a second process
    (tmp_path / "late.txt").write_text("Zanzibar is an archipelago off the coast of Tanzania.")
    ingest_paths([tmp_path / "late.txt"], other, settings)
    fresh = HybridRetriever.from_settings(
        open_store(settings, WordHashEmbeddings(), MODEL, "facts"), settings, mode="bm25"
    )
    assert fresh.invoke("zanzibar")[0].metadata["file_name"] == "late.txt"


def test_a_question_searches_without_its_form_words():
    assert question_terms("Who is the release manager?") == ["release", "manager"]
    assert question_terms("How much does membership cost?") == ["membership", "cost"]
    index = KeywordIndex.build(
        {
            "notes": "The release manager for this version is Ines Okafor.",
            "quote": "Who knows what he does, and how much? Who can say when?",
        }
    )
    assert [chunk_id for chunk_id, _ in index.search("Who is the release manager?", 5)] == ["notes"]
