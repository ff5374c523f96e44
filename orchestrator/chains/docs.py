"""The docs route: retrieve, answer from fenced excerpts with [n] citations, check grounding, or refuse."""

from __future__ import annotations

import time
from typing import Iterator, Sequence

from langchain_core.prompts import ChatPromptTemplate

from orchestrator.chains.generate import collect
from orchestrator.chains.grounding import cite_and_check, concise, says_unknown
from orchestrator.result import Answer

FENCE_MARKERS = ("<<<DOCUMENTS_BEGIN>>>", "<<<DOCUMENTS_END>>>")
MIN_SUPPORT = 0.5  # share of the answer's content words that must appear in the cited excerpts


def _neutralise(text: str) -> str:
    for marker in FENCE_MARKERS:
        text = text.replace(marker, "")
    return text


def format_excerpts(docs: Sequence) -> str:
    """Number the excerpts [1], [2]... with their source, as quoted data."""
    blocks = []
    for number, doc in enumerate(docs, 1):
        page = doc.metadata.get("page")
        where = doc.metadata.get("source", "?") + (f", page {page}" if page else "")
        blocks.append(f"[{number}] (from {where})\n{_neutralise(doc.page_content.strip())}")
    return "\n\n".join(blocks)


def source_entry(doc) -> dict:
    """A chunk as an entry of the answer's `sources` field."""
    return {
        "source": doc.metadata.get("source"),
        "chunk": doc.metadata.get("chunk_id") or doc.id,
        "page": doc.metadata.get("page"),
        "score": round(float(doc.metadata.get("score", 0.0)), 4),
    }


def refuse(answer: Answer, message: str) -> Iterator[str]:
    answer.abstained = True
    answer.answer = message
    yield message


def answer_from_docs(
    question: str, answer: Answer, retriever, chat_model, prompt: str, threshold: float, max_excerpts: int = 1,
    docs: Sequence | None = None,
) -> Iterator[str]:
    """Answer from the knowledge base, or say it does not contain the answer."""
    if retriever is None:
        yield from refuse(answer, "I have no documents to check (the knowledge base is empty), so I can't answer that reliably.")
        return
    docs = list(docs) if docs is not None else retriever.retrieve_with_scores(question)
    relevant = sorted((d for d in docs if d.metadata.get("score", 0.0) >= threshold), key=lambda d: -d.metadata["score"])
    best = max((d.metadata.get("score", 0.0) for d in docs), default=0.0)
    answer.tool_calls.append({"tool": "retriever", "input": question, "output": [source_entry(d) for d in docs]})
    if not relevant:
        yield from refuse(
            answer,
            f"Your documents don't contain an answer to that (best match {best:.2f}, below the {threshold:.2f} "
            "relevance threshold), and I won't guess.",
        )
        return
    excerpts = relevant[:max_excerpts]
    # Greedy decoding: extraction, not creativity. One excerpt by default: on 20 dev questions the
    # 135M model found the answer in 9 with the best excerpt alone and in 6 with the best three.
    chain = ChatPromptTemplate.from_messages([("human", prompt)]) | chat_model.bind(temperature=0.0)
    started = time.perf_counter()
    raw = collect(answer, chain.stream({"context": format_excerpts(excerpts), "question": question}), started)
    if says_unknown(raw) or not raw:
        yield from refuse(answer, "The documents I found don't say.")
        return
    grounded = cite_and_check(concise(raw), [d.page_content for d in excerpts], question)
    answer.route_reason["grounding_support"] = round(grounded.support, 3)
    if grounded.support < MIN_SUPPORT:
        answer.tool_calls.append({"tool": "grounding_check", "input": raw, "output": f"support {grounded.support:.2f} < {MIN_SUPPORT}"})
        yield from refuse(answer, "I found related passages, but they don't clearly support an answer, so I won't guess.")
        return
    answer.sources = [source_entry(excerpts[number - 1]) for number in grounded.cited]
    answer.answer = grounded.text
    yield grounded.text
