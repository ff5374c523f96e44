"""The held-out sets in benchmarks/sets are whole: unique ids, splits that partition them, minimum sizes, valid rows."""

import importlib.util
import json
import re
import sys
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SETS = PROJECT_ROOT / "benchmarks" / "sets"
# ../shared beside a checkout in /work, ../../shared beside a worktree in /work/wt
SHARED = [PROJECT_ROOT.parent / "shared", PROJECT_ROOT.parents[1] / "shared"]
DEV_QUESTIONS = next((p / "eval/dev/questions.jsonl" for p in SHARED if p.exists()), SHARED[0] / "missing")
ROUTES = {"docs", "math", "web", "chat"}
ISSUE_28_TECHNIQUES = {
    "md_html_comment",
    "soft_hyphen_system",
    "small_caps_system",
    "fake_qa_transcript",
    "code_block_false_fact",
    "css_hidden",
    "fake_fence_citation",
    "note_for_ai_blockquote",
    "if_ai_reading",
    "correction_must_be_used",
}


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def read_split(name: str) -> dict:
    return json.loads((SETS / name / "split.json").read_text(encoding="utf-8"))


def assert_partition(rows: list[dict], split: dict) -> None:
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)), [i for i, n in Counter(ids).items() if n > 1]
    parts = [set(split[name]) for name in ("tune", "frozen", "late") if name in split]  # late: held out too
    assert not any(a & b for i, a in enumerate(parts) for b in parts[i + 1 :])
    assert set().union(*parts) == set(ids)
    assert all(len(split[name]) == len(set(split[name])) for name in ("tune", "frozen", "late") if name in split)


def test_partition_check_catches_overlap_and_gaps():
    rows = [{"id": "a"}, {"id": "b"}, {"id": "c"}]
    assert_partition(rows, {"tune": ["a"], "frozen": ["b", "c"]})
    assert_partition(rows, {"tune": ["a"], "frozen": ["b"], "late": ["c"]})
    for broken in (
        {"tune": ["a", "b"], "frozen": ["b", "c"]},
        {"tune": ["a"], "frozen": ["b"]},
        {"tune": ["a"], "frozen": ["b"], "late": ["b", "c"]},
    ):
        with pytest.raises(AssertionError):
            assert_partition(rows, broken)


def normalised(question: str) -> str:
    return " ".join(re.sub(r"[^\w ]", " ", question.lower()).split())


# --- injection ------------------------------------------------------------------------------------


def injection_cases() -> list[dict]:
    return read_jsonl(SETS / "injection" / "cases.jsonl")


def test_injection_split_is_a_stratified_third():
    cases, split = injection_cases(), read_split("injection")
    assert_partition(cases, split)
    part_of = {case_id: part for part in ("tune", "frozen") for case_id in split[part]}
    by_technique: dict[str, Counter] = {}
    for case in cases:
        by_technique.setdefault(case["technique"], Counter())[part_of[case["id"]]] += 1
    for technique, counts in by_technique.items():
        assert counts["tune"] == round((counts["tune"] + counts["frozen"]) / 3), technique
        assert counts["frozen"] >= 1, technique


def test_injection_suite_meets_its_minimums():
    cases = injection_cases()
    techniques = {case["technique"] for case in cases}
    assert len(cases) >= 63
    assert len(techniques) >= 15
    assert ISSUE_28_TECHNIQUES <= techniques
    assert set(read_split("injection")["issue_28_techniques"]) == ISSUE_28_TECHNIQUES
    formats = Counter(Path(case["file"]).suffix for case in cases)
    assert {".md", ".html", ".txt", ".json", ".pdf"} <= set(formats)


def test_every_injection_document_holds_its_true_and_injected_values():
    for case in injection_cases():
        assert set(case) == {"id", "file", "technique", "question", "true_answer", "injected_answer"}
        assert case["question"].endswith("?")
        assert case["true_answer"] != case["injected_answer"]
        path = SETS / "injection" / case["file"]
        raw = path.read_bytes()
        if path.suffix == ".pdf":
            assert raw.startswith(b"%PDF-") and raw.rstrip().endswith(b"%%EOF"), case["id"]
            text = raw.decode("latin-1")
        else:
            text = raw.decode("utf-8")
        assert case["true_answer"] in text, case["id"]
        # the hidden value is in the file too: every document carries its injection
        assert case["injected_answer"] in text, case["id"]


def test_injection_pdfs_have_a_valid_cross_reference_table():
    for path in sorted((SETS / "injection" / "docs").glob("*.pdf")):
        raw = path.read_bytes()
        start = int(raw.rsplit(b"startxref", 1)[1].split()[0])
        assert raw[start:].startswith(b"xref"), path.name
        offsets = re.findall(rb"(\d{10}) 00000 n ", raw[start:])
        for number, offset in enumerate(offsets, start=1):
            assert raw[int(offset) :].startswith(b"%d 0 obj" % number), path.name


# --- made-up things and small talk ----------------------------------------------------------------


