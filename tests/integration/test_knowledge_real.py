"""The knowledge base end to end with the real all-MiniLM-L6-v2 GGUF embedder and a real Chroma."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.app import open_knowledge_store
from orchestrator.config import Settings
from orchestrator.knowledge.ingest import ingest_paths
from orchestrator.knowledge.retrieval import HybridRetriever
from orchestrator.knowledge.store import KnowledgeStoreError, list_collections, open_store

pytestmark = pytest.mark.integration

SAMPLE_DOCS = Path(__file__).resolve().parents[2] / "data" / "sample_docs"
# The threshold benchmarks/retrieval.py proposes from the dev split (see docs/benchmarks.md: Retrieval).
THRESHOLD = 0.25


@pytest.fixture(scope="module")
def settings(tmp_path_factory, embedding_model_path) -> Settings:
    data_dir = tmp_path_factory.mktemp("knowledge") / "data"
    return Settings(data_dir=data_dir, models_dir=embedding_model_path.parent, relevance_threshold=THRESHOLD)


@pytest.fixture(scope="module")
def store(settings):
    """Ingested once per module: embedding is the slow part."""
    store = open_knowledge_store(settings, collection="sample")
    ingest_paths([SAMPLE_DOCS], store, settings)
    return store


def test_collection_records_the_real_model(store, settings):
    assert store.model_id.dimension == 384
    assert store.model_id.name == "all-minilm-l6-v2.F16"
    [row] = list_collections(settings)
    assert (
        row.name == "sample" and row.count == store.count() and "all-minilm-l6-v2.F16 (dim 384" in row.embedding_model
    )


@pytest.mark.parametrize(
    ("question", "file_name"),
    [
        ("When was Orchestrator 0.4 Kestrel released?", "orchestrator-release-notes-2026.md"),
        ("How many items can library members borrow at a time?", "lark-island-library.txt"),
        ("How often are water bills sent?", "greenfield-water-faq.html"),
        ("What is reciprocal rank fusion?", "glossary.jsonl"),
    ],
)
def test_answerable_questions_find_their_document_above_the_threshold(store, settings, question, file_name):
    retriever = HybridRetriever.from_settings(store, settings)
    docs = retriever.retrieve_with_scores(question)
    assert docs[0].metadata["file_name"] == file_name
    assert retriever.has_relevant(docs)
    assert retriever.relevant(docs)[0].metadata["file_name"] == file_name


@pytest.mark.parametrize(
    "question",
    [
        "Who won the 2033 Velmoor Rowing Cup?",
        "What is the boiling point of liquid nitrogen?",
        "Who painted the Mona Lisa?",
    ],
)
def test_unsupported_questions_stay_below_the_threshold(store, settings, question):
    retriever = HybridRetriever.from_settings(store, settings)
    docs = retriever.retrieve_with_scores(question)
    assert docs  # retrieval still returns its best guesses ...
    assert not retriever.has_relevant(docs), [(d.metadata["file_name"], d.metadata["score"]) for d in docs]


def test_vector_search_alone_understands_paraphrase(store, settings):
    retriever = HybridRetriever.from_settings(store, settings, mode="vector", k=1)
    [doc] = retriever.retrieve_with_scores("Which day of the year is the island's book lending place shut?")
    assert doc.metadata["file_name"] == "lark-island-library.txt"


def test_reingest_with_the_real_model_adds_nothing(store, settings):
    again = ingest_paths([SAMPLE_DOCS], store, settings)
    assert again.chunks_added == 0 and again.chunks_unchanged == store.count()


def test_another_model_is_refused(store, settings):
    from langchain_core.embeddings import DeterministicFakeEmbedding

    from orchestrator.knowledge.store import EmbeddingModelId

    other = EmbeddingModelId("other", "0" * 64, 1, 384)
    with pytest.raises(KnowledgeStoreError, match="--reset"):
        open_store(settings, DeterministicFakeEmbedding(size=384), other, "sample")


@pytest.mark.parametrize(
    "question, expected, file_name",
    [
        # lark-island-library.txt is hard-wrapped: the answer sentence spans two lines.
        ("How much does membership cost for visitors?", "12 euros", "lark-island-library.txt"),
        ("How many items can members borrow?", "7 items", "lark-island-library.txt"),
        pytest.param(
            "Who took the oldest photograph?",
            "Agnes Morrow",
            "lark-island-library.txt",
            # Known regression of the structure-aware chunks: the question shares only "oldest" with its
            # sentence ("photograph"/"photographs", "took"/"taken"), so the match falls under the threshold and
            # the docs route refuses. A stemmer was measured and did not win on the structured tune set.
            marks=pytest.mark.xfail(reason="no stemming: the match falls under the threshold", strict=False),
        ),
        # An FAQ: the answer sits under its question, which must not be quoted as the answer.
        ("What does water cost?", "2.15 euros", "greenfield-water-faq.html"),
        # "Who" is not a search term: it used to outweigh the rest and send this to the web route.
        ("Who is the release manager?", "Ines Okafor", "orchestrator-release-notes-2026.md"),
    ],
)
def test_the_real_model_answers_from_the_sample_documents(
    store, settings, default_model_path, question, expected, file_name
):
    from orchestrator.app import build_app

    app_settings = settings.model_copy(update={"model": str(default_model_path), "collection": "sample"})
    answer = build_app(app_settings).invoke({"question": question})
    assert answer.route == "docs" and not answer.abstained and expected in answer.answer.replace("**", ""), (
        answer.answer
    )  # the answer span is marked in bold
    assert [Path(source["source"]).name for source in answer.sources] == [file_name]
