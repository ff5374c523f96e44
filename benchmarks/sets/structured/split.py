"""Split questions.jsonl into tune.jsonl (40%) and heldout.jsonl (60%), the same way every time.

Stratified by kind and by style (the family part of the id, `sd-<family>-NNN` or `sd-unk-<family>-NNN`):
inside each stratum the ids are sorted, shuffled with a seed made of SEED and the stratum, and the first
round(40% of n) go to tune. Run: `python benchmarks/sets/structured/split.py`.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = "structured-set-2026-12-07"
TUNE_SHARE = 0.4


def stratum(row: dict) -> tuple[str, str]:
    """(kind, style) of one question, the style read from its id."""
    parts = row["id"].split("-")
    return row["kind"], parts[2] if parts[1] == "unk" else parts[1]


def split(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """Rows for tune and for heldout, each in the order of `rows`."""
    groups: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        groups.setdefault(stratum(row), []).append(row["id"])
    tune_ids: set[str] = set()
    for key in sorted(groups):
        ids = sorted(groups[key])
        random.Random(f"{SEED}/{key[0]}/{key[1]}").shuffle(ids)
        tune_ids.update(ids[: round(TUNE_SHARE * len(ids))])
    return [r for r in rows if r["id"] in tune_ids], [r for r in rows if r["id"] not in tune_ids]


def read_rows(path: Path) -> list[dict]:
    """The question rows of one .jsonl file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_rows(path: Path, rows: list[dict]) -> None:
    """Write rows as .jsonl, one object a line, non-ASCII kept as written."""
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def main() -> None:
    """Rewrite tune.jsonl and heldout.jsonl from questions.jsonl."""
    tune, heldout = split(read_rows(HERE / "questions.jsonl"))
    write_rows(HERE / "tune.jsonl", tune)
    write_rows(HERE / "heldout.jsonl", heldout)


if __name__ == "__main__":
    main()
