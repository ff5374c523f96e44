"""Hybrid retrieval: vector similarity (Chroma) plus BM25 keywords (SQLite FTS5), fused by reciprocal rank fusion.

Ranking and relevance are kept apart on purpose:

* Ranking uses reciprocal rank fusion (Cormack, Clarke & Buettcher, SIGIR 2009):
  rrf(d) = sum over rankers of 1 / (rrf_k + rank(d)), with rank 1-based and rrf_k = 60 as in the
  paper. RRF needs no score normalisation, which BM25 scores (unbounded, corpus-dependent) lack.
* Relevance, `metadata["score"]` in 0..1, asks "does this chunk actually address the question?"
  It is the geometric mean of two signals that must both be high:
    - `cosine`: the cosine similarity of the question's and the chunk's embeddings, clipped at 0.
      For sentence-embedding models such as all-MiniLM-L6-v2 (trained with a cosine objective)
      it is comparable across questions. Alone it separates answerable from unanswerable
      questions only partly, because a whole chunk is compared with a short question.
    - `coverage`: the IDF-weighted share of the question's terms that occur in the chunk,
      sum_{t in Q and C} idf(t) / sum_{t in Q} idf(t), with Q, C the BM25 token sets (English
      stopwords removed) and idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5)), Lucene's BM25 idf.
      A question about a name the documents never mention gets low coverage however close
      its topic is.
  score = sqrt(cosine * coverage); when a question has no content terms at all, score = cosine.
  Both inputs are computed for every returned chunk, keyword-only hits included, so the score
  means the same whichever ranker found the chunk. benchmarks/retrieval.py measures how well
  it separates answerable from unanswerable questions.

The BM25 index (knowledge/keyword_index.py, SQLite FTS5) is kept beside Chroma and changed with every
write to the collection; a retriever checks it against the collection's write stamp, one metadata read,
and it is rebuilt from the collection's texts only when the two differ (a crash between the writes, an
index of an older format). So it never drifts out of step with Chroma, and no question or cold start
reads the whole collection.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal, Sequence

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, PrivateAttr

from orchestrator.knowledge.keyword_index import KeywordIndex, keyword_terms, question_terms
from orchestrator.knowledge.structure import indexed_text
from orchestrator.text import names, words

if TYPE_CHECKING:
    from orchestrator.config import Settings
    from orchestrator.knowledge.store import KnowledgeStore

RRF_K = 60  # Cormack et al. 2009

Mode = Literal["hybrid", "vector", "bm25"]


def cosine_similarity(a: Sequence[float], b: Sequence[float]) -> float:
    import numpy as np

    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    norm = float(np.linalg.norm(x) * np.linalg.norm(y))
    return float(x @ y) / norm if norm else 0.0


def term_coverage(question_terms: Sequence[str], chunk_text: str, idf: dict[str, float]) -> float | None:
    """IDF-weighted share of the question's terms found in the chunk; None if the question has none."""
    terms = set(question_terms)
    total = sum(idf[t] for t in terms)
    if not terms or total <= 0:
        return None
    chunk_terms = set(keyword_terms(chunk_text))
    return sum(idf[t] for t in terms if t in chunk_terms) / total


