"""The docs route: retrieve, pick the evidence sentence, answer from it with a [1] citation, check grounding, quote or refuse."""

from __future__ import annotations

import time
from pathlib import PurePath
from typing import Iterator, Sequence

from langchain_core.documents import Document
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableConfig

from orchestrator.chains.answer_checks import answer_problem, describes_passage, echoes_prompt
from orchestrator.chains.evidence import (
    Evidence,
    expected_answer_type,
    rank_evidence,
    typed_values,
    uniform_weights,
)
from orchestrator.chains.generate import collect
from orchestrator.chains.grounding import cite_and_check, concise, says_unknown, support
from orchestrator.chains.route_texts import (
    NEVER_MENTIONED,
    NO_ANSWER_IN_DOCUMENTS,
    NO_DOCUMENTS,
    QUOTE_LABEL,
    UNCLEAR_PASSAGES,
)
from orchestrator.chains.values import (
    answer_span,
    answer_span_at,
    asked_kinds,
    found_values,
    is_factoid,
    normalised_values,
    unfaithful_values,
)
from orchestrator.knowledge.structure import HEADING_PATH_SEPARATOR
from orchestrator.result import Answer, Source
from orchestrator.tuning import TUNING
from orchestrator.untrusted import fence, neutralise

# The thresholds that decide when an answer may be shown (support, coverage, windows tried, the conflict margin)
# are fields of orchestrator/tuning.py's Tuning, each with what it trades off and the split that chose it.
QUOTE_CHARS = 320  # with the wrapper and citation, a quote stays under the 400-character answer limit
# The docs fence has no header: prompts/docs_answer.txt says the fenced text is data right after the END
# marker. Measured on dev (score.py): a header like the web route's before the BEGIN marker (the excerpts
# are untrusted text quoted from files, UNTRUSTED_NOTE, cite by number) changed 13 docs answers and lowered
# docs_gold_in_answer from 0.775 to 0.725 (false refusals 0.075 -> 0.100), so it stays off for documents.
FENCE_NAME = "DOCUMENTS"


def format_excerpts(docs: Sequence) -> str:
    """Number the excerpts [1], [2]... with their source's file name, fenced as untrusted quoted data.

    The same fence as web results (`untrusted.fence`, without the header: see FENCE_NAME): BEGIN/END
    markers, and each excerpt flattened onto one line so no line of a document can pose as a line of the
    prompt. Only the file name reaches the model: the folder it sits in says nothing about the content,
    and an absolute path would make the answer depend on where it was installed.
    """
    blocks = []
    for number, doc in enumerate(docs, 1):
        page = doc.metadata.get("page")
        name = PurePath(str(doc.metadata.get("source", "?"))).name or "?"
        where = neutralise(name, one_line=True) + (f", page {page}" if page else "")
        blocks.append(f"[{number}] (from {where})\n{neutralise(doc.page_content.strip(), one_line=True)}")
    return fence(FENCE_NAME, blocks)


def source_entry(doc: Document) -> Source:
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


def quote(sentence: str, limit: int = QUOTE_CHARS) -> str:
    """The sentence in quotation marks, cut at a word boundary if it is long."""
    if len(sentence) > limit:
        sentence = sentence[: limit - 1].rsplit(" ", 1)[0] + "…"
    return f'{QUOTE_LABEL} "{sentence}" [1]'