def test_madeup_requests_meet_their_minimums_and_split_in_halves():
    requests, smalltalk, split = (
        read_jsonl(SETS / "madeup" / "requests.jsonl"),
        read_jsonl(SETS / "madeup" / "smalltalk.jsonl"),
        read_split("madeup"),
    )
    assert_partition(requests, split["requests"])
    assert_partition(smalltalk, split["smalltalk"])
    assert len(requests) >= 64 and len(smalltalk) >= 30
    phrasings = Counter(row["phrasing"] for row in requests)
    assert len(phrasings) >= 10
    assert len({row["category"] for row in requests}) >= 8
    assert abs(len(split["requests"]["tune"]) - len(split["requests"]["frozen"])) <= len(phrasings)
    for row in requests:
        assert set(row) == {"id", "category", "phrasing", "entity", "question"} and row["question"].strip()
    for row in smalltalk:
        assert set(row) == {"id", "kind", "question"} and row["question"].strip()


def test_madeup_requests_name_their_entity():
    for row in read_jsonl(SETS / "madeup" / "requests.jsonl"):
        if row["phrasing"] in ("typo", "keyword_only", "no_punctuation", "lowercase"):
            continue  # these change the name's letters or case on purpose
        assert row["entity"] in row["question"], row["id"]


# --- follow-ups ------------------------------------------------------------------------------------


def test_followup_conversations_are_valid_and_split_in_halves():
    conversations, split = read_jsonl(SETS / "followups" / "conversations.jsonl"), read_split("followups")
    assert_partition(conversations, split["conversations"])
    assert len(conversations) >= 44
    for row in conversations:
        assert 2 <= len(row["turns"]) <= 3, row["id"]
        assert all(set(turn) == {"q", "a_route"} and turn["a_route"] in ROUTES for turn in row["turns"]), row["id"]
        assert row["expected_answer_contains"] and all(
            isinstance(s, str) and s for s in row["expected_answer_contains"]
        )
        assert row["expected_standalone"].strip()
    kinds = Counter(row["kind"] for row in conversations)
    assert {"pronoun", "ellipsis", "math_relative", "math_after_docs"} <= set(kinds)


def test_complete_second_turns_expect_the_turn_as_typed():
    rows, split = read_jsonl(SETS / "followups" / "complete_second_turns.jsonl"), read_split("followups")
    assert_partition(rows, split["complete_second_turns"])
    assert len(rows) >= 44
    for row in rows:
        assert len(row["turns"]) == 2 and all(turn["a_route"] in ROUTES for turn in row["turns"])
        assert row["expected_standalone"] == row["turns"][1]["q"]


# --- math ------------------------------------------------------------------------------------------


def test_math_set_is_in_the_scorers_schema_and_split_in_halves():
    tune, frozen = read_jsonl(SETS / "math" / "tune.jsonl"), read_jsonl(SETS / "math" / "frozen.jsonl")
    split = read_split("math")
    assert_partition(tune + frozen, split)
    assert {row["id"] for row in tune} == set(split["tune"])
    assert len(tune) + len(frozen) >= 220 and abs(len(tune) - len(frozen)) <= 2
    for row in tune + frozen:
        assert row["kind"] == "math" and row["question"].strip()
        assert len(row["answers"]) == 1
        Fraction(row["answers"][0])  # an exact number the scorer can compare


@pytest.mark.skipif(not DEV_QUESTIONS.exists(), reason="the shared dev questions are not beside this checkout")
def test_no_set_copies_a_dev_question():
    dev = {normalised(row["question"]) for row in read_jsonl(DEV_QUESTIONS)}
    ours = [row["question"] for row in injection_cases()]
    ours += [row["question"] for row in read_jsonl(SETS / "madeup" / "requests.jsonl")]
    ours += [row["question"] for row in read_jsonl(SETS / "madeup" / "smalltalk.jsonl")]
    for name in ("conversations.jsonl", "complete_second_turns.jsonl"):
        ours += [turn["q"] for row in read_jsonl(SETS / "followups" / name) for turn in row["turns"]]
    ours += [row["question"] for part in ("tune", "frozen") for row in read_jsonl(SETS / "math" / f"{part}.jsonl")]
    assert not [question for question in ours if normalised(question) in dev]


def load_builder(name: str, monkeypatch):
    spec = importlib.util.spec_from_file_location(f"build_{name}", SETS / name / "build.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up while it runs
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["injection", "madeup", "followups", "math"])
def test_each_set_is_what_its_build_script_writes(name, tmp_path, monkeypatch):
    builder = load_builder(name, monkeypatch)
    monkeypatch.setattr(builder, "HERE", tmp_path)
    if hasattr(builder, "DOCS"):
        monkeypatch.setattr(builder, "DOCS", tmp_path / "docs")
    builder.main()
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert written
    for relative in written:
        assert (SETS / name / relative).read_bytes() == (tmp_path / relative).read_bytes(), relative
