"""Every tuned number of the router, the docs route and the evidence picker in one frozen object, each with what it trades off and the split that chose it.

Settings (config.py) hold what a user may change (ORCH_RELEVANCE_THRESHOLD); these are the numbers behind
the code's decisions, read as `TUNING.name`. tests/unit/test_architecture.py checks that each field is used
and has a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields


def _tuned(value: float, note: str) -> float:
    return field(default=value, metadata={"note": note})


@dataclass(frozen=True)
class Tuning:
    """The thresholds of the router (chains/router.py, route_classifier.py), the docs and web routes (chains/docs.py,
    web.py) and the evidence picker (chains/evidence.py)."""

    strong_docs_match: float = _tuned(
        0.5,
        "a knowledge-base match this strong keeps a changing-fact question on docs; lower gives the documents "
        "more web questions, higher sends questions they cover to the web (dev: docs questions matched >= 0.31)",
    )
    web_over_docs: float = _tuned(
        0.7,
        "classifier probability of 'web' that beats a knowledge-base match below strong_docs_match; lower sends "
        "dated document questions ('How many ... in 1950?') to the web (route set CV + dev)",
    )
    chat_over_docs: float = _tuned(
        0.8,
        "classifier probability of 'chat' that keeps small talk or a task on the user's text off the docs route "
        "when a chunk matches; lower lets a chatty-sounding document question reach chat (dev)",
    )
    recent_years: int = _tuned(  # type: ignore[assignment]  # an int with the same metadata
        2,
        "a bare year this close to now is a time word when no document matches; more sends dated document "
        "questions to the web (dev)",
    )
    classifier_c: float = _tuned(
        4.0,
        "logistic regression's inverse regularisation; higher fits the templates' wording, lower underfits "
        "typos and keyword-only requests (route set, families held out: benchmarks/route_cv.py)",
    )

    # --- the docs and web routes: when an answer may be shown ---
    docs_min_support: float = _tuned(
        0.5,
        "share of a generated docs answer's content words the evidence window must hold; lower lets paraphrases "
        "with invented words through, higher replaces faithful paraphrases by refusals (dev)",
    )
    web_min_support: float = _tuned(
        0.5,
        "the same share for a web answer against the search snippets; lower lets invented details through, "
        "higher refuses answers that reword the snippets (dev web questions)",
    )
    min_window_coverage: float = _tuned(
        0.2,
        "IDF-weighted share of the question's terms the evidence window must hold to be about the question; "
        "lower answers unanswerable questions from nearby text, higher refuses answerable ones (dev: the 22 web "
        "and unanswerable questions forced through docs covered at most 0.37 with their best sentence)",
    )
    quote_min_coverage: float = _tuned(
        0.4,
        "share of the question a sentence must hold to be quoted without the model; lower quotes sentences "
        "that merely share words, higher sends more to the model (dev: gold sentences covered >= 0.43)",
    )
    typed_quote_min_coverage: float = _tuned(
        0.3,
        "the same for a sentence holding a value of the asked type (a date for 'when', a number for 'how many'); "
        "lower quotes typed sentences about something else (dev: gold typed sentences >= 0.33, an unanswerable "
        "question's 0.17)",
    )
    windows_tried: int = _tuned(  # type: ignore[assignment]  # an int with the same metadata
        2,
        "evidence windows read, best first, until one yields an answer; more costs a model call each and "
        "finds answers further down (dev: a second window turned one refusal into an answer, a third nothing)",
    )
    conflict_margin: float = _tuned(
        0.05,
        "two documents' best sentences this close in score are shown side by side as equally good answers; "
        "higher shows look-alikes' values next to the right one, lower hides a real conflict (structured tune)",
    )
    # --- the evidence picker: which sentence answers ---
    evidence_neighbours: int = _tuned(  # type: ignore[assignment]
        1,
        "sentences on each side of the best one that the model also reads; more gives context for pronouns "
        "and more room to answer from the wrong sentence (dev)",
    )
    min_evidence_words: int = _tuned(  # type: ignore[assignment]
        4,
        "a shorter fragment (unless a 'Key: value' line) is never the evidence; lower lets headings and "
        "labels answer, higher drops short list items that hold the value (dev and structured tune)",
    )
    name_match_bonus: float = _tuned(
        0.1,
        "added per unit of heading-path name match, so the document whose title names the asked thing beats "
        "look-alikes with the same line; higher overrides a better sentence elsewhere (structured tune)",
    )
    answer_type_bonus: float = _tuned(
        0.15,
        "added to a sentence holding the asked type (a date for 'when', a number for 'how many'); on the 40 dev "
        "docs questions it put the gold sentence first for 30 instead of 28; higher prefers any number",
    )


TUNING = Tuning()


def notes() -> dict[str, str]:
    """{field: its note}, for the docs and the tests."""
    return {f.name: f.metadata["note"] for f in fields(Tuning)}