def relevance_score(cosine: float, coverage: float | None) -> float:
    """sqrt(max(cosine, 0) * coverage), in 0..1; just the clipped cosine when coverage is undefined."""
    semantic = min(1.0, max(0.0, cosine))
    return semantic if coverage is None else math.sqrt(semantic * coverage)


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], rrf_k: int = RRF_K) -> dict[str, float]:
    """rrf(d) = sum_r 1 / (rrf_k + rank_r(d)), ranks 1-based (Cormack et al. 2009)."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, chunk_id in enumerate(ranking, start=1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (rrf_k + rank)
    return fused


class HybridRetriever(BaseRetriever):
    """Vector + BM25 retrieval over one knowledge-base collection.

    Every returned Document carries metadata `score` (0..1 relevance, see the module docstring),
    `cosine` (unclipped), `coverage`, `vector_rank` / `bm25_rank` (1-based, None when that ranker
    did not return it), `bm25_score`, `rrf`, `chunk_id` and `page` (None when the source has no pages).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: Any = Field(description="The KnowledgeStore to search.")
    k: int = Field(default=4, ge=1, description="Chunks returned per question.")
    # 0.25 separated answerable from unanswerable dev questions best (benchmarks/retrieval.py recall).
    relevance_threshold: float = Field(default=0.25, ge=0.0, le=1.0)
    fetch_k: int = Field(default=20, ge=1, description="Candidates each ranker contributes to the fusion.")
    rrf_k: int = Field(default=RRF_K, ge=1)
    mode: Mode = "hybrid"
    filter_irrelevant: bool = Field(
        default=False, description="invoke() drops chunks whose score is below relevance_threshold."
    )

    _keyword_index: KeywordIndex | None = PrivateAttr(default=None)
    _keyword_generation: int = PrivateAttr(default=-1)

    @classmethod
    def from_settings(cls, store: KnowledgeStore, settings: Settings, **overrides: Any) -> HybridRetriever:
        """A retriever using the configured top_k and relevance_threshold."""
        options = {"k": settings.top_k, "relevance_threshold": settings.relevance_threshold, **overrides}
        return cls(store=store, **options)

    # --- the public helpers the answer chain and the router use ---

    def retrieve_with_scores(self, question: str, k: int | None = None) -> list[Document]:
        """The top k chunks by fused rank, each with its relevance `score`; not filtered by the threshold."""
        k = k or self.k
        fetch = max(self.fetch_k, k)
        query_vector = self.store.embeddings.embed_query(question)
        vector_hits = self.store.vector_search(query_vector, fetch) if self.mode != "bm25" else []
        keyword_hits = self._keywords().search(question, fetch) if self.mode != "vector" else []
        vector_ranking = [doc.id for doc, _ in vector_hits]
        keyword_ranking = [chunk_id for chunk_id, _ in keyword_hits]
        fused = reciprocal_rank_fusion([vector_ranking, keyword_ranking], self.rrf_k)
        matches = self.name_matches(question, list(fused))
        ranked = {chunk_id: value * (1.0 + matches.get(chunk_id, 0.0)) for chunk_id, value in fused.items()}
        cosines = {doc.id: cosine for doc, cosine in vector_hits}
        top = sorted(ranked, key=lambda chunk_id: (-ranked[chunk_id], -cosines.get(chunk_id, -1.0), chunk_id))[:k]
        return self._annotate(question, top, query_vector, vector_hits, keyword_hits, fused, matches)

    def name_matches(self, question: str, chunk_ids: Sequence[str]) -> dict[str, float]:
        """For each chunk, the IDF-weighted share of the question's terms that its heading path holds (0..1).

        Look-alike documents (ten account types with the same fee table) share every word of a question but
        the name: "Purple Account" is in the title of one of them. The fused rank is multiplied by
        (1 + this share), so the document whose title or section names what the question names comes first,
        and a word every title shares ("Account") weighs little because its idf is low. All the question's
        terms count, not only its capitalised words: people type "willow senior checking" in lower case.
        """
        terms = question_terms(question)
        if not terms:
            return {}
        index = self._keywords()
        headings = index.headings(chunk_ids)
        if not headings:
            return {}
        idf = index.idf(terms)
        total = sum(idf.values())
        if total <= 0:
            return {}
        matches = {}
        for chunk_id in chunk_ids:
            heading = headings.get(chunk_id)
            if heading:
                found = set(keyword_terms(heading))
                matches[chunk_id] = sum(weight for term, weight in idf.items() if term in found) / total
        return matches

    def relevant(self, docs: Sequence[Document]) -> list[Document]:
        """The chunks whose relevance score reaches the threshold (the ones an answer may rest on)."""
        return [doc for doc in docs if doc.metadata.get("score", 0.0) >= self.relevance_threshold]

    def term_weights(self, question: str) -> dict[str, float]:
        """The question's keyword terms with their BM25 idf in this collection (rare terms weigh most).

        Unlike retrieval, these keep QUESTION_WORDS: the docs route's evidence-coverage floors (0.2, 0.4)
        were set with them in the denominator, and without them an unanswerable dev question (how many people
        of a region keep a map in their pocket) cleared the floor.
        """
        return self._keywords().idf(keyword_terms(question))

    def unseen_names(self, question: str) -> list[str]:
        """The names in the question (`text.names`) that this collection never mentions, nor a near spelling.

        A name written as two words that the documents write as one ("Harbour Link" for "HarbourLink") is
        not unseen.
        """
        index = self._keywords()
        unseen = [name for name in names(question) if index.unseen(keyword_terms(name))]
        if not unseen:
            return []
        asked = words(question)
        joined = {first + second: (first, second) for first, second in zip(asked, asked[1:])}
        written_as_one = {part for compound, parts in joined.items() if not index.unseen([compound]) for part in parts}
        return [name for name in unseen if name.lower() not in written_as_one]

    def has_relevant(self, docs: Sequence[Document]) -> bool:
        """Whether any chunk clears the threshold: False means 'the documents do not say'."""
        return bool(self.relevant(docs))

    # --- LangChain's retriever interface ---

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun | None = None,
        k: int | None = None,
        unfiltered: bool = False,
    ) -> list[Document]:
        docs = self.retrieve_with_scores(query, k)
        return self.relevant(docs) if self.filter_irrelevant and not unfiltered else docs

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun | None = None,
        k: int | None = None,
        unfiltered: bool = False,
    ) -> list[Document]:
        from langchain_core.runnables.config import run_in_executor

        return await run_in_executor(None, self._get_relevant_documents, query, k=k, unfiltered=unfiltered)

    # --- internals ---

    def _keywords(self) -> KeywordIndex:
        """The BM25 index for the collection as it is now: checked against its write stamp after each write."""
        if self._keyword_index is not None and self._keyword_generation == self.store.generation:
            return self._keyword_index
        generation = self.store.generation
        index = self.store.keyword_index()
        self._keyword_index, self._keyword_generation = index, generation
        return index

    def _annotate(
        self,
        question: str,
        top: list[str],
        query_vector: Sequence[float],
        vector_hits: list[tuple[Document, float]],
        keyword_hits: list[tuple[str, float]],
        fused: dict[str, float],
        matches: dict[str, float] | None = None,
    ) -> list[Document]:
        by_id = {doc.id: doc for doc, _ in vector_hits}
        cosines = {doc.id: cosine for doc, cosine in vector_hits}
        missing = [chunk_id for chunk_id in top if chunk_id not in by_id]
        by_id.update({doc.id: doc for doc in self.store.documents(missing)})
        for chunk_id, vector in self.store.embeddings_of(missing).items():
            cosines[chunk_id] = cosine_similarity(query_vector, vector)
        vector_rank = {doc.id: rank for rank, (doc, _) in enumerate(vector_hits, start=1)}
        bm25_rank = {chunk_id: rank for rank, (chunk_id, _) in enumerate(keyword_hits, start=1)}
        bm25_score = dict(keyword_hits)
        terms = question_terms(question)
        idf = self._keywords().idf(terms)
        results = []
        for chunk_id in top:
            if chunk_id not in by_id:
                continue  # deleted by another process since the keyword index was built
            source = by_id[chunk_id]
            cosine = float(cosines.get(chunk_id, 0.0))
            coverage = term_coverage(terms, indexed_text(source.page_content, source.metadata), idf)
            metadata = {
                "page": None,
                **source.metadata,
                "chunk_id": chunk_id,
                "score": relevance_score(cosine, coverage),
                "cosine": cosine,
                "coverage": coverage,
                "vector_rank": vector_rank.get(chunk_id),
                "bm25_rank": bm25_rank.get(chunk_id),
                "bm25_score": bm25_score.get(chunk_id),
                "rrf": fused[chunk_id],
                "name_match": (matches or {}).get(chunk_id, 0.0),
            }
            results.append(Document(page_content=source.page_content, metadata=metadata, id=chunk_id))
        return results


