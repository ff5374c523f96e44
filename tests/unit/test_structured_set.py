"""The structured-document evaluation set (benchmarks/sets/structured) is whole and its split is a partition."""

import importlib.util
import json
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest

from orchestrator.evaluate import normalize_answer

SET_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "sets" / "structured"
CORPUS = SET_DIR / "corpus"


def read_rows(name: str) -> list[dict]:
    path = SET_DIR / name
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible_text(path: Path) -> str:
    """What a reader sees: HTML without its tags, other files as written."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".html":
        return text
    parser = _TextOnly()
    parser.feed(text)
    return " ".join(parser.parts)


def words(text: str) -> str:
    """score.py's normalisation, with the en dash and the times sign read as spaces.

    score.py keeps them, so "05:30–21:00" is one word there; splitting at them lets a gold
    "21:00" be found as a whole word, as score.py finds it as a substring.
    """
    return normalize_answer(text.replace("–", " ").replace("×", " "))


def gold_in_text(golds: list[str], text: str) -> bool:
    """Some gold answer occurs in the text as whole words after normalisation."""
    padded = f" {words(text)} "
    return any(words(g) and f" {words(g)} " in padded for g in golds)


def load_split_script():
    spec = importlib.util.spec_from_file_location("structured_split", SET_DIR / "split.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


QUESTIONS = read_rows("questions.jsonl")
DOCS = [q for q in QUESTIONS if q["kind"] == "docs"]


def test_rows_have_the_eval_format():
    for q in QUESTIONS:
        assert q["kind"] in ("docs", "unanswerable"), q["id"]
        expected = {"id", "kind", "question", "answers"} | ({"source"} if q["kind"] == "docs" else set())
        assert set(q) == expected, q["id"]
        assert q["question"].strip() and isinstance(q["answers"], list)
        assert bool(q["answers"]) == (q["kind"] == "docs"), q["id"]


def test_ids_and_questions_are_unique():
    assert len({q["id"] for q in QUESTIONS}) == len(QUESTIONS)
    assert len({q["question"].lower() for q in QUESTIONS}) == len(QUESTIONS)


def test_counts_meet_the_minimums():
    kinds = Counter(q["kind"] for q in QUESTIONS)
    assert len(QUESTIONS) >= 100 and kinds["docs"] >= 75 and kinds["unanswerable"] >= 25
    files = [p for p in CORPUS.iterdir() if p.is_file()]
    assert len(files) >= 44
    assert {p.suffix for p in files} == {".md", ".html", ".txt"}
    styles = {load_split_script().stratum(q)[1] for q in QUESTIONS}
    assert len(styles) >= 5


def test_corpus_file_names_are_unique_ignoring_case():
    # score.py matches a cited source by file name alone.
    names = [p.name.lower() for p in CORPUS.iterdir()]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("question", DOCS, ids=[q["id"] for q in DOCS])
def test_each_docs_gold_is_written_in_its_source(question):
    source = CORPUS / question["source"]
    assert source.is_file(), question["source"]
    assert gold_in_text(question["answers"], visible_text(source)), question["answers"]


def test_the_gold_check_rejects_a_value_that_is_not_there():
    text = visible_text(CORPUS / "northgate_birch_rewards_checking.md")
    assert gold_in_text(["$2,500"], text)
    assert not gold_in_text(["$3,750"], text)
    assert not gold_in_text(["2,50"], text)  # whole words only


def test_html_pages_are_read_without_their_tags():
    text = visible_text(CORPUS / "tallis_fold_2.html")
    assert "Weight" in text and "<td>" not in text


def test_split_is_a_partition_of_the_questions():
    tune, heldout = read_rows("tune.jsonl"), read_rows("heldout.jsonl")
    tune_ids, heldout_ids = {q["id"] for q in tune}, {q["id"] for q in heldout}
    assert not tune_ids & heldout_ids
    assert tune_ids | heldout_ids == {q["id"] for q in QUESTIONS}
    assert sorted(tune + heldout, key=lambda q: q["id"]) == sorted(QUESTIONS, key=lambda q: q["id"])
    assert 0.35 <= len(tune) / len(QUESTIONS) <= 0.45


def test_split_files_are_what_the_split_script_makes():
    expected_tune, expected_heldout = load_split_script().split(QUESTIONS)
    assert read_rows("tune.jsonl") == expected_tune
    assert read_rows("heldout.jsonl") == expected_heldout


def test_split_keeps_every_style_on_both_sides():
    module = load_split_script()
    tune, heldout = module.split(QUESTIONS)
    assert {module.stratum(q) for q in tune} == {module.stratum(q) for q in heldout}
