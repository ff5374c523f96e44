"""Small talk and creative requests: does each reach chat and get a real answer, not a model-written refusal?

    python benchmarks/small_talk.py [--json OUT.json]

The requests are tests/integration/test_routing_real.py's SMALL_TALK_AND_CREATIVE (our own). Each is asked
through the whole app (auto route); an answer counts as a refusal when it says it cannot help, is
"only" an assistant of some kind, or lacks the information, the way the 135M model refuses by itself.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MODEL_REFUSAL = re.compile(
    r"\b(as an? (local )?(ai|language model|assistant)|I specialize|I'm sorry|I am sorry|I cannot|I can't|"
    r"I can not|I am unable|I'm unable|I'm not able|I am not able|I don't have (access|information|the ability))",
    re.IGNORECASE,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from orchestrator import Settings, build_app
    from tests.integration.test_routing_real import SMALL_TALK_AND_CREATIVE

    app = build_app(Settings(temperature=0.0))
    rows = []
    for question in SMALL_TALK_AND_CREATIVE:
        answer = app.invoke({"question": question})
        real = answer.route == "chat" and bool(answer.answer.strip()) and not MODEL_REFUSAL.search(answer.answer)
        rows.append({"question": question, "route": answer.route, "real_answer": real, "answer": answer.answer})
        print(f"{'ok ' if real else 'NO '} [{answer.route}] {question} -> {answer.answer[:100]!r}")
    answered = sum(row["real_answer"] for row in rows)
    print(f"real answers: {answered}/{len(rows)}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
