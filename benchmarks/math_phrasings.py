"""Everyday math phrasings (benchmarks/sets/math) through the app: right, refused, or a wrong number.

    ORCH_MODELS_DIR=~/.cache/orchestrator-test/models python benchmarks/math_phrasings.py --part tune [--json OUT]

Each question is asked with no route (the router decides), on an empty knowledge base. An answer is
RIGHT when `orchestrator.math_equivalence.equivalent` accepts it against the gold answers (what
`orchestrator eval` scores math with), REFUSED when it abstained, failed or uses the shared scorer's
refusal words, and WRONG otherwise: a confident wrong number, the outcome issue #29 forbids.
The frozen half is reported once, at the end; never tune on it. `orchestrator eval` + score.py score the
same files (see benchmarks/sets/math/README.md).
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
SET = ROOT / "benchmarks" / "sets" / "math"
REFUSAL = re.compile(
    r"(don't know|do not know|cannot (find|answer|verify|solve|compute)|can't (find|answer|verify|solve|compute)|"
    r"unable to|couldn't|could not|not sure|no (information|relevant))",
    re.IGNORECASE,
)


def load(part: str) -> list[dict]:
    parts = ("tune", "frozen") if part == "all" else (part,)
    rows = []
    for name in parts:
        lines = (SET / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        rows += [{**json.loads(line), "part": name} for line in lines if line.strip()]
    return rows


def outcome(answer, golds: list[str]) -> str:
    from orchestrator.math_equivalence import equivalent

    text = answer.answer or ""
    if not answer.error and not answer.abstained and equivalent(text, golds):
        return "right"
    if answer.error or answer.abstained or not text.strip() or REFUSAL.search(text):
        return "refused"
    return "wrong"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("tune", "frozen", "all"), default="tune")
    parser.add_argument("--json", type=Path, help="write the summary and every row here")
    parser.add_argument("--quiet", action="store_true", help="only the summary, not one line per question")
    options = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from orchestrator import Settings, build_app

    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="math-phrasings-") as folder:
        app = build_app(Settings(data_dir=Path(folder), temperature=0.0, max_tokens=96))
        for case in load(options.part):
            answer = app.invoke({"question": case["question"]})
            row = {**case, "route": answer.route, "answer": answer.answer, "outcome": outcome(answer, case["answers"])}
            rows.append(row)
            if not options.quiet:
                print(
                    f"{row['outcome']:7} {row['route']:5} {row['question'][:60]!r:64} {row['answer'][:60]!r}",
                    flush=True,
                )
    table: dict[str, dict[str, int]] = defaultdict(lambda: {"right": 0, "refused": 0, "wrong": 0})
    for row in rows:
        for key in (f"part={row['part']}", f"family={row['family']}"):
            table[key][row["outcome"]] += 1
    summary = {}
    for key, counts in sorted(table.items()):
        total = sum(counts.values())
        summary[key] = counts
        print(f"{key:28} right {counts['right']}/{total}  refused {counts['refused']}  wrong {counts['wrong']}")
    print(f"wall time {time.perf_counter() - started:.0f} s")
    if options.json:
        options.json.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