class EmptyRetriever(BaseRetriever):
    """The retriever of an empty or missing collection: finds nothing, so `retriever | format_docs` still works."""

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun | None = None, **kwargs: Any
    ) -> list[Document]:
        return []


def scored_documents(retriever: Any, question: str, embeddings: Any, config: Any = None) -> list[Document]:
    """Chunks for `question`, each with a 0..1 relevance `score`, from any LangChain retriever.

    HybridRetriever scores its own chunks (unfiltered, so the caller can report the best score); a
    retriever that gives no score gets the clipped cosine of the question's and the chunk's embeddings.
    An object with the project's `retrieve_with_scores` method is used as it is.
    """
    if isinstance(retriever, HybridRetriever):
        return retriever.invoke(question, config, unfiltered=True)
    if isinstance(retriever, BaseRetriever):
        docs = retriever.invoke(question, config)
    else:
        docs = retriever.retrieve_with_scores(question)
    return add_missing_scores(docs, question, embeddings)


def _has_score(doc: Document) -> bool:
    return isinstance(doc.metadata.get("score"), (int, float)) and not isinstance(doc.metadata.get("score"), bool)


def add_missing_scores(docs: Sequence[Document], question: str, embeddings: Any) -> list[Document]:
    """Copies of `docs` where every chunk has metadata `score`: missing ones are the clipped embedding cosine."""
    unscored = [doc for doc in docs if not _has_score(doc)]
    if not unscored:
        return list(docs)
    query_vector = embeddings.embed_query(question)
    vectors = iter(embeddings.embed_documents([doc.page_content for doc in unscored]))
    scored = []
    for doc in docs:
        if not _has_score(doc):
            cosine = cosine_similarity(query_vector, next(vectors))
            doc = Document(
                page_content=doc.page_content,
                id=doc.id,
                metadata={**doc.metadata, "score": relevance_score(cosine, None), "cosine": cosine},
            )
        scored.append(doc)
    return scored