def answer_from_docs(
    question: str,
    answer: Answer,
    retriever,
    chat_model,
    prompt: str,
    threshold: float,
    embeddings,
    docs: Sequence | None = None,
    config: RunnableConfig | None = None,
) -> Iterator[str]:
    """Answer from the knowledge base, or say it does not contain the answer.

    The model reads only an evidence window (see chains/evidence.py), the best one first. Its answer
    is kept when the window supports it; otherwise the window's sentence is quoted when it covers the
    question (see `quotable`); otherwise the next window is tried, up to TUNING.windows_tried. When none
    yields an answer, the chain refuses.
    """
    if retriever is None:
        yield from refuse(answer, NO_DOCUMENTS)
        return
    from orchestrator.knowledge.retrieval import scored_documents

    docs = list(docs) if docs is not None else scored_documents(retriever, question, embeddings, config)
    relevant = sorted(
        (d for d in docs if d.metadata.get("score", 0.0) >= threshold), key=lambda d: -d.metadata["score"]
    )
    best = max((d.metadata.get("score", 0.0) for d in docs), default=0.0)
    answer.tool_calls.append({"tool": "retriever", "input": question, "output": [source_entry(d) for d in docs]})
    unseen = unseen_names(retriever, question)
    if unseen:
        # A name the knowledge base never mentions gets no quote at any coverage: whatever sentence comes
        # closest is about something else (a Chrysler price for a Tesla question).
        answer.route_reason.update(unseen_names=unseen, best_match=round(best, 3), threshold=threshold)
        named = ", ".join(f'"{name}"' for name in unseen)
        yield from refuse(answer, NEVER_MENTIONED.format(names=named))
        return
    # A retriever passed in through the Python API may not know its collection's IDF.
    windows = rank_evidence(
        question, relevant, embeddings, getattr(retriever, "term_weights", uniform_weights), TUNING.windows_tried
    )
    if not windows:
        # The scores stay in route_reason (/why, --json); the answer speaks plainly.
        answer.route_reason.update(best_match=round(best, 3), threshold=threshold)
        yield from refuse(answer, NO_ANSWER_IN_DOCUMENTS)
        return
    if is_factoid(question):
        conflict = differing_values(question, windows)
        if conflict:
            answer.route_reason.update(answer_kind="differing values")
            answer.sources = [source_entry(evidence.chunk) for evidence in conflict]
            answer.answer = each_value_with_its_source(question, conflict)
            yield answer.answer
            return
    for evidence in windows:
        text = _answer_from_window(question, answer, chat_model, prompt, evidence, config)
        if text is not None:
            answer.sources = [source_entry(evidence.chunk)]
            answer.answer = text
            yield text
            return
    record_evidence(answer, windows[0])
    yield from refuse(answer, UNCLEAR_PASSAGES)


def unseen_names(retriever, question: str) -> list[str]:
    """The question's names that the knowledge base never mentions (none for a retriever that can't tell).

    A question about a thing the documents never name ("When was the Treaty of Velmoor signed?") still
    finds sentences about treaties and signing, and a year to quote. Its evidence must then cover the
    question as well as a quote must (TUNING.quote_min_coverage): the missing name is the rarest term, so a
    sentence without it reaches that bar only when the rest of the question is plainly there (a
    misspelt name the near-spelling check did not catch).
    """
    find = getattr(retriever, "unseen_names", None)
    return list(find(question)) if callable(find) else []


CONFLICT_QUOTE_CHARS = 150  # two quotes and their labels stay under the 400-character answer limit


def differing_values(question: str, windows: Sequence[Evidence]) -> list[Evidence] | None:
    """The two best windows when they come from different documents, answer equally well, are equally named
    by the question, and give different values for what it asks; else None (see `each_value_with_its_source`)."""
    if len(windows) < 2:
        return None
    first, second = windows[:2]
    if first.chunk.metadata.get("source") == second.chunk.metadata.get("source"):
        return None
    if abs(first.score - second.score) > TUNING.conflict_margin:
        return None
    if float(first.chunk.metadata.get("name_match") or 0.0) != float(second.chunk.metadata.get("name_match") or 0.0):
        return None  # the question names one of them: the look-alike rule has already chosen
    spans = [answer_span(question, evidence.sentence) for evidence in (first, second)]
    if not all(spans) or normalised_values(spans[0] or "") == normalised_values(spans[1] or ""):
        return None
    if not all(quotable(evidence, "", question) for evidence in (first, second)):
        return None
    return [first, second]


def document_label(evidence: Evidence) -> str:
    """What names a document in an answer: its title (the first heading) or its file name."""
    heading = str(evidence.chunk.metadata.get("heading_path") or "")
    title = heading.split(HEADING_PATH_SEPARATOR)[0] if heading else ""
    return title or PurePath(str(evidence.chunk.metadata.get("source", "?"))).name


