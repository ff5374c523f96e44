"""The route set (data/route_examples.jsonl): its size and coverage, that the generator still writes it, and
that it holds no evaluation question or near copy of one."""

import difflib
import importlib.util
import json
import os
import re
from collections import Counter
from pathlib import Path

import pytest

from orchestrator.chains.route_classifier import ROUTE_CLASSES, load_route_set
from orchestrator.resources import route_examples_file

REPO = Path(__file__).resolve().parents[2]
ROUTE_SET = REPO / "data" / "route_examples.jsonl"


def _eval_dir() -> Path | None:
    """The shared evaluation sets, when this machine has them (ORCH_EVAL_DIR, or a shared/eval beside the checkout)."""
    candidates = [os.environ.get("ORCH_EVAL_DIR", "")] + [str(p / "shared" / "eval") for p in REPO.parents[:3]]
    return next((Path(c) for c in candidates if c and (Path(c) / "dev" / "questions.jsonl").is_file()), None)


def _normal(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def near_copy(example: str, question: str) -> bool:
    """Within a small edit distance (character ratio >= 0.8), or sharing >= 70% of the words (Jaccard)."""
    a, b = _normal(example), _normal(question)
    words_a, words_b = set(a.split()), set(b.split())
    if len(words_a | words_b) >= 3 and len(words_a & words_b) / len(words_a | words_b) >= 0.7:
        return True
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return matcher.real_quick_ratio() >= 0.8 and matcher.quick_ratio() >= 0.8 and matcher.ratio() >= 0.8


def test_near_copy_measure():
    assert near_copy("How many albums has Adele released?", "how many albums has adele released")
    assert near_copy("What is the capital of Chile?", "What's the capital of Chile")
    assert not near_copy("What is the capital of Chile?", "Who painted the ceiling of the chapel?")


def test_the_route_set_is_large_and_covers_every_route_and_style():
    rows = load_route_set(ROUTE_SET)
    assert len(rows) >= 1500
    routes = Counter(row.route for row in rows)
    assert set(routes) == set(ROUTE_CLASSES)
    assert min(routes.values()) >= 150
    styles = {row.style for row in rows}
    assert {"question", "imperative", "keyword", "polite", "typo", "casual", "non-english"} <= styles
    families = Counter(row.family for row in rows)
    assert len(families) >= 100
    # every family is one route: holding a family out holds out one phrasing of one kind of request
    assert all(len({row.route for row in rows if row.family == family}) == 1 for family in families)


def test_the_shipped_route_set_is_the_generated_one():
    spec = importlib.util.spec_from_file_location("make_route_set", REPO / "scripts" / "make_route_set.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert [json.loads(line) for line in ROUTE_SET.read_text(encoding="utf-8").splitlines()] == module.rows()
    assert route_examples_file().read_bytes() == ROUTE_SET.read_bytes()


@pytest.mark.parametrize("split", ["dev", "val"])
def test_no_example_is_an_eval_question_or_a_near_copy(split):
    eval_dir = _eval_dir()
    if eval_dir is None or not (eval_dir / split / "questions.jsonl").is_file():
        pytest.skip("the shared evaluation sets are not on this machine")
    questions = [json.loads(line)["question"] for line in (eval_dir / split / "questions.jsonl").open() if line.strip()]
    examples = [row.text for row in load_route_set(ROUTE_SET)]
    # Only our own text is named, so a failure shows no evaluation question.
    copies = sorted({example for example in examples for question in questions if near_copy(example, question)})
    assert copies == [], f"{len(copies)} examples too close to a {split} question: {copies[:20]}"
