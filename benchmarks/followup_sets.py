"""Run the held-out follow-up sets (benchmarks/sets/followups) through the app.

    ORCH_MODELS_DIR=~/.cache/orchestrator-test/models python benchmarks/followup_sets.py --part tune [--json OUT]

conversations.jsonl: every turn is asked with the earlier turns as history, over the sample documents
(data/sample_docs, one temp collection). A conversation is right when its last answer is not a refusal
or an error, is at most 400 characters, and contains one of `expected_answer_contains` (numbers as whole
numbers, text case-insensitively). Two modes are measured:
- `app`: each turn is sent as typed, `app.invoke({"question", "history"})` (the app does any rewriting);
- `repl`: each turn is first made standalone with `orchestrator.chains.followup.make_standalone`, as the
  REPL does on main at 5fa9f10 (skipped when that function is gone).
complete_second_turns.jsonl: the second turn is a complete question; it counts as REWRITTEN when the
standalone form differs from what was typed (the app's own standalone form when the Answer exposes one,
else `make_standalone`'s). Only the first turn is answered by the model; the rewrite check needs no model.
The frozen half is reported once, at the end; never tune on it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SET = ROOT / "benchmarks" / "sets" / "followups"


# tune: may be read while changing code; frozen: the held-out half of the first set; late: a second held-out set
# written after the follow-up rules landed (benchmarks/sets/followups/README.md).
PARTS = ("tune", "frozen", "late")


def load(name: str, part: str) -> list[dict]:
    split = json.loads((SET / "split.json").read_text(encoding="utf-8"))[name.removesuffix(".jsonl")]
    part_of = {case_id: which for which in PARTS for case_id in split.get(which, [])}
    rows = [json.loads(line) for line in (SET / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [{**row, "part": part_of[row["id"]]} for row in rows]
    wanted = {"all": PARTS, "held-out": ("frozen", "late")}.get(part, (part,))
    return [row for row in rows if row["part"] in wanted]


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("**", "")  # a quote marks its answer span in bold: "**17 March** 2026" holds "17 March 2026"
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)  # thousands separators
    return " ".join(text.replace("–", "-").split())


def contains(answer_text: str, wanted: str) -> bool:
    """`wanted` in the answer: a number as a whole number ("20" not in "200"), other text as a substring."""
    text, wanted = normalise(answer_text), normalise(wanted)
    if re.fullmatch(r"-?\d+(\.\d+)?", wanted):
        return re.search(rf"(?<![\d.]){re.escape(wanted)}(?:\.0+)?(?!\d|\.\d)", text) is not None
    return wanted in text


def correct(answer, wanted: list[str]) -> bool:
    body = answer.answer or ""
    return not answer.abstained and not answer.error and len(body) <= 400 and any(contains(body, w) for w in wanted)


def repl_rewriter():
    """main's REPL rewrite (question, previous Answer) -> standalone question, or None when it is gone."""
    try:
        from orchestrator.chains.followup import PreviousTurn, make_standalone
    except ImportError:
        return None

    def rewrite(question: str, previous) -> str:
        turn = PreviousTurn(previous.question, previous.route, previous.answer, previous.abstained)
        return make_standalone(question, turn).question

    return rewrite


def app_standalone(answer) -> str | None:
    """The standalone form the app says it answered, if the Answer exposes one."""
    for name in ("standalone", "standalone_question"):
        value = getattr(answer, name, None)
        if isinstance(value, str):
            return value
    reason = answer.route_reason if isinstance(answer.route_reason, dict) else {}
    value = reason.get("standalone") or reason.get("standalone_question")
    return value if isinstance(value, str) else None


def converse(app, turns: list[dict], collection: str, rewrite=None, memo: dict | None = None) -> list:
    """Answer the turns in order, each with the earlier turns as history; `memo` reuses identical calls."""
    memo = {} if memo is None else memo
    history: list[tuple[str, str]] = []
    answers: list = []
    for turn in turns:
        question = turn["q"]
        if rewrite is not None and answers:
            question = rewrite(question, answers[-1])
        key = (question, tuple(history), collection)
        if key not in memo:  # greedy decoding: the same call gives the same answer
            memo[key] = app.invoke({"question": question, "history": list(history), "collection": collection})
        answer = memo[key]
        answers.append(answer)
        history += [("human", turn["q"]), ("ai", answer.answer)]
    return answers


