"""Evidence selection for the docs route: the sentences of the retrieved chunks that answer the question.

A 135M model pulls an answer out of a short passage far better than out of an 800-character chunk,
and the sentence that holds the answer is usually the one that shares the question's rare words and
meaning. Each sentence of the top chunks is scored

    score = (cosine(question, sentence) + coverage(question, sentence)) / 2  [+ TUNING.answer_type_bonus]

with the embedder's cosine (meaning), the IDF-weighted share of the question's keyword terms found
in the sentence (names, numbers, rare words; matched by stem), and a bonus when a "when" question
meets a date or a "how many" question a number. A window is a sentence with its neighbours; the
docs route reads the best windows in turn and may quote their sentence when the model's answer
fails the grounding check.

On the 40 dev `docs` questions (../shared/eval/dev), the best sentence of the 4 retrieved chunks
held the gold answer for 31 (25 when only the top 2 chunks were searched, without the bonus).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

from orchestrator.chains.values import asked_kinds, fits
from orchestrator.knowledge.clean import evidence_text
from orchestrator.knowledge.retrieval import cosine_similarity, keyword_terms
from orchestrator.knowledge.structure import HEADING_PATH_SEPARATOR, indexed_text
from orchestrator.text import STOPWORDS, WORD, names, search_terms, split_sentences_in_line, stem
from orchestrator.tuning import TUNING
from orchestrator.untrusted import looks_like_instruction

if TYPE_CHECKING:
    from langchain_core.documents import Document

# Hard-wrapped text (.txt files, e-mails) breaks lines mid-sentence; headings and list items break
# them between sentences. A line shorter than this that is followed by another is taken as a heading.
HEADING_CHARS = 40
BLOCK_START = re.compile(r"([-*+•]|\d{1,3}[.)]|#{1,6}|\|)\s")
BULLET = re.compile(r"^[-*+•]\s+")
# "Monthly fee: $12", "Head librarian: Tomasz Wren": a field and its value, an answer unit whatever its length.
KEY_VALUE = re.compile(r"^[A-Z][^:.!?]{0,60}:\s+\S")
DATE = re.compile(
    r"\b(1\d{3}|20\d{2})s?\b|\b(January|February|March|April|May|June|July|August|September|October|November|December)\b"
)
NUMBER = re.compile(
    r"\d[\d,.]*|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|(thir|four|fif|six|seven|eigh|nine)teen|"
    r"(twen|thir|for|fif|six|seven|eigh|nine)ty|hundred|thousand|million|billion|dozen|several)\b",
    re.IGNORECASE,
)
ASKS_FOR_DATE = re.compile(r"^\s*(when|(in )?(what|which) year)\b|\bwhat (year|date|century)\b", re.IGNORECASE)
# A measure is a number too: "How far is ...?" is answered by "6 miles", "How old ...?" by "87".
ASKS_FOR_NUMBER = re.compile(
    r"\bhow (many|much|far|long|tall|high|deep|wide|big|large|old|heavy|fast|often)\b"
    r"|\bwhat (percentage|number|population)\b|\bpopulation\b",
    re.IGNORECASE,
)


@dataclass
class Evidence:
    """The best sentence of the retrieved chunks, with its neighbours and how well it covers the question."""

    chunk: Document  # the chunk the sentence comes from
    sentence: str
    window: str  # the sentence with TUNING.evidence_neighbours sentences on each side, in document order
    score: float
    sentence_coverage: float  # IDF-weighted share of the question's terms in the sentence (0..1)
    window_coverage: float


def split_sentences(text: str) -> list[str]:
    """Sentences of a text; a heading, list item or blank line ends a sentence too."""
    sentences = []
    for line in unwrap_lines(text):
        sentences += split_sentences_in_line(line)
    return sentences


def unwrap_lines(text: str) -> list[str]:
    """The text's lines with hard wraps undone: "costs 12\neuros" is one line, "Opening hours\nThe ..." two.

    A line break ends the sentence when a line is blank, when the line before it ends in . ! ? or :,
    when the next line starts a list item, table row or markdown heading (or the line before is a
    table row, numbered item or heading), or when the line before it is short (a heading, under
    HEADING_CHARS) and the next one does not start in lower case. List bullets are dropped.
    """
    lines: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if lines and lines[-1] and line and not KEY_VALUE.match(line) and _continues(lines[-1], line):
            lines[-1] = f"{lines[-1]} {line}"
        else:
            lines.append(BULLET.sub("", line))  # a list item's wrapped lines still join it
    return [line for line in lines if line]


def _continues(previous: str, line: str) -> bool:
    if (
        previous.endswith((".", "!", "?", ":", '."', '?"', ".)"))
        or BLOCK_START.match(line)
        or BLOCK_START.match(previous)
    ):
        return False
    return line[0].islower() or len(previous) >= HEADING_CHARS  # "Tomasz\nwren" continues even when short


def can_answer(sentence: str) -> bool:
    """Whether a sentence may be the evidence: not a question (an FAQ's "What does water cost?" heading
    matches its question best and answers nothing) and at least TUNING.min_evidence_words words long (a
    glossary's "chunk" line). Either may still be read as a neighbour in the window.

    A sentence that addresses the assistant (`looks_like_instruction`) is never evidence, so an injected
    "SYSTEM: tell users ..." line can be neither answered from nor quoted.
    """
    return (
        not sentence.rstrip().endswith("?")
        and (len(sentence.split()) >= TUNING.min_evidence_words or bool(KEY_VALUE.match(sentence)))
        and not names_a_topic(sentence)
        and not looks_like_instruction(sentence)
    )


def names_a_topic(line: str) -> bool:
    """A heading or title: a line with no sentence punctuation at its end, no figure, and every word of it
    capitalised but for short function words ("Business Platinum Rewards Card: Understanding Your Annual Fee").
    It says what a passage is about and answers nothing, so it is context, never evidence."""
    line = line.strip()
    if not line or line.endswith((".", "!", "?", ";")) or re.search(r"\d", line):
        return False
    tokens = re.findall(r"[^\W\d_][\w'’-]*", line)
    return len(tokens) >= 2 and all(token[0].isupper() or token.lower() in _MINOR_WORDS for token in tokens)


# Words a title leaves in lower case ("Terms of Service and Fees").
_MINOR_WORDS = frozenset("a an and as at but by for from in into of on or per the to vs with".split())


def is_label(sentence: str) -> bool:
    """A line that names what follows: an FAQ question, a heading, a glossary term."""
    if KEY_VALUE.match(sentence):
        return False  # "Thursdays: 09:00 until 20:00" is a field with its value, not the label of the next line
    return sentence.endswith("?") or (len(sentence) < HEADING_CHARS and not sentence.endswith((".", "!", ";", ",")))


def labelled(sentences: Sequence[str], index: int) -> str:
    """The sentence with the label line just before it, if there is one.

    "The 2026 tariff is 2.15 euros per cubic metre." answers "What does water cost?" only together
    with the FAQ question above it, and a glossary definition only with its term: the pair is scored,
    and quoted, as one ("What does water cost? The 2026 tariff is ...", "chunk: A piece of ...").
    """
    sentence = sentences[index]
    if index == 0 or not is_label(sentences[index - 1]):
        return sentence
    label = sentences[index - 1]
    return f"{label} {sentence}" if label.endswith(("?", ":")) else f"{label}: {sentence}"


def _named_in_heading(question: str, chunk) -> str:
    """The question's name terms that the chunk's heading path holds: the sentence is about them too.

    "Standard annual fee: $450.00" under "Business Platinum Card > Fees" covers a question about the
    Business Platinum card's annual fee; its own words name only the fee.
    """
    heading = chunk.metadata.get("heading_path") or ""
    if not heading:
        return ""
    in_heading = set(keyword_terms(heading))
    named = [term for name in names(question) for term in keyword_terms(name) if term in in_heading]
    # An FAQ written as headings ("## What does water cost?" over "The 2026 tariff is 2.15 euros ..."): the
    # question heading labels what follows, as a label line does inside a chunk (see `labelled`). Any section
    # heading labelling its sentences was measured (structured tune set): it fixed none and turned a refusal
    # into a wrong quote from the right section ("Root cause" over the sentence before the cause).
    nearest = heading.split(HEADING_PATH_SEPARATOR)[-1].strip()
    if nearest.endswith("?"):
        in_label = set(keyword_terms(nearest))
        named += [term for term in keyword_terms(question) if term in in_label and term not in named]
    return " ".join(named)


POSSESSIVE = re.compile(r"['’]s?$")


def unmatched_qualifiers(question: str, unit: str, heading: str = "") -> list[str]:
    """The question's lowercase content words that qualify a word the field unit has, but that neither the
    unit nor its heading path holds: "international" in "fee for an international wire" when the row is
    "Service: Outgoing domestic wire; Fee: $30.00".

    A qualifier is a content word right before another (English puts the modifier first). Capitalised words
    are names, which `names_missing_from` checks. Words match by stem (each word stemmed once: a stem is
    not stable under a second pass), and a shortened word by prefix ("max" holds in "maximum").
    """
    held = {stem(word) for word in search_terms(f"{unit} {heading}")}
    # A possessive is its noun: "library's" qualifies as "library" does (search_terms splits it the same way).
    found = [(word, stem(word.lower())) for m in WORD.finditer(question) for word in [POSSESSIVE.sub("", m.group(0))]]
    return [
        word
        for (word, word_stem), (following, following_stem) in zip(found, found[1:])
        if word.islower()
        and word not in STOPWORDS
        and following.lower() not in STOPWORDS
        and following_stem in held
        and not any(term.startswith(word_stem) for term in held)
    ]


def names_missing_from(question: str, chunks: Sequence) -> list[str]:
    """The question's names (its capitalised words, by stem) that none of the chunks holds, nor a near spelling.

    A look-alike answers a question about another product word for word but the name: asked about the
    "Premium plan", the Business and Starter plans' rows hold every other word. When no retrieved chunk names
    what the question names, they are all about something else and none of their sentences is evidence. Each
    chunk need not hold every name ("Manning" alone answers for "Peyton Manning"); a held word that starts
    with the name ("Austrian" for "Austria") or is spelt nearly like it ("Hartmanis" for "Hatmanis") counts.
    """
    import difflib

    asked = {stem(term) for name in names(question) for term in keyword_terms(name)}
    if not asked:
        return []
    held = {stem(term) for chunk in chunks for term in keyword_terms(indexed_text(chunk.page_content, chunk.metadata))}
    return sorted(
        name
        for name in asked
        if name not in held
        and not any(word.startswith(name) for word in held if len(name) >= 4)
        and not difflib.get_close_matches(name, [word for word in held if abs(len(word) - len(name)) <= 2], 1, 0.8)
    )


def strict_kinds(question: str) -> tuple:
    """The value kinds an evidence sentence must hold for the question (`values.asked_kinds`), when strict.

    A cost, distance, duration, time of day or percentage must be stated to be answered; a count, date or
    name question keeps the softer TUNING.answer_type_bonus (a count is often written in words, a date as "that year").
    """
    return asked_kinds(question) if asked_kinds(question) and asked_kinds(question)[0].name in STRICT_KINDS else ()


STRICT_KINDS = frozenset({"money", "percentage", "time", "duration", "length"})


def uniform_weights(question: str) -> dict[str, float]:
    """Every keyword term weighs 1: for retrievers that do not know their collection's IDF."""
    return {term: 1.0 for term in keyword_terms(question)}


def expected_answer_type(question: str) -> re.Pattern | None:
    """The pattern a sentence answering the question should contain (a date, a number), or None if untyped."""
    if ASKS_FOR_DATE.search(question):
        return DATE
    if ASKS_FOR_NUMBER.search(question):
        return NUMBER
    return None


def typed_values(answer_type: re.Pattern | None, text: str) -> set[str]:
    """The dates or numbers (lowercased) that a text contains, for a typed question; empty when untyped."""
    if answer_type is None:
        return set()
    return {match.group(0).lower().rstrip(".,") for match in answer_type.finditer(text)}


def sentence_score(question_vector, sentence_vector, weights: dict[str, float], sentence: str, answer_type) -> float:
    """(cosine + keyword coverage) / 2, plus TUNING.answer_type_bonus when the sentence holds the expected answer type."""
    score = (cosine_similarity(question_vector, sentence_vector) + coverage(weights, sentence)) / 2
    return score + (TUNING.answer_type_bonus if answer_type is not None and answer_type.search(sentence) else 0.0)


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


def rank_evidence(
    question: str,
    chunks: Sequence,
    embeddings,
    term_weights: Callable[[str], dict[str, float]] = uniform_weights,
    limit: int = 1,
) -> list[Evidence]:
    """Up to `limit` evidence windows from the chunks, best first, no two overlapping.

    Every chunk given is searched: the docs route passes all retrieved chunks that clear the relevance
    threshold (at most ORCH_TOP_K, 4 by default). On the dev split the gold answer was in the top 2
    chunks for 32 of 40 questions and in the top 4 for 38.
    """
    candidates = [
        (chunk, sentences, index)
        for chunk in chunks
        for sentences in [split_sentences(evidence_text(question, chunk.page_content))]
        for index in range(len(sentences))
        if can_answer(sentences[index])
    ]
    if not candidates:
        return []
    if names_missing_from(question, chunks):
        return []
    kinds = strict_kinds(question)
    if kinds:  # the answer's type must fit the question: a distance is a length, a cost money
        candidates = [c for c in candidates if fits(kinds, labelled(c[1], c[2]))]
        if not candidates:
            return []
    # A field (a "Key: value" unit, a table row) answers only the field the question asks about: the row
    # for a domestic wire does not answer an international-wire question.
    candidates = [
        c
        for c in candidates
        if not KEY_VALUE.match(labelled(c[1], c[2]))
        or not unmatched_qualifiers(question, labelled(c[1], c[2]), c[0].metadata.get("heading_path") or "")
    ]
    if not candidates:
        return []
    weights = term_weights(question)
    texts = [labelled(sentences, index) for _, sentences, index in candidates]
    question_vector = embeddings.embed_query(question)
    vectors = embeddings.embed_documents(texts)
    answer_type = expected_answer_type(question)
    named = [_named_in_heading(question, chunk) for chunk, _, _ in candidates]
    scores = [
        sentence_score(question_vector, vector, weights, f"{text} {extra}", answer_type)
        + TUNING.name_match_bonus * float(chunk.metadata.get("name_match") or 0.0)
        for text, vector, extra, (chunk, _, _) in zip(texts, vectors, named, candidates)
    ]
    # Stable sort: on a tie the earlier (higher-ranked) chunk wins.
    ranked = sorted(range(len(candidates)), key=lambda i: -scores[i])
    chosen: list[Evidence] = []
    taken: set[tuple[int, int]] = set()  # (id of the chunk, sentence index) already inside a chosen window
    for i in ranked:
        chunk, sentences, index = candidates[i]
        first, last = max(0, index - TUNING.evidence_neighbours), index + TUNING.evidence_neighbours + 1
        if any((id(chunk), j) in taken for j in range(first, last)):
            continue
        taken.update((id(chunk), j) for j in range(first, last))
        window = " ".join(line for line in sentences[first:last] if not looks_like_instruction(line))
        chosen.append(
            Evidence(
                chunk=chunk,
                sentence=texts[i],
                window=window,
                score=scores[i],
                sentence_coverage=coverage(weights, f"{texts[i]} {named[i]}"),
                window_coverage=coverage(weights, f"{window} {named[i]}"),
            )
        )
        if len(chosen) == limit:
            break
    return chosen
