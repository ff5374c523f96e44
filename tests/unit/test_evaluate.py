"""Eval scoring on hand-made rows (no model): each kind's pass and fail cases, aggregation and reports."""

import json

import pytest

from orchestrator import Settings
from orchestrator.errors import ConfigError
from orchestrator.evaluate import (
    EvalInputError,
    check_resumable,
    contains_gold,
    normalize_answer,
    read_eval_questions,
    render_markdown,
    run_identity,
    score_row,
    summarize,
    table_rows,
    worst_failures,
    write_report,
)


def row(**fields):
    base = {
        "answer": "",
        "route": "chat",
        "sources": [],
        "abstained": False,
        "error": None,
        "latency_s": 1.0,
        "tool_calls": [],
    }
    return {**base, **fields}


def gold(kind, answers=(), source=None, id="q1", question="?"):
    return {"id": id, "kind": kind, "answers": list(answers), "source": source, "question": question}


# --- normalisation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The Broncos!", "broncos"),
        ("  A  Viking, an   Oak ", "viking oak"),
        ("2,249 yards.", "2249 yards"),
        ("Theatre", "theatre"),
    ],
)
def test_squad_normalisation(text, expected):
    assert normalize_answer(text) == expected


@pytest.mark.parametrize(
    "answer, golds, expected",
    [
        ("They played for the Broncos [1].", ["Broncos"], True),
        ("He threw for 2,249 yards [2]", ["2,249"], True),
        ("It was on the 41-yard line.", ["4"], False),  # whole words only: "4" is not in "41"
        ("On the 41 [1]", ["41"], True),
        ("Natural grass [1]", ["grass", "natural grass"], True),
        ("Artificial turf [1]", ["grass"], False),
        ("The answer is [1]", ["1"], False),  # citation markers are not answers
    ],
)
def test_contains_gold(answer, golds, expected):
    assert contains_gold(answer, golds) is expected


# --- docs -------------------------------------------------------------------------------------------


DOCS_GOLD = gold("docs", ["Broncos", "the Broncos"], "Super_Bowl_50.txt")
CITED = [{"source": "/data/corpus/Super_Bowl_50.txt", "chunk": "c1", "page": None, "score": 0.7}]


def test_docs_correct_needs_answer_and_cited_gold_file():
    score = score_row(row(route="docs", answer="Elway played for the Broncos [1].", sources=CITED), DOCS_GOLD)
    assert score.correct and score.route_ok
    assert score.checks == {
        "answer_contained": True,
        "source_cited": True,
        "refused": False,
        "short_enough": True,
        "quoted": False,
    }


def test_docs_right_answer_wrong_source_fails():
    other = [{"source": "/data/corpus/Warsaw.txt"}]
    score = score_row(row(route="docs", answer="The Broncos [1].", sources=other), DOCS_GOLD)
    assert not score.correct and score.checks["answer_contained"] and not score.checks["source_cited"]
    assert score.reason == "gold source not cited"


def test_docs_cited_but_wrong_answer_fails():
    score = score_row(row(route="docs", answer="The Panthers [1].", sources=CITED), DOCS_GOLD)
    assert not score.correct and score.checks["source_cited"] and not score.checks["answer_contained"]


def test_docs_refusal_fails_and_counts_as_refused():
    score = score_row(row(route="docs", abstained=True, answer="The documents I found don't say."), DOCS_GOLD)
    assert not score.correct and score.checks["refused"] and score.reason == "refused"


def test_docs_long_answer_is_flagged_but_route_is_ok():
    score = score_row(row(route="docs", answer="The Broncos. " + "x" * 400 + " [1]", sources=CITED), DOCS_GOLD)
    assert score.correct and not score.checks["short_enough"]


