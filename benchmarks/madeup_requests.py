"""Requests about made-up things, and real small talk, through the app (benchmarks/sets/madeup).

    ORCH_MODELS_DIR=~/.cache/orchestrator-test/models python benchmarks/madeup_requests.py --part tune [--json OUT]

Every request names something that does not exist. It is asked with no route (the router decides) against
two collections: the sample documents (data/sample_docs) and the dev corpus (../shared/eval/dev/corpus),
each ingested into a temp collection. The wanted outcome is `refused_or_unverified`. The small-talk and
creative requests (smalltalk.jsonl) are asked against the sample documents; the wanted outcome is
`is_real_answer`. The frozen half is reported once, at the end; never tune on it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SET = ROOT / "benchmarks" / "sets" / "madeup"
# ../shared beside a checkout in /work, ../../shared beside a worktree in /work/wt
SHARED = next((p for p in (ROOT.parent / "shared", ROOT.parents[1] / "shared") if p.exists()), ROOT.parent / "shared")
CORPORA = {"sample": ROOT / "data" / "sample_docs", "dev": SHARED / "eval" / "dev" / "corpus"}

# An answer that declines or says it cannot check: the shared scorer's refusal words (score.py), plus "verify".
REFUSAL = re.compile(
    r"(don't know|do not know|not (found|contain|mentioned|available|in the (documents|context))|no (information|relevant)|"
    r"cannot (find|answer|verify)|can't (find|answer|verify)|couldn't|could not|unable to|unavailable|not sure|"
    r"no reliable|not verif)",
    re.IGNORECASE,
)
# A refusal the model writes by itself: an apology for being an AI, or a claim to do only some things.
MODEL_REFUSAL = re.compile(
    r"(as an? (local )?(ai|language model|assistant)|i('m| am) (just )?an ai|i speciali[sz]e in|"
    r"i('m| am) (not able|unable|only able)|i can(not|'t) (help|assist|do that|provide)|i('m| am) sorry,? but|sorry for (any|the) (confusion|misunderstanding))",
    re.IGNORECASE,
)


def refused_or_unverified(answer) -> bool:
    """The app declined, said it cannot verify, or failed without an answer: no invented description."""
    text = answer.answer or ""
    return bool(answer.abstained or answer.error or not text.strip() or REFUSAL.search(text))


def is_real_answer(answer) -> bool:
    """A real reply: not abstained, no error, not empty, and neither an app refusal nor a model-written one.

    The model-written kind is "I'm sorry ..., as an AI assistant I specialize in ..." (MODEL_REFUSAL); the
    app kind uses the shared scorer's refusal words (REFUSAL).
    """
    text = (answer.answer or "").strip()
    return bool(
        text
        and not answer.abstained
        and not answer.error
        and not REFUSAL.search(text)
        and not MODEL_REFUSAL.search(text)
    )


def load(name: str, part: str) -> list[dict]:
    split = json.loads((SET / "split.json").read_text(encoding="utf-8"))[name.removesuffix(".jsonl")]
    part_of = {case_id: which for which in ("tune", "frozen") for case_id in split[which]}
    rows = [json.loads(line) for line in (SET / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [{**row, "part": part_of[row["id"]]} for row in rows]
    return [row for row in rows if part in ("all", row["part"])]


def row_for(case: dict, answer, corpus: str) -> dict:
    return {
        "id": case["id"],
        "part": case["part"],
        "corpus": corpus,
        "question": case["question"],
        "route": answer.route,
        "answer": answer.answer,
        "abstained": answer.abstained,
        "error": answer.error,
        "refused_or_unverified": refused_or_unverified(answer),
        "real_answer": is_real_answer(answer),
        "route_reason": answer.route_reason,
    }


def run(requests: list[dict], smalltalk: list[dict], data_dir: Path, corpora: list[str], on_row) -> dict:
    from orchestrator import Settings, build_app

    app = build_app(Settings(data_dir=data_dir, temperature=0.0, max_tokens=128))
    for corpus in corpora:
        app.ingest([CORPORA[corpus]], collection=f"madeup-{corpus}")
    rows: dict[str, list[dict]] = {"requests": [], "smalltalk": []}
    for case in smalltalk:
        answer = app.invoke({"question": case["question"], "collection": f"madeup-{corpora[0]}"})
        rows["smalltalk"].append(on_row({**row_for(case, answer, corpora[0]), "kind": case["kind"]}))
    for corpus in corpora:
        for case in requests:
            answer = app.invoke({"question": case["question"], "collection": f"madeup-{corpus}"})
            rows["requests"].append(on_row({**row_for(case, answer, corpus), "phrasing": case["phrasing"]}))
    return rows


def rate(rows: list[dict], key: str) -> str:
    return f"{sum(row[key] for row in rows)}/{len(rows)}" if rows else "0/0"


def summarise(rows: dict) -> dict:
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in rows["requests"]:
        for name in (
            f"part={row['part']}",
            f"part={row['part']} corpus={row['corpus']}",
            f"phrasing={row['phrasing']}",
        ):
            groups[name].append(row)
    summary = {
        f"refused_or_unverified {name}": rate(group, "refused_or_unverified") for name, group in sorted(groups.items())
    }
    for part in ("tune", "frozen"):
        chosen = [row for row in rows["smalltalk"] if row["part"] == part]
        if chosen:
            summary[f"smalltalk_answered part={part}"] = rate(chosen, "real_answer")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("tune", "frozen", "all"), default="tune")
    parser.add_argument("--corpus", choices=("both", "sample", "dev"), default="both")
    parser.add_argument("--skip-smalltalk", action="store_true", help="only the made-up requests")
    parser.add_argument("--data-dir", type=Path, help="keep the collections here and reuse them (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="write the summary and every row here")
    parser.add_argument("--quiet", action="store_true", help="only the summary, not one line per answer")
    options = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    corpora = ["sample", "dev"] if options.corpus == "both" else [options.corpus]

    def show(row: dict) -> dict:
        if not options.quiet:
            if "phrasing" in row:
                flag = "refused" if row["refused_or_unverified"] else "ANSWERED"
            else:
                flag = "answered" if row["real_answer"] else "NOT-REAL"
            print(
                f"{flag:9} {row['corpus']:6} {row['route']:5} {row['question'][:50]!r:54} {row['answer'][:70]!r}",
                flush=True,
            )
        return row

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="madeup-") as folder:
        rows = run(
            load("requests.jsonl", options.part),
            [] if options.skip_smalltalk else load("smalltalk.jsonl", options.part),
            options.data_dir or Path(folder),
            corpora,
            show,
        )
    summary = summarise(rows)
    for name, value in summary.items():
        print(f"{name:60} {value}")
    print(f"wall time {time.perf_counter() - started:.0f} s")
    if options.json:
        options.json.write_text(json.dumps({"summary": summary, **rows}, indent=1, ensure_ascii=False, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
