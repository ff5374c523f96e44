"""Evidence selection for the docs route: the sentence of the retrieved chunks that answers the question.

A 135M model pulls an answer out of a short passage far better than out of an 800-character chunk,
and the sentence that holds the answer is usually the one that shares the question's rare words and
meaning. Each sentence of the top chunks is scored

    score = (cosine(question, sentence) + coverage(question, sentence)) / 2

with the embedder's cosine (meaning) and the IDF-weighted share of the question's keyword terms found
in the sentence (names, numbers, rare words; matched by stem). The best
sentence with its neighbours (the "window") is what the model reads; the sentence alone is what the
answer may quote when the model's own answer fails the grounding check.

On the 40 dev `docs` questions (../shared/eval/dev), the best sentence held the gold answer for 25,
and the model answered 16 from the window against 15 from the whole chunk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

from orchestrator.chains.grounding import stem
from orchestrator.knowledge.retrieval import cosine_similarity, keyword_terms

# A regex splitter: NLTK's punkt needs a data download at run time (no network here) and spaCy
# needs a model package; a sentence boundary is a . ! or ? followed by space and a capital, digit
# or opening quote/bracket. Abbreviations ("Dr. Smith") split too early, which only shortens a
# sentence; the window of neighbours keeps the context.
SENTENCE_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9])")
CHUNKS_SEARCHED = 2  # the answer sits in the top chunk 39 times in 40 on the dev split; two is a margin
NEIGHBOURS = 1  # sentences on each side of the best one that the model also reads


@dataclass
class Evidence:
    """The best sentence of the retrieved chunks, with its neighbours and how well it covers the question."""

    chunk: object  # the LangChain Document the sentence comes from
    sentence: str
    window: str  # the sentence with NEIGHBOURS sentences on each side, in document order
    score: float
    sentence_coverage: float  # IDF-weighted share of the question's terms in the sentence (0..1)
    window_coverage: float


def split_sentences(text: str) -> list[str]:
    """Sentences of a text; line breaks (headings, list items) end a sentence too."""
    sentences = []
    for line in text.splitlines():
        sentences += [part.strip() for part in SENTENCE_BOUNDARY.split(line) if part.strip()]
    return sentences


def uniform_weights(question: str) -> dict[str, float]:
    """Every keyword term weighs 1: for retrievers that do not know their collection's IDF."""
    return {term: 1.0 for term in keyword_terms(question)}


def coverage(weights: dict[str, float], text: str) -> float:
    """IDF-weighted share of the question's terms in the text, matched by stem ("enroll" meets "enrolled").

    The retriever's `term_coverage` matches exact BM25 terms; within a chunk, the sentence that says
    "Tesla enrolled" must win over one that only says "Tesla", so inflections count here.
    """
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    stems = {stem(word) for word in keyword_terms(text)}
    return sum(weight for term, weight in weights.items() if stem(term) in stems) / total


def select_evidence(
    question: str, chunks: Sequence, embeddings, term_weights: Callable[[str], dict[str, float]] = uniform_weights,
) -> Evidence | None:
    """The best-scoring sentence of the first CHUNKS_SEARCHED chunks (best first), or None if they are empty."""
    candidates = [
        (chunk, sentences, index)
        for chunk in chunks[:CHUNKS_SEARCHED]
        for sentences in [split_sentences(chunk.page_content)]
        for index in range(len(sentences))
    ]
    if not candidates:
        return None
    weights = term_weights(question)
    question_vector = embeddings.embed_query(question)
    vectors = embeddings.embed_documents([sentences[index] for _, sentences, index in candidates])
    scores = [
        (cosine_similarity(question_vector, vector) + coverage(weights, sentences[index])) / 2
        for (_, sentences, index), vector in zip(candidates, vectors)
    ]
    best = max(range(len(candidates)), key=lambda i: scores[i])  # ties: the earlier (higher-ranked) chunk
    chunk, sentences, index = candidates[best]
    window = " ".join(sentences[max(0, index - NEIGHBOURS): index + NEIGHBOURS + 1])
    return Evidence(
        chunk=chunk, sentence=sentences[index], window=window, score=scores[best],
        sentence_coverage=coverage(weights, sentences[index]), window_coverage=coverage(weights, window),
    )
