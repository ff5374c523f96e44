"""Structure-aware splitting: a document's headings become each chunk's heading path, table rows become lines.

Handbooks, product sheets and FAQs say what a passage is about in their headings ("Business Platinum
Card > Annual Fee"), not in the passage ("Standard annual fee: $450.00"). So:

* `markdown_blocks` cuts Markdown (and HTML, which the loader writes as Markdown-style text) at its
  headings. Each block keeps the path of headings above it (title > section > subsection) and drops the
  heading lines themselves: a heading is context, never an answer.
* A table row is read with its column headers, one line per row: "Plan: Gold; Monthly fee: $12". A
  row is written as a list item, so the evidence picker takes it as one answer unit.
* Plain text gets a title when its first line is a short line on its own (followed by a blank line) with
  no sentence punctuation ("Lark Island Community Library - Visitor Guide").

`indexed_text` is what the embedder and the keyword index see: the heading path, then the text. What is
shown (the chunk's text, the quotes) never includes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HEADING_PATH_SEPARATOR = " > "
MARKDOWN_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.+?)(?:\s+#+)?\s*$")
TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
EMPHASIS = re.compile(r"\*\*|__")
TITLE_CHARS = 90  # a plain-text first line up to this long, alone and unpunctuated, is the document's title


@dataclass(frozen=True)
class Block:
    """Text under one heading path (headings outermost first)."""

    headings: tuple[str, ...]
    text: str


def heading_path(headings: tuple[str, ...] | list[str]) -> str:
    """The headings joined as "Title > Section > Subsection"."""
    return HEADING_PATH_SEPARATOR.join(headings)


def indexed_text(text: str, metadata: dict | None) -> str:
    """The text the embedder and the keyword index read: the chunk's heading path, then its text."""
    path = (metadata or {}).get("heading_path") or ""
    return f"{path}\n{text}" if path else text


def clean_inline(text: str) -> str:
    """A heading or cell without Markdown emphasis markers or surrounding space."""
    return EMPHASIS.sub("", text).strip().strip("*_` ").strip()


def table_cells(line: str) -> list[str]:
    return [clean_inline(cell) for cell in line.strip().strip("|").split("|")]


def table_row_text(header: list[str], cells: list[str]) -> str:
    """A row read with its column headers: "Plan: Gold; Monthly fee: $12" (a cell without a header stays bare)."""
    parts = []
    for index, cell in enumerate(cells):
        if not cell:
            continue
        name = header[index] if index < len(header) else ""
        parts.append(f"{name}: {cell}" if name else cell)
    return "; ".join(parts)


def read_tables(lines: list[str]) -> list[str]:
    """The lines with every Markdown table (header row, rule, rows) replaced by one list item per row."""
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if TABLE_ROW.match(line) and index + 1 < len(lines) and TABLE_RULE.match(lines[index + 1]):
            header = table_cells(line)
            index += 2
            while index < len(lines) and TABLE_ROW.match(lines[index]):
                row = table_row_text(header, table_cells(lines[index]))
                if row:
                    out.append(f"- {row}")
                index += 1
            out.append("")
            continue
        out.append(EMPHASIS.sub("", line))
        index += 1
    return out


def markdown_blocks(text: str) -> list[Block]:
    """The text cut at its Markdown headings (outside code fences), each block with its heading path."""
    blocks: list[Block] = []
    headings: list[tuple[int, str]] = []
    body: list[str] = []
    in_fence = False

    def flush() -> None:
        block = "\n".join(read_tables(body)).strip()
        if block:
            blocks.append(Block(tuple(name for _, name in headings), block))
        body.clear()

    for line in text.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else MARKDOWN_HEADING.match(line)
        if match is None:
            body.append(line)
            continue
        flush()
        level = len(match.group(1))
        headings = [(depth, name) for depth, name in headings if depth < level]
        name = clean_inline(match.group(2))
        if name:
            headings.append((level, name))
    flush()
    return blocks


RST_FIELD = re.compile(r"^:([\w ]+):\s*(.*)$")
UNDERLINE = re.compile(r"^([=\-~^*+#])\1{2,}\s*$")
TITLE_BLOCK_LINES = 3  # a title and a subtitle or two ("CALDER STREET CO-OP" / "Minutes of the board meeting")


def plain_text_blocks(text: str) -> list[Block]:
    """Plain text cut at its underlined headings (reStructuredText / setext style), under its title.

    The title is a `:title:` field of a leading field list, or the first lines before a blank line when
    each is short and unpunctuated (`is_title_line`); it is context (a heading), never text.
    """
    lines = text.strip("\n").splitlines()
    title, lines = _title_of(lines)
    body = "\n".join(lines).strip()
    if not body:
        return []
    converted = underlined_headings_as_markdown(body)
    if converted == body:
        return [Block(title, body)]
    return [Block(title + block.headings, block.text) for block in markdown_blocks(converted)]


def _title_of(lines: list[str]) -> tuple[tuple[str, ...], list[str]]:
    """The document's title and the lines without it: a leading `:title:` field, or a leading title block."""
    field_count = next((i for i, line in enumerate(lines) if not RST_FIELD.match(line)), len(lines))
    for index in range(field_count):
        field = RST_FIELD.match(lines[index])
        if field and field.group(1).lower() == "title":
            return (field.group(2).strip(),), lines[:index] + lines[index + 1 :]
    end = next((i for i, line in enumerate(lines) if not line.strip()), len(lines))
    titled = 1 <= end <= TITLE_BLOCK_LINES and end < len(lines) and all(is_title_line(line) for line in lines[:end])
    if titled and not any(UNDERLINE.match(line) for line in lines[:end]):
        return (" - ".join(line.strip() for line in lines[:end]),), lines[end + 1 :]
    return (), lines


def underlined_headings_as_markdown(text: str) -> str:
    """Headings underlined with =, -, ~ ... (levels in order of first use, as reStructuredText does) as "#" lines."""
    lines = text.splitlines()
    levels: list[str] = []
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        following = lines[index + 1] if index + 1 < len(lines) else ""
        underline = UNDERLINE.match(following)
        if underline and line.strip() and not line[0].isspace() and len(following.strip()) >= len(line.strip()) - 2:
            if out and UNDERLINE.match(out[-1] or "x"):
                out.pop()  # an overline: the same rule above the title
            mark = underline.group(1)
            if mark not in levels:
                levels.append(mark)
            out.append("#" * min(6, levels.index(mark) + 1) + " " + line.strip())
            index += 2
            continue
        out.append(line)
        index += 1
    return "\n".join(out)


def is_title_line(line: str) -> bool:
    """A line that only names a topic: short, with no sentence punctuation at its end."""
    line = line.strip()
    return 0 < len(line) <= TITLE_CHARS and not line.endswith((".", "!", "?", ":", ";", ",")) and not line[0].islower()
