"""Every tuned number of the router in one frozen object, each with what it trades off and the split that chose it.

Settings (config.py) hold what a user may change (ORCH_RELEVANCE_THRESHOLD); these are the numbers behind
the code's decisions, read as `TUNING.name`. tests/unit/test_tuning.py checks that each field is used and
has a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields


def _tuned(value: float, note: str) -> float:
    return field(default=value, metadata={"note": note})


@dataclass(frozen=True)
class Tuning:
    """The router's thresholds (chains/router.py, chains/route_classifier.py)."""

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


TUNING = Tuning()


def notes() -> dict[str, str]:
    """{field: its note}, for the docs and the tests."""
    return {f.name: f.metadata["note"] for f in fields(Tuning)}