def test_docs_quoted_answer_is_counted_as_quoted():
    quoted = row(
        route="docs",
        answer='From the documents: "Elway led the Broncos." [1]',
        sources=CITED,
        route_reason={"answer_kind": "quote"},
    )
    assert score_row(quoted, DOCS_GOLD).checks["quoted"]
    generated = row(route="docs", answer="The Broncos [1].", sources=CITED, route_reason={"answer_kind": "generated"})
    assert not score_row(generated, DOCS_GOLD).checks["quoted"]


def test_docs_on_chat_route_is_a_route_failure():
    score = score_row(row(route="chat", answer="The Broncos"), DOCS_GOLD)
    assert not score.route_ok and not score.correct


# --- math (real SymPy through the math tool) -------------------------------------------------------


@pytest.mark.parametrize(
    "answer, expected",
    [("822 * 639 = 525258", True), ("525258", True), ("822 * 639 = 525259", False), ("I don't know", False)],
)
def test_math_uses_sympy_equivalence(answer, expected):
    score = score_row(row(route="math", answer=answer), gold("math", ["525258"]))
    assert score.correct is expected and score.route_ok


def test_math_error_row_fails_with_the_error_as_reason():
    score = score_row(row(route="math", answer="", error="math timed out"), gold("math", ["4"]))
    assert not score.correct and score.reason == "error: math timed out"


# --- unanswerable, web, chat ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields, correct",
    [
        ({"route": "docs", "abstained": True}, True),
        ({"route": "chat", "abstained": True}, True),
        ({"route": "web", "abstained": True}, False),  # abstaining after a web search is the wrong route
        ({"route": "docs", "abstained": False, "answer": "Bob did."}, False),
        ({"route": None, "abstained": False, "error": "boom"}, False),
    ],
)
def test_unanswerable(fields, correct):
    assert score_row(row(**fields), gold("unanswerable")).correct is correct


@pytest.mark.parametrize(
    "fields, correct",
    [
        ({"route": "web", "abstained": True, "tool_calls": [{"tool": "web_search", "error": "offline"}]}, True),
        ({"route": "web", "error": "web search failed: timeout"}, True),
        ({"route": "web", "answer": "4 flights [1] (searched 2026-01-01)", "sources": [{"source": "https://x"}]}, True),
        ({"route": "web", "answer": "Four flights."}, False),  # no results behind it: from memory
        ({"route": "chat", "abstained": True}, False),
    ],
)
def test_web(fields, correct):
    assert score_row(row(**fields), gold("web", ["4"])).correct is correct


@pytest.mark.parametrize("route, correct", [("chat", True), ("docs", False), (None, False)])
def test_chat(route, correct):
    assert score_row(row(route=route, answer="Hello!"), gold("chat")).correct is correct


def test_missing_row_scores_as_an_error():
    score = score_row(None, gold("chat"))
    assert not score.correct and "no answer row" in score.reason


# --- aggregation and reports --------------------------------------------------------------------------


def scored_set():
    golds = {
        "d1": gold("docs", ["Broncos"], "Super_Bowl_50.txt", id="d1", question="Who?"),
        "d2": gold("docs", ["grass"], "Super_Bowl_50.txt", id="d2", question="What field?"),
        "m1": gold("math", ["4"], id="m1", question="2+2?"),
        "u1": gold("unanswerable", id="u1", question="Pogo?"),
        "c1": gold("chat", id="c1", question="Hi"),
    }
    rows = {
        "d1": row(route="docs", answer="The Broncos [1]", sources=CITED, latency_s=2.0),
        "d2": row(route="docs", abstained=True, answer="The documents I found don't say.", latency_s=4.0),
        "m1": row(route="math", answer="2 + 2 = 4", latency_s=0.1),
        "u1": row(route="docs", answer="Vallecito's pogo stick was Bob.", latency_s=1.0),
        "c1": row(route="docs", error="boom", latency_s=0.5),
    }
    scores = [score_row(rows[key], golds[key]) for key in golds]
    return scores, rows, golds


