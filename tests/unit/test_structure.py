"""Structure-aware splitting (knowledge/structure.py) and what ingest stores from it."""

from orchestrator.config import Settings
from orchestrator.knowledge.ingest import chunk_id, load_file, load_html, split_file, splitter_signature
from orchestrator.knowledge.structure import indexed_text, markdown_blocks, plain_text_blocks, table_row_text

GUIDE = """# Fernhill Allotments

Plots are let for a year at a time.

## Fees

| Plot | Yearly rent | Deposit |
|------|------------:|---------|
| Half plot | £35 | £10 |
| Full plot | **£60** | £20 |

## Rules
### Bonfires

- Bonfires are allowed after 18:00 only.
- Water butts must be covered.

```
# not a heading inside a code fence
```
"""


def test_markdown_is_cut_at_headings_and_each_block_keeps_its_heading_path():
    blocks = markdown_blocks(GUIDE)
    assert [block.headings for block in blocks] == [
        ("Fernhill Allotments",),
        ("Fernhill Allotments", "Fees"),
        ("Fernhill Allotments", "Rules", "Bonfires"),
    ]
    assert not any(line.startswith("## ") for block in blocks for line in block.text.splitlines())
    assert "# not a heading inside a code fence" in blocks[-1].text


def test_a_table_row_becomes_one_list_item_read_with_its_headers():
    fees = markdown_blocks(GUIDE)[1].text.splitlines()
    assert "- Plot: Half plot; Yearly rent: £35; Deposit: £10" in fees
    assert "- Plot: Full plot; Yearly rent: £60; Deposit: £20" in fees
    assert not any("|" in line for line in fees)
    assert table_row_text(["", "Amount"], ["Annual fee", "$450.00"]) == "Annual fee; Amount: $450.00"


def test_a_plain_text_title_line_is_a_heading_not_text():
    [block] = plain_text_blocks("Quarry Lane Surgery\n\nThe surgery opens at 8 am.\n")
    assert block.headings == ("Quarry Lane Surgery",) and block.text == "The surgery opens at 8 am."
    [prose] = plain_text_blocks("The surgery opens at 8 am.\n\nIt closes at 6 pm.")
    assert prose.headings == ()


def test_the_indexed_text_carries_the_heading_path_and_the_shown_text_does_not(tmp_path):
    path = tmp_path / "fernhill.md"
    path.write_text(GUIDE)
    settings = Settings(data_dir=tmp_path / "data")
    chunks = split_file(path, load_file(path), {"source": str(path)}, settings)
    fees = next(chunk for chunk in chunks if "Half plot" in chunk.text)
    assert fees.metadata["heading_path"] == "Fernhill Allotments > Fees"
    assert "Fernhill" not in fees.text
    assert indexed_text(fees.text, fees.metadata).startswith("Fernhill Allotments > Fees\n")
    assert fees.id == chunk_id(str(path), fees.text, 0, "Fernhill Allotments > Fees")
    assert splitter_signature(settings).startswith("structured-v1:")


def test_html_headings_lists_and_tables_are_read_as_markdown(tmp_path):
    page = tmp_path / "rates.html"
    page.write_text(
        "<html><body><h1>Ridgeway Gym</h1><h2>Prices</h2><table><tr><th>Pass</th><th>Price</th></tr>"
        "<tr><td>Day pass</td><td>$9</td></tr></table><h2>Rules</h2><ul><li>Towels are required.</li></ul>"
        "</body></html>"
    )
    [section] = load_html(page)
    blocks = markdown_blocks(section.text)
    assert [block.headings for block in blocks] == [("Ridgeway Gym", "Prices"), ("Ridgeway Gym", "Rules")]
    assert blocks[0].text == "- Pass: Day pass; Price: $9"
    assert blocks[1].text == "- Towels are required."


def test_a_title_block_and_underlined_headings_of_plain_text_are_headings():
    text = "HOLLOW LANE TENANTS\nMinutes of the spring meeting\n\nPresent: six members.\n\nRepairs\n=======\n\nThe roof is fixed.\n"
    blocks = plain_text_blocks(text)
    assert [block.headings for block in blocks] == [
        ("HOLLOW LANE TENANTS - Minutes of the spring meeting",),
        ("HOLLOW LANE TENANTS - Minutes of the spring meeting", "Repairs"),
    ]
    assert blocks[1].text == "The roof is fixed."


def test_a_restructuredtext_title_field_is_the_title():
    [block] = plain_text_blocks(":title: Widget CLI Exit Codes\n:category: General\n\nCode 3 means a timeout.\n")
    assert block.headings == ("Widget CLI Exit Codes",) and ":title:" not in block.text