def run_conversations(app, cases: list[dict], collection: str, show) -> list[dict]:
    rewrite = repl_rewriter()
    modes = {"app": None, **({"repl": rewrite} if rewrite else {})}
    rows, memo = [], {}
    for case in cases:
        row = {"id": case["id"], "part": case["part"], "kind": case["kind"]}
        for mode, rewriter in modes.items():
            answers = converse(app, case["turns"], collection, rewriter, memo)
            last = answers[-1]
            row[mode] = {
                "ok": correct(last, case["expected_answer_contains"]),
                "answer": last.answer,
                "route": last.route,
                "routes_as_expected": [a.route for a in answers] == [t["a_route"] for t in case["turns"]],
                "question_sent": last.question,
            }
        rows.append(show(row))
    return rows


def run_complete(app, cases: list[dict], collection: str, show) -> list[dict]:
    rewrite = repl_rewriter()
    rows = []
    for case in cases:
        first, second = case["turns"]
        previous = app.invoke({"question": first["q"], "collection": collection})
        history = [("human", first["q"]), ("ai", previous.answer)]
        standalone = None
        if app_standalone(previous) is not None or rewrite is None:
            answer = app.invoke({"question": second["q"], "history": history, "collection": collection})
            standalone = app_standalone(answer)
        if standalone is None and rewrite is not None:
            standalone = rewrite(second["q"], previous)
        rows.append(
            show(
                {
                    "id": case["id"],
                    "part": case["part"],
                    "kind": case["kind"],
                    "typed": second["q"],
                    "standalone": standalone,
                    "rewritten": standalone is not None
                    and " ".join(standalone.split()) != " ".join(second["q"].split()),
                }
            )
        )
    return rows


def summarise(conversations: list[dict], complete: list[dict]) -> dict:
    summary = {}
    for part in PARTS:
        chosen = [row for row in conversations if row["part"] == part]
        for mode in ("app", "repl"):
            scored = [row[mode] for row in chosen if mode in row]
            if scored:
                summary[f"conversations right, {mode}, part={part}"] = f"{sum(r['ok'] for r in scored)}/{len(scored)}"
        kept = [row for row in complete if row["part"] == part]
        if kept:
            summary[f"complete second turns rewritten, part={part}"] = (
                f"{sum(r['rewritten'] for r in kept)}/{len(kept)}"
            )
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--part", choices=(*PARTS, "held-out", "all"), default="tune", help="held-out = frozen and late together"
    )
    parser.add_argument("--json", type=Path, help="write the summary and every row here")
    parser.add_argument("--quiet", action="store_true", help="only the summary, not one line per case")
    parser.add_argument("--only", choices=("conversations", "complete"), help="run one of the two sets")
    options = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from orchestrator import Settings, build_app

    def show(row: dict) -> dict:
        if not options.quiet:
            if "typed" in row:
                flag = "REWRITTEN" if row["rewritten"] else "kept"
                print(f"{flag:9} {row['id']} {row['typed']!r} -> {row['standalone']!r}", flush=True)
            else:
                marks = " ".join(
                    f"{mode}={'ok' if row[mode]['ok'] else 'no'}" for mode in ("app", "repl") if mode in row
                )
                print(f"{row['id']} {marks} {row['app']['answer'][:70]!r}", flush=True)
        return row

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="followup-sets-") as folder:
        app = build_app(Settings(data_dir=Path(folder), temperature=0.0, max_tokens=96))
        app.ingest([ROOT / "data" / "sample_docs"], collection="followup-sample")
        conversations, complete = [], []
        if options.only != "conversations":
            complete = run_complete(app, load("complete_second_turns.jsonl", options.part), "followup-sample", show)
        if options.only != "complete":
            conversations = run_conversations(app, load("conversations.jsonl", options.part), "followup-sample", show)
    summary = summarise(conversations, complete)
    for name, value in summary.items():
        print(f"{name:50} {value}")
    print(f"wall time {time.perf_counter() - started:.0f} s")
    if options.json:
        payload = {"summary": summary, "conversations": conversations, "complete": complete}
        options.json.write_text(json.dumps(payload, indent=1, ensure_ascii=False, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