def test_summarize_counts_per_kind_and_overall():
    scores, rows, _ = scored_set()
    summary = summarize(scores, rows)
    docs = summary["kinds"]["docs"]
    assert (docs["n"], docs["correct"], docs["score"], docs["refused"], docs["source_cited"]) == (2, 1, 0.5, 0.5, 0.5)
    assert docs["mean_latency_s"] == 3.0
    assert summary["kinds"]["chat"]["errors"] == 1 and summary["kinds"]["chat"]["route_accuracy"] == 0.0
    assert summary["overall"] == {"n": 5, "correct": 2, "score": 0.4, "route_accuracy": 0.8, "errors": 1}
    assert table_rows(summary)[-1][:3] == ["overall", "5", "2/5 (40%)"]


def test_worst_failures_put_errors_before_wrong_answers_before_refusals():
    scores, rows, golds = scored_set()
    failures = worst_failures(scores, rows, golds)
    assert [f["id"] for f in failures] == ["d2", "u1", "c1"]  # grouped by kind, one failure each
    assert failures[0]["reason"] == "refused" and failures[2]["reason"] == "error: boom"


def test_report_files(tmp_path):
    scores, rows, golds = scored_set()
    report = {
        "run": {"questions": "q.jsonl", "corpus": None, "model": "m.gguf", "workers": 1, "wall_seconds": 12.0},
        "summary": summarize(scores, rows),
        "failures": worst_failures(scores, rows, golds),
        "route_confusion": {"docs": {"docs": 2}},
    }
    md, js = write_report(tmp_path, report)
    text = md.read_text()
    assert "| docs | 2 | 1/2 (50%) |" in text and "## Worst failures" in text and "Vallecito" in text
    assert json.loads(js.read_text())["summary"]["overall"]["n"] == 5
    assert render_markdown(report) == text


# --- the question file and resume -----------------------------------------------------------------


@pytest.mark.parametrize(
    "line, message",
    [
        ({"id": "x", "kind": "poetry", "question": "?", "answers": []}, "kind 'poetry'"),
        ({"id": "x", "kind": "docs", "question": "?", "answers": ["a"]}, "needs the `source`"),
        ({"id": "x", "kind": "math", "question": "?", "answers": "4"}, "must be a list"),
    ],
)
def test_bad_eval_files_are_refused(tmp_path, line, message):
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps(line) + "\n")
    with pytest.raises(EvalInputError, match=message):
        read_eval_questions(path)


def test_resume_refuses_answers_from_another_model(tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"id": "1", "kind": "chat", "question": "hi", "answers": []}) + "\n")
    out = tmp_path / "out"
    check_resumable(out, run_identity(Settings(model="a.gguf"), questions, "fp"))
    (out / "answers.jsonl").write_text("")
    check_resumable(out, run_identity(Settings(model="a.gguf"), questions, "fp"))  # same run: fine
    with pytest.raises(ConfigError, match="different model"):
        check_resumable(out, run_identity(Settings(model="b.gguf"), questions, "fp"))


@pytest.mark.parametrize(
    "fields, correct",
    [
        ({"route": "docs", "abstained": True, "answer": "I couldn't find that in your documents."}, True),
        ({"route": "chat", "answer": "There is no record of a moon base on Venus."}, True),
        (
            {
                "route": "web",
                "answer": "Nobody has walked on Mars; the premise is wrong because no crewed mission landed.",
            },
            True,
        ),
        ({"route": "chat", "answer": "The first Venus moon base opened in 1998."}, False),
    ],
)
def test_false_premise_is_safe_when_declined_or_denied(fields, correct):
    assert score_row(row(**fields), gold("false_premise")).correct is correct


@pytest.mark.parametrize(("answer", "correct"), [("12*7 = 84", True), ("12*7 = 85", False)])
def test_math_word_is_scored_like_math(answer, correct):
    question = {**gold("math_word"), "answers": ["84"]}
    score = score_row(row(route="math", answer=answer), question)
    assert score.correct is correct and score.route_ok