def each_value_with_its_source(question: str, conflict: Sequence[Evidence]) -> str:
    """The documents' different values, each quoted with its source, and the question back: which one?"""
    parts = [
        f'{neutralise(document_label(evidence), one_line=True)} says "{_cut(mark_span(question, evidence.sentence), CONFLICT_QUOTE_CHARS)}" [{number}]'
        for number, evidence in enumerate(conflict, start=1)
    ]
    return "The documents differ: " + "; ".join(parts) + ". Which one do you mean?"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def mark_span(question: str, sentence: str) -> str:
    """The sentence with the span that answers the question marked **like this** (`values.answer_span_at`)."""
    found = answer_span_at(question, sentence)
    if not found:
        return sentence
    span, at = found
    return f"{sentence[:at]}**{span}**{sentence[at + len(span) :]}"


def extract(question: str, answer: Answer, unit: str) -> str:
    """A factoid's answer: the evidence unit quoted, the answering span marked (it can state nothing else)."""
    answer.route_reason.update(answer_kind="quote", answer_span=answer_span(question, unit))
    return quote_marked(question, unit)


def quote_marked(question: str, unit: str, limit: int = QUOTE_CHARS) -> str:
    marked = mark_span(question, unit)
    return quote(marked, limit + (len(marked) - len(unit)))


def _extract_from_window(
    question: str, answer: Answer, chat_model, prompt: str, evidence: Evidence, config=None
) -> str | None:
    """A factoid answered by extraction: the evidence sentence quoted with its answer marked.

    A sentence that covers the question well enough to be quoted (`quotable` without a model answer) is
    quoted without asking the model. Otherwise the model reads the window; when its answer is supported
    (or points at a typed value the sentence holds), the window's sentence that supports it best is quoted.
    The model's own words are never shown, so a figure it made up never reaches the answer.
    """
    record_evidence(answer, evidence)
    answer.route_reason.pop("grounding_support", None)
    if quotable(evidence, "", question):
        return extract(question, answer, evidence.sentence)
    raw = _model_answer(question, answer, chat_model, prompt, evidence, config)
    # The model only vouches that the window answers; the unit quoted is still the one the question chose
    # (a wrong "from 9:00 to 17:00" must not move the quote to Monday's line).
    if _supported_answer(raw, question, answer, evidence) is not None or quotable(evidence, raw, question):
        return extract(question, answer, evidence.sentence)
    return None


def _answer_from_window(
    question: str, answer: Answer, chat_model, prompt: str, evidence: Evidence, config=None
) -> str | None:
    """The model's supported answer from this window, else its sentence quoted if `quotable`, else None.

    A factoid is answered by extraction (`_extract_from_window`); only an explanation is generated, and
    every value and name it states must be in the window (`values.unfaithful_values`).
    """
    if is_factoid(question):
        return _extract_from_window(question, answer, chat_model, prompt, evidence, config)
    record_evidence(answer, evidence)
    answer.route_reason.pop("grounding_support", None)
    raw = _model_answer(question, answer, chat_model, prompt, evidence, config)
    text = _supported_answer(raw, question, answer, evidence)
    if text is not None:
        invented = unfaithful_values(text, evidence.window, question)
        if invented:
            answer.tool_calls.append(
                {"tool": "grounding_check", "input": raw, "output": f"not in the evidence: {', '.join(invented)}"}
            )
            text = None
    if text is not None and restates_sentence(raw, evidence.sentence, question):
        answer.route_reason.update(answer_kind="quote", quoted_because="the answer restated the sentence")
        return quote(evidence.sentence)
    if text is None and quotable(evidence, raw, question):
        answer.route_reason["answer_kind"] = "quote"
        text = quote(evidence.sentence)
    return text


def restates_sentence(model_answer: str, sentence: str, question: str) -> bool:
    """Does the model's answer only restate the evidence sentence (every word it adds to the question is there)?

    Then the sentence itself is the better answer: the source's own words, with nothing the model
    rearranged ("X beat Y" read back as "Y beat X" keeps every word). On the dev split this turned 4
    of 16 generated answers into quotes: one wrong answer became right, none went wrong (checked on
    val afterwards: 7 changed, two wrong answers became right, none went wrong). A sentence too long
    to quote whole (QUOTE_CHARS) keeps the model's answer.
    """
    return len(sentence) <= QUOTE_CHARS and support(concise(model_answer), sentence, question) >= 1.0


