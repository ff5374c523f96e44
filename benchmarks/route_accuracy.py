"""Route decisions only (no answers) for a questions file, with the rules or the tool-calling router.

    python benchmarks/route_accuracy.py QUESTIONS.jsonl OUT.jsonl --router tools --collection val
    python ../shared/eval/score.py QUESTIONS.jsonl OUT.jsonl      # read route_accuracy only

Each output row is {"id", "route", "reason", "tool_call", "seconds"} with an empty answer, so of
score.py's figures only route_accuracy and web_routed mean anything. Prints, per question kind, how
many went to each route, and the routing time. The knowledge base must be ingested into the
collection first (`orchestrator ingest CORPUS -c NAME`); settings come from ORCH_* as usual.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("questions", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--router", choices=("auto", "rules", "tools"), default="auto")
    parser.add_argument("--collection", default=None)
    args = parser.parse_args()

    from orchestrator import Settings, build_app

    app = build_app(Settings(router=args.router))
    rows = [json.loads(line) for line in args.questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    table: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    seconds = []
    with args.out.open("w", encoding="utf-8") as out:
        for row in rows:
            start = time.perf_counter()
            decision, _ = app.route(row["question"], collection=args.collection)
            seconds.append(time.perf_counter() - start)
            table[row.get("kind", "?")][decision.route] += 1
            out.write(
                json.dumps(
                    {
                        "id": row["id"],
                        "answer": "",
                        "route": decision.route,
                        "reason": decision.reason,
                        "tool_call": decision.scores.get("tool_call"),
                        "seconds": round(seconds[-1], 3),
                    }
                )
                + "\n"
            )
    for kind, counts in sorted(table.items()):
        print(f"{kind:>14}: " + ", ".join(f"{route} {n}" for route, n in counts.most_common()))
    print(f"routing time per question: median {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
