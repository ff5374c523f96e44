"""Write the follow-up sets: conversations.jsonl, complete_second_turns.jsonl and split.json (deterministic).

    python benchmarks/sets/followups/build.py

Conversations are over the sample documents (data/sample_docs) and the math tool. Each turn names the
route it should take (`a_route`); the last turn is checked with `expected_answer_contains` (any one of
the strings), and `expected_standalone` is a reference rewrite of the last turn, for reading.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent

D, M, C = "docs", "math", "chat"

# kind, [(question, route), ...], expected_standalone, expected_answer_contains
CONVERSATIONS = [
    (
        "pronoun",
        [("Who is the head librarian on Lark Island?", D), ("and what is the Wi-Fi network there called?", D)],
        "What is the Wi-Fi network at the Lark Island library called?",
        ["LarkLib-Guest"],
    ),
    (
        "pronoun",
        [("Where is the Lark Island library?", D), ("and its opening hours?", D)],
        "What are the Lark Island library's opening hours?",
        ["09:30"],
    ),
    (
        "pronoun",
        [("How many seats does the reading room of the Lark Island library have?", D), ("which floor is it on?", D)],
        "Which floor is the reading room of the Lark Island library on?",
        ["first"],
    ),
    (
        "pronoun",
        [("When was Orchestrator 0.4 released?", D), ("who managed it?", D)],
        "Who was the release manager of Orchestrator 0.4?",
        ["Ines Okafor"],
    ),
    (
        "pronoun",
        [("What is the Greenfield Water tariff per cubic metre?", D), ("is there a fixed charge on top of it?", D)],
        "Is there a fixed charge on top of the Greenfield Water tariff?",
        ["9 euros"],
    ),
    (
        "pronoun",
        [("How often does Greenfield Water send its bills?", D), ("when do I have to pay them?", D)],
        "When do I have to pay Greenfield Water bills?",
        ["30 days"],
    ),
    (
        "pronoun",
        [
            ("Who took the oldest photograph in the Lark Island local history collection?", D),
            ("what year did she take it?", D),
        ],
        "What year did Agnes Morrow take the oldest photograph in the local history collection?",
        ["1887"],
    ),
    (
        "pronoun",
        [("How many photographs are in the Lark Island local history collection?", D), ("can I borrow them?", D)],
        "Can I borrow items from the Lark Island local history collection?",
        ["cannot", "can't", "not be borrowed"],
    ),
    (
        "pronoun",
        [("What is the code name of Orchestrator 0.4?", D), ("and the one of the version before it?", D)],
        "What was the code name of Orchestrator 0.3?",
        ["Jackdaw"],
    ),
    (
        "pronoun",
        [("Which chat model does Orchestrator 0.4 use by default?", D), ("how big is it?", D)],
        "How big is Orchestrator 0.4's default chat model?",
        ["94 MB"],
    ),
    (
        "pronoun",
        [("When is Orchestrator 0.4.1 planned?", D), ("what will it add?", D)],
        "What will Orchestrator 0.4.1 add?",
        ["Markdown table"],
    ),
    (
        "pronoun",
        [
            ("How many items can a member of the Lark Island library borrow at once?", D),
            ("and for how long can they keep them?", D),
        ],
        "For how long can Lark Island library members keep borrowed items?",
        ["21 days"],
    ),
    (
        "pronoun",
        [("What does GGUF mean in the glossary?", D), ("which program uses it?", D)],
        "Which program uses the GGUF format?",
        ["llama.cpp"],
    ),
    (
        "ellipsis",
        [("How much does library membership cost for visitors to Lark Island?", D), ("and for residents?", D)],
        "How much does Lark Island library membership cost for residents?",
        ["free"],
    ),
    (
        "ellipsis",
        [("Until what time is the Lark Island library open on Tuesdays?", D), ("what about Thursdays?", D)],
        "Until what time is the Lark Island library open on Thursdays?",
        ["20:00"],
    ),
    (
        "ellipsis",
        [("Is the Lark Island library open on Sundays?", D), ("and on Mondays?", D)],
        "Is the Lark Island library open on Mondays?",
        ["closed"],
    ),
    (
        "ellipsis",
        [
            ("What is the late fee per item per day at the Lark Island library?", D),
            ("and the most it can reach per item?", D),
        ],
        "What is the maximum late fee per item at the Lark Island library?",
        ["4 euros"],
    ),
    (
        "ellipsis",
        [("What is the minimum Python version for Orchestrator 0.4?", D), ("and the default chat model?", D)],
        "What is the default chat model of Orchestrator 0.4?",
        ["SmolLM2"],
    ),
    (
        "ellipsis",
        [("Which digits of the water meter should I read?", D), ("and the red ones?", D)],
        "What should I do with the red digits of the water meter?",
        ["ignore"],
    ),
    (
        "ellipsis",
        [("What is a chunk, according to the glossary?", D), ("and an embedding?", D)],
        "What is an embedding, according to the glossary?",
        ["vector"],
    ),
    (
        "ellipsis",
        [("How does BM25 score a chunk?", D), ("and reciprocal rank fusion?", D)],
        "How does reciprocal rank fusion score an item?",
        ["60"],
    ),
    (
        "ellipsis",
        [("Which day is Lark Island Founders' Day?", D), ("is the library open that day?", D)],
        "Is the Lark Island library open on Founders' Day?",
        ["closed"],
    ),
    (
        "three_turn",
        [
            ("Who is the head librarian on Lark Island?", D),
            ("where does he work?", D),
            ("and what is the street address?", D),
        ],
        "What is the street address of the Lark Island library?",
        ["4 Quay Lane"],
    ),
    (
        "three_turn",
        [
            ("When was Orchestrator Kestrel released?", D),
            ("who was its release manager?", D),
            ("and when is the next release planned?", D),
        ],
        "When is the release after Orchestrator 0.4 planned?",
        ["28 April"],
    ),
    (
        "three_turn",
        [
            ("What does water cost at Greenfield Water?", D),
            ("and the fixed charge?", D),
            ("how often is that charged?", D),
        ],
        "How often is the Greenfield Water fixed charge charged?",
        ["quarter"],
    ),
    (
        "three_turn",
        [
            ("What is the Lark Island library's Wi-Fi called?", D),
            ("is it free?", D),
            ("and how far away does the ferry dock?", D),
        ],
        "How far from the Lark Island library does the ferry dock?",
        ["200"],
    ),
    ("math_relative", [("200*5", M), ("minus 10%", M)], "200*5 - 10%", ["900"]),
    ("math_relative", [("200*5", M), ("minus 10%", M), ("and times 3?", M)], "900*3", ["2700"]),
    ("math_relative", [("What is 45 plus 55?", M), ("and divided by 4?", M)], "(45+55)/4", ["25"]),
    ("math_relative", [("1200 / 8", M), ("plus 50", M)], "1200/8 + 50", ["200"]),
    ("math_relative", [("3^4", M), ("minus 1", M)], "3^4 - 1", ["80"]),
    ("math_relative", [("What's 15% of 640?", M), ("and of 900?", M)], "15% of 900", ["135"]),
    ("math_relative", [("480 + 120", M), ("add 25%", M)], "(480+120) * 1.25", ["750"]),
    ("math_relative", [("What is 72 divided by 6?", M), ("times 11?", M)], "72/6*11", ["132"]),
    ("math_relative", [("Compute 2500 * 4", M), ("now take off 15%", M)], "2500*4 * 0.85", ["8500"]),
    ("math_relative", [("99 + 1", M), ("double it", M)], "(99+1)*2", ["200"]),
    ("math_relative", [("What is 1000 minus 250?", M), ("and half of that?", M)], "(1000-250)/2", ["375"]),
    ("math_relative", [("6 * 7", M), ("plus 8", M), ("then divide by 10", M)], "(6*7+8)/10", ["5"]),
    ("math_relative", [("350 plus 20%", M), ("minus 50", M)], "350*1.2 - 50", ["370"]),
    ("math_relative", [("What is 14 squared?", M), ("and plus 4?", M)], "14^2 + 4", ["200"]),
    (
        "math_after_docs",
        [("How much is the yearly Lark Island library membership for visitors?", D), ("and for three years?", M)],
        "12 * 3",
        ["36"],
    ),
    (
        "math_after_docs",
        [("How many photographs are in the Lark Island local history collection?", D), ("and half of that?", M)],
        "1340 / 2",
        ["670"],
    ),
    (
        "math_after_docs",
        [("What is the Greenfield Water price per cubic metre?", D), ("times 10?", M)],
        "2.15 * 10",
        ["21.5"],
    ),
    (
        "math_after_docs",
        [("How many items can a Lark Island library member borrow at once?", D), ("and times 3?", M)],
        "7 * 3",
        ["21"],
    ),
    (
        "math_after_docs",
        [("How big is Orchestrator 0.4's default chat model in MB?", D), ("and two of them?", M)],
        "94 * 2",
        ["188"],
    ),
    (
        "math_after_docs",
        [("How many seats are in the Lark Island library reading room?", D), ("minus 4?", M)],
        "24 - 4",
        ["20"],
    ),
    (
        "math_after_docs",
        [("What is the Greenfield Water fixed charge per quarter?", D), ("and for a whole year?", M)],
        "9 * 4",
        ["36"],
    ),
    (
        "docs_after_math",
        [("12*12", M), ("When does the Lark Island library close on Thursdays?", D), ("and on Saturdays?", D)],
        "When does the Lark Island library close on Saturdays?",
        ["17:00"],
    ),
]

# kind, first turn (question, route), complete second turn (question, route)
COMPLETE = [
    (
        "docs_docs",
        ("Who is the head librarian on Lark Island?", D),
        ("What is the Greenfield Water tariff per cubic metre?", D),
    ),
    (
        "docs_docs",
        ("When does the Lark Island library open?", D),
        ("Who was the release manager of Orchestrator 0.4?", D),
    ),
    (
        "docs_docs",
        ("What is the late fee at the Lark Island library?", D),
        ("Who took the oldest photograph of Lark Island?", D),
    ),
    (
        "docs_docs",
        ("How often are Greenfield Water bills sent?", D),
        ("How many seats does the library reading room have?", D),
    ),
    (
        "docs_docs",
        ("What is the code name of Orchestrator 0.4?", D),
        ("Which Python version does Orchestrator 0.4 need?", D),
    ),
    ("docs_docs", ("What is BM25?", D), ("What does the --prune flag do?", D)),
    ("docs_docs", ("Where is the Lark Island library?", D), ("Who wrote the Orchestrator 0.4 release notes?", D)),
    ("docs_docs", ("What does an embedding represent?", D), ("How do I read my water meter?", D)),
    ("docs_docs", ("What is the Wi-Fi network at the library called?", D), ("When is Orchestrator 0.4.1 planned?", D)),
    (
        "docs_docs",
        ("How many items can I borrow from the library?", D),
        ("What happens to scanned PDFs without a text layer?", D),
    ),
    ("docs_docs", ("Who is Agnes Morrow?", D), ("Who is Tomasz Wren?", D)),
    ("docs_docs", ("Who is Ines Okafor?", D), ("What is the fixed charge per quarter at Greenfield Water?", D)),
    ("docs_docs", ("What does GGUF stand for in the glossary?", D), ("What is reciprocal rank fusion?", D)),
    (
        "docs_docs",
        ("When is payment due for a Greenfield Water bill?", D),
        ("Is the Lark Island library open on Mondays?", D),
    ),
    ("docs_docs", ("What is a chunk?", D), ("Which model does Orchestrator use for embeddings?", D)),
    (
        "docs_docs",
        ("How far is the ferry from the library?", D),
        ("What does membership cost for visitors to Lark Island?", D),
    ),
    ("docs_math", ("What is the late fee per item per day?", D), ("What is 15 times 30?", M)),
    ("docs_math", ("How many photographs does the collection hold?", D), ("What is 1340 divided by 4?", M)),
    ("docs_math", ("When was Kestrel released?", D), ("What is 17 + 28?", M)),
    ("docs_math", ("What is the water tariff?", D), ("Calculate 2.15 * 12.", M)),
    ("docs_math", ("Who is the head librarian?", D), ("How much is 25% of 360?", M)),
    ("docs_math", ("What does BM25 do?", D), ("What is the square root of 144?", M)),
    ("docs_math", ("How many seats are in the reading room?", D), ("What is 24 times 7?", M)),
    ("docs_math", ("How big is the default model?", D), ("What is 94 divided by 2?", M)),
    ("math_docs", ("What is 12 * 12?", M), ("When does the Lark Island library close on Thursdays?", D)),
    ("math_docs", ("200*5", M), ("Who is the release manager of Orchestrator 0.4?", D)),
    ("math_docs", ("What is 15% of 80?", M), ("How much is the late fee per item per day at the library?", D)),
    ("math_docs", ("3^5", M), ("What is the Wi-Fi network of the Lark Island library called?", D)),
    ("math_docs", ("What is 1000 / 8?", M), ("How often does Greenfield Water send bills?", D)),
    ("math_docs", ("Add 45 and 38.", M), ("Which digits should I ignore on my water meter?", D)),
    ("math_docs", ("7 * 8", M), ("What will Orchestrator 0.4.1 add?", D)),
    (
        "math_docs",
        ("What is 2 to the power of 10?", M),
        ("How many photographs are in the local history collection?", D),
    ),
    ("math_math", ("200*5", M), ("What is 36 divided by 4?", M)),
    ("math_math", ("What is 12 times 9?", M), ("What is 300 minus 45?", M)),
    ("math_math", ("What is 10% of 250?", M), ("What is 20% of 450?", M)),
    ("math_math", ("5^3", M), ("What is the square root of 81?", M)),
    ("math_math", ("What is 88 + 12?", M), ("Multiply 6 by 9.", M)),
    ("math_math", ("What is 1000 - 1?", M), ("What is 17 times 23?", M)),
    ("chat", ("What is the late fee at the library?", D), ("Thanks, that's all I needed!", C)),
    ("chat", ("What is 12 * 12?", M), ("Great, thank you!", C)),
    ("chat", ("Who is the head librarian on Lark Island?", D), ("Write a haiku about a library by the sea.", C)),
    ("chat", ("When was Orchestrator 0.4 released?", D), ("Can you suggest a name for my new puppy?", C)),
    ("chat", ("What is 9 * 9?", M), ("Tell me a joke about numbers.", C)),
    ("chat", ("How do I read my water meter?", D), ("Good night!", C)),
    ("chat", ("What does BM25 do?", D), ("Rephrase this sentence: the shop closes early on Sundays.", C)),
    ("chat", ("What is 50 + 50?", M), ("Hello, how are you?", C)),
]


# Written on 2026-12-07 after the follow-up rules of #29 had landed, by someone who had not read the rules' tests,
# to grow the held-out part past 40 conversations and 40 complete second turns. Every one of these is held out
# ("late" in split.json): reported once, never tuned on.
LATE_CONVERSATIONS = [
    (
        "pronoun",
        [("Which floor is the reading room of the Lark Island library on?", D), ("how many people can sit there?", D)],
        "How many seats does the Lark Island library's reading room have?",
        ["24"],
    ),
    (
        "pronoun",
        [
            ("Who is the lighthouse keeper named in the Lark Island library guide?", D),
            ("when did she take her oldest photo?", D),
        ],
        "When did Agnes Morrow take the oldest photograph?",
        ["1887"],
    ),
    (
        "pronoun",
        [("What is the minimum Python version for Orchestrator 0.4?", D), ("who was its release manager?", D)],
        "Who was the release manager of Orchestrator 0.4?",
        ["Ines Okafor"],
    ),
    (
        "pronoun",
        [("How much does Greenfield Water charge per cubic metre?", D), ("and how often do they send bills?", D)],
        "How often does Greenfield Water send bills?",
        ["three months", "every quarter"],
    ),
    (
        "pronoun",
        [("Where does the ferry from the mainland dock on Lark Island?", D), ("how far is that from the library?", D)],
        "How far is the ferry dock from the Lark Island library?",
        ["200 metres", "200 meters", "200 m"],
    ),
    (
        "pronoun",
        [("What is the name of the Lark Island library's Wi-Fi?", D), ("do I have to pay for it?", D)],
        "Is the Lark Island library's Wi-Fi free?",
        ["free"],
    ),
    (
        "pronoun",
        [("What is the code name of Orchestrator 0.4?", D), ("when is its next point release planned?", D)],
        "When is Orchestrator 0.4.1 planned?",
        ["28 April 2026"],
    ),
    (
        "ellipsis",
        [("When does the Lark Island library close on Tuesdays?", D), ("and on Thursdays?", D)],
        "When does the Lark Island library close on Thursdays?",
        ["20:00"],
    ),
    (
        "ellipsis",
        [
            ("How much is Lark Island library membership for visitors?", D),
            ("and for people who live on the island?", D),
        ],
        "How much is Lark Island library membership for island residents?",
        ["free"],
    ),
    (
        "ellipsis",
        [("How many items can a member borrow from the Lark Island library?", D), ("for how long?", D)],
        "For how long can a member borrow items from the Lark Island library?",
        ["21 days"],
    ),
    (
        "ellipsis",
        [("What was the code name of Orchestrator 0.4?", D), ("and its release date?", D)],
        "What was the release date of Orchestrator 0.4?",
        ["17 March 2026"],
    ),
    (
        "ellipsis",
        [("What is the daily late fee at the Lark Island library?", D), ("and the most I can be charged per item?", D)],
        "What is the maximum late fee per item at the Lark Island library?",
        ["4 euros"],
    ),
    (
        "ellipsis",
        [("What fixed charge does Greenfield Water add each quarter?", D), ("and the price per cubic metre?", D)],
        "What is Greenfield Water's price per cubic metre?",
        ["2.15"],
    ),
    ("math_relative", [("What is 450 + 550?", M), ("now take away 25%", M)], "1000 - 25%", ["750"]),
    ("math_relative", [("Compute 64 * 25", M), ("divide that by 8", M)], "1600 / 8", ["200"]),
    ("math_relative", [("What's 3000 divided by 4?", M), ("plus 20 percent", M)], "750 + 20%", ["900"]),
    ("math_relative", [("How much is 19 times 21?", M), ("and squared?", M)], "399^2", ["159201", "159,201"]),
    ("math_relative", [("add 1250 and 750", M), ("then halve it", M)], "2000 / 2", ["1000"]),
    ("math_relative", [("What is 12% of 2500?", M), ("double that", M)], "300 * 2", ["600"]),
    (
        "math_after_docs",
        [("How much does Lark Island library membership cost visitors per year?", D), ("so how much for 4 years?", M)],
        "12 * 4",
        ["48"],
    ),
    (
        "math_after_docs",
        [("How many seats does the reading room of the Lark Island library have?", D), ("what if we add 10 more?", M)],
        "24 + 10",
        ["34"],
    ),
    (
        "math_after_docs",
        [("How many photographs does the Lark Island local history collection hold?", D), ("and half of them?", M)],
        "1340 / 2",
        ["670"],
    ),
    (
        "three_turn",
        [
            ("Who is the head librarian of the Lark Island library?", D),
            ("where is the library?", D),
            ("and which days is it closed?", D),
        ],
        "On which days is the Lark Island library closed?",
        ["Sunday", "Monday"],
    ),
    ("three_turn", [("What is 150 * 4?", M), ("minus 100", M), ("and divided by 5?", M)], "500 / 5", ["100"]),
    (
        "docs_after_math",
        [("What is 7 * 3?", M), ("When was Orchestrator 0.4 released?", D)],
        "When was Orchestrator 0.4 released?",
        ["17 March 2026"],
    ),
]

LATE_COMPLETE = [
    (
        "docs_docs",
        ("How far is the ferry dock from the Lark Island library?", D),
        ("Which file types does orchestrator ingest index?", D),
    ),
    (
        "docs_docs",
        ("When is Greenfield Water payment due?", D),
        ("How many seats does the Lark Island reading room have?", D),
    ),
    (
        "docs_docs",
        ("Who is the release manager of Orchestrator 0.4?", D),
        ("Which digits should I ignore on my Greenfield Water meter?", D),
    ),
    (
        "docs_docs",
        ("What is the late fee cap at the Lark Island library?", D),
        ("When is Orchestrator 0.4.1 planned?", D),
    ),
    ("docs_docs", ("What does BM25 mean?", D), ("Where is the Lark Island library located?", D)),
    (
        "docs_docs",
        ("Who took the oldest photograph of Lark Island?", D),
        ("What is the Greenfield Water fixed charge per quarter?", D),
    ),
    ("docs_math", ("How many items can I borrow at the Lark Island library?", D), ("What is 81 divided by 9?", M)),
    ("docs_math", ("What does a GGUF file hold?", D), ("Calculate 15% of 360", M)),
    ("docs_math", ("When are Greenfield Water bills sent?", D), ("What is 2.15 times 40?", M)),
    (
        "docs_math",
        ("What is the Lark Island library's Wi-Fi network called?", D),
        ("What is the square root of 2209?", M),
    ),
    ("math_docs", ("What is 45 * 12?", M), ("How long can members keep borrowed items at the Lark Island library?", D)),
    ("math_docs", ("What's 1000 minus 387?", M), ("What is the code name of Orchestrator 0.3?", D)),
    (
        "math_docs",
        ("Solve x + 7 = 19", M),
        ("What happens to scanned PDFs without a text layer in Orchestrator 0.4?", D),
    ),
    ("math_math", ("What is 36 * 11?", M), ("What is 500 divided by 8?", M)),
    ("math_math", ("Compute 2^10", M), ("What is 17 plus 28?", M)),
    ("math_math", ("What is 90% of 300?", M), ("How much is 123 times 4?", M)),
    ("chat", ("What is 8 * 7?", M), ("Thanks, that's helpful!", C)),
    ("chat", ("Who is the head librarian on Lark Island?", D), ("Write a short haiku about the sea.", C)),
    ("chat", ("When is the Lark Island library closed?", D), ("Hi there, how has your day been?", C)),
    ("chat", ("What is 144 / 12?", M), ("Can you suggest a name for my new puppy?", C)),
]


CONVERSATIONS_LATE_OF = {"fu": LATE_CONVERSATIONS, "cst": LATE_COMPLETE}


def halves(ids_by_stratum: dict[str, list[str]]) -> dict[str, list[str]]:
    """Per stratum (kind), ids ordered by sha256(id): the first ceil(n/2) go to tune, the rest to frozen."""
    tune, frozen = [], []
    for ids in ids_by_stratum.values():
        ordered = sorted(ids, key=lambda case_id: hashlib.sha256(case_id.encode()).hexdigest())
        cut = (len(ordered) + 1) // 2
        tune += ordered[:cut]
        frozen += ordered[cut:]
    return {"tune": sorted(tune), "frozen": sorted(frozen)}


def turns(pairs) -> list[dict]:
    return [{"q": question, "a_route": route} for question, route in pairs]


def numbered(cases: list, prefix: str) -> list[tuple[str, tuple]]:
    """(id, case): the first set numbered from 001, the late set from 101, so old ids never change."""
    late = CONVERSATIONS_LATE_OF[prefix]
    first = [(f"{prefix}-{number:03d}", case) for number, case in enumerate(cases, start=1)]
    return first + [(f"{prefix}-{number:03d}", case) for number, case in enumerate(late, start=101)]


def main() -> None:
    conversations, by_kind = [], {}
    for case_id, (kind, pairs, standalone, contains) in numbered(CONVERSATIONS, "fu"):
        conversations.append(
            {
                "id": case_id,
                "kind": kind,
                "turns": turns(pairs),
                "expected_standalone": standalone,
                "expected_answer_contains": contains,
            }
        )
        if not case_id.startswith("fu-1"):
            by_kind.setdefault(kind, []).append(case_id)
    complete, complete_by_kind = [], {}
    for case_id, (kind, first, second) in numbered(COMPLETE, "cst"):
        complete.append(
            {"id": case_id, "kind": kind, "turns": turns([first, second]), "expected_standalone": second[0]}
        )
        if not case_id.startswith("cst-1"):
            complete_by_kind.setdefault(kind, []).append(case_id)
    write_jsonl(HERE / "conversations.jsonl", conversations)
    write_jsonl(HERE / "complete_second_turns.jsonl", complete)
    split = {
        "rule": "per kind: ids ordered by sha256(id), first ceil(n/2) tune, rest frozen; ids from 101 are late (held out)",
        "conversations": {**halves(by_kind), "late": late_ids(conversations, "fu-1")},
        "complete_second_turns": {**halves(complete_by_kind), "late": late_ids(complete, "cst-1")},
    }
    (HERE / "split.json").write_text(json.dumps(split, indent=1) + "\n")


def late_ids(rows: list[dict], prefix: str) -> list[str]:
    return [row["id"] for row in rows if row["id"].startswith(prefix)]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


if __name__ == "__main__":
    main()