def quotable(evidence: Evidence, model_answer: str, question: str) -> bool:
    """May the evidence sentence stand as the answer when the model's own answer failed the check?

    Yes when it covers the question well; or when it covers the question somewhat and the model's
    answer gave a value of the asked type (a date for "when", a number for "how many") that the
    sentence holds: the model pointed at the right sentence but wrapped it in words the check rejects
    ("The document is dated 1875, so ..."); or when the model described the passage or repeated the
    prompt instead of answering, and the window covers the question as much as a generated answer needs;
    or when the sentence holds a value of the asked type that the question does not, and covers the question
    at TUNING.typed_quote_min_coverage.
    """
    if evidence.sentence_coverage >= TUNING.quote_min_coverage:
        return True
    if describes_passage(model_answer) or echoes_prompt(model_answer):
        # "The document is about the harbour district, which has a market", "The text is quoted
        # data, not instructions.": the model neither answered nor said the window lacks the answer. The
        # window is judged as a generated answer's would be, and its sentence speaks for itself.
        return evidence.window_coverage >= TUNING.min_window_coverage
    values_in = _typed_values_for(question)
    asked = values_in(question)
    offered = values_in(evidence.sentence) - asked
    if offered and evidence.sentence_coverage >= TUNING.typed_quote_min_coverage:
        return True
    pointed = (values_in(model_answer) - asked) & offered
    return bool(pointed) and evidence.window_coverage >= TUNING.min_window_coverage


def _typed_values_for(question: str):
    """How to list the values of the asked type in a text: the kinds of `values.asked_kinds` (a time, an
    amount, a duration ...) when the question asks for a measure, else the date / number of `expected_answer_type`."""
    kinds = [kind for kind in asked_kinds(question) if kind.name != "name"]
    if kinds and kinds[0].name != "date":
        return lambda text: {match.group(0).lower() for match in found_values(kinds, text)}
    answer_type = expected_answer_type(question)
    return lambda text: typed_values(answer_type, text)


def record_evidence(answer: Answer, evidence) -> None:
    """Put the evidence sentence and its scores in the answer's route_reason (what `eval` and --json show)."""
    answer.route_reason["evidence"] = {
        "sentence": evidence.sentence,
        "score": round(evidence.score, 3),
        "sentence_coverage": round(evidence.sentence_coverage, 3),
        "window_coverage": round(evidence.window_coverage, 3),
    }


def _model_answer(question: str, answer: Answer, chat_model, prompt: str, evidence: Evidence, config=None) -> str:
    """What the model answers from the evidence window alone (greedy decoding: extraction, not creativity)."""
    chain = ChatPromptTemplate.from_messages([("human", prompt)]) | chat_model.bind(temperature=0.0)
    started = time.perf_counter()
    context = format_excerpts([Document(page_content=evidence.window, metadata=evidence.chunk.metadata)])
    return collect(answer, chain.stream({"context": context, "question": question}, config), started)


def _supported_answer(raw: str, question: str, answer: Answer, evidence: Evidence) -> str | None:
    """The model's answer with its citation, or None when it says it can't, doesn't answer (answer_checks.py)
    or the window doesn't support it."""
    if says_unknown(raw) or not raw:
        answer.tool_calls.append({"tool": "grounding_check", "input": raw, "output": "the model found no answer"})
        return None
    problem = answer_problem(raw)
    if problem is not None:
        answer.tool_calls.append({"tool": "grounding_check", "input": raw, "output": problem})
        return None
    grounded = cite_and_check(concise(raw), [evidence.window], question)
    answer.route_reason["grounding_support"] = round(grounded.support, 3)
    if grounded.support < TUNING.docs_min_support or evidence.window_coverage < TUNING.min_window_coverage:
        answer.tool_calls.append(
            {
                "tool": "grounding_check",
                "input": raw,
                "output": f"support {grounded.support:.2f} (min {TUNING.docs_min_support}), question coverage "
                f"{evidence.window_coverage:.2f} (min {TUNING.min_window_coverage})",
            }
        )
        return None
    answer.route_reason["answer_kind"] = "generated"
    return grounded.text
