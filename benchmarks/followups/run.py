"""Follow-up accuracy: two-turn conversations answered with the follow-up as typed, then made standalone.

    ORCH_MODELS_DIR=~/.cache/orchestrator-test/models python benchmarks/followups/run.py [--output results.jsonl]

Each conversation in conversations.jsonl is a first question and a follow-up over the sample
documents (data/sample_docs), the dev corpus (../shared/eval/dev/corpus) or the math tool. The
first turn is answered; then the follow-up twice, with the first turn in the history both times:
"before" sends it as typed (what the REPL did), "after" sends `make_standalone`'s rewrite. A turn
is correct when one of the gold strings is in an answer of at most 400 characters that is not a
refusal (the `docs_gold_in_answer` rule of the shared scorer).

Since issue 29 the app makes a follow-up stand alone itself when it comes with a history, so "before" is
no longer the follow-up as the app sees it: the table in docs/chat.md made with this script is the
earlier measurement. The issue 29 sets (benchmarks/sets/followups) measure the app as it is.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from orchestrator import Settings, build_app  # noqa: E402
from orchestrator.chains.chat import remember_turn  # noqa: E402
from orchestrator.chains.followup import PreviousTurn, make_standalone  # noqa: E402

HERE = Path(__file__).resolve().parent
CORPORA = {"sample": ROOT / "data" / "sample_docs", "dev": ROOT.parent / "shared" / "eval" / "dev" / "corpus"}


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower().replace(",", "").replace("–", "-")
    return " ".join(text.split())


def correct(answer, gold: list[str]) -> bool:
    body = answer.answer
    return (
        not answer.abstained
        and not answer.error
        and len(body) <= 400
        and any(normalise(g) in normalise(body) for g in gold)
    )


def app_for(corpus: str, data_dir: Path, cache: dict):
    if corpus not in cache:
        from orchestrator.cli.chat import ingest_into

        collection = "math" if corpus == "math" else f"fu-{corpus}"
        app = build_app(Settings(data_dir=data_dir, collection=collection, temperature=0.0))
        if corpus != "math":
            ingest_into(app, [CORPORA[corpus]])
        cache[corpus] = app
    return cache[corpus]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=Path, default=HERE / "conversations.jsonl")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="Where to build the collections (default: a temp dir)."
    )
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="followups-"))
    conversations = [json.loads(line) for line in args.conversations.read_text().splitlines() if line.strip()]
    apps: dict = {}
    rows, started = [], time.perf_counter()
    for conversation in conversations:
        app = app_for(conversation["corpus"], data_dir, apps)
        first = app.invoke({"question": conversation["first"]})
        history: list = []
        remember_turn(history, first.question, first.answer)
        before = app.invoke({"question": conversation["followup"], "history": list(history)})
        previous = PreviousTurn(first.question, first.route, first.answer, first.abstained)
        standalone = make_standalone(conversation["followup"], previous)
        after = (
            before
            if standalone.rule is None
            else app.invoke({"question": standalone.question, "history": list(history)})
        )
        row = {
            "id": conversation["id"],
            "corpus": conversation["corpus"],
            "first": conversation["first"],
            "first_answer": first.answer,
            "followup": conversation["followup"],
            "standalone": standalone.question,
            "rule": standalone.rule,
            "before": before.answer,
            "before_route": before.route,
            "after": after.answer,
            "after_route": after.route,
            "before_ok": correct(before, conversation["answers"]),
            "after_ok": correct(after, conversation["answers"]),
        }
        rows.append(row)
        print(
            f"{row['id']} before={'ok ' if row['before_ok'] else 'no '} after={'ok ' if row['after_ok'] else 'no '}"
            f"{conversation['followup']!r} -> {standalone.question!r}",
            flush=True,
        )
    if args.output:
        args.output.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    print(f"\n{len(rows)} conversations in {time.perf_counter() - started:.0f} s")
    for corpus in ["sample", "dev", "math", None]:
        subset = [r for r in rows if corpus is None or r["corpus"] == corpus]
        if subset:
            name = corpus or "all"
            print(
                f"{name:7} before {sum(r['before_ok'] for r in subset)}/{len(subset)}"
                f"  after {sum(r['after_ok'] for r in subset)}/{len(subset)}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
