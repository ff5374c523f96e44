"""Write the made-up-things set: requests.jsonl, smalltalk.jsonl and split.json (deterministic).

    python benchmarks/sets/madeup/build.py

Every entity below was invented for this set (a web search for each finds nothing of that name, as far as
the author knows); every request names one of them in one of twelve phrasings.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent

# category -> (entity, keyword tail for the keyword-only phrasing)
ENTITIES = {
    "theorem": [
        ("the Dravnik-Solberg theorem", "statement"),
        ("the Quennell fixed-point lemma", "proof"),
        ("the Arkwright-Mbeki inequality", "formula"),
        ("the Ysolde transfer principle", "definition"),
        ("the Castellan-Wu reciprocity law", "statement"),
        ("the Brannigan spectral lemma", "proof sketch"),
        ("the Felsenthal ladder theorem", "meaning"),
        ("the Oduya-Marsh conjecture", "status"),
        ("the Tarrow cohomology bound", "formula"),
    ],
    "person": [
        ("Corwin Ashdale, the physicist", "biography"),
        ("Ottilie Braskow, the painter", "paintings"),
        ("Admiral Bertrand Olufsen-Kray", "career"),
        ("the poet Anselm Drury-Vance", "poems"),
        ("Hollis Pemberton-Achebe, the inventor", "inventions"),
        ("the chess grandmaster Radomir Saskin-Lowe", "rating"),
        ("the explorer Yelena Marchetti-Holm", "expeditions"),
        ("the economist Priya Vandermolen", "theories"),
        ("Senator Lucius Harrowgate-Mbeya", "voting record"),
    ],
    "place": [
        ("the town of Vellinge-on-Sarn", "population"),
        ("Lake Ostravin", "depth"),
        ("Mount Kerrowdale in the Pellic Range", "height"),
        ("the island of Bressamor", "location"),
        ("the Tulvar Gorge", "length"),
        ("the city of Quantorre", "history"),
        ("Pellmarsh Abbey in Lower Wend", "founding date"),
        ("the Zarvenic Republic", "capital"),
        ("the Ghelsbury Ship Canal", "route"),
    ],
    "product": [
        ("the Quibbix messaging protocol", "specs"),
        ("the Nimbrel X4 smartwatch", "battery life"),
        ("the Corvexa Pro 900 blender", "price"),
        ("the Frindle operating system", "features"),
        ("the Glimmerstack database", "license"),
        ("the Vantrix QL-9 drone", "range"),
        ("the Harbinger Mk II electric kettle", "wattage"),
        ("the Sorrelwave Aria headphones", "review"),
        ("the Plinkett Seven phone", "release date"),
    ],
    "species": [
        ("the blue-crested velvet heron", "habitat"),
        ("the Ossington cave salamander", "diet"),
        ("the striped moon otter", "range"),
        ("the Pellarine fog beetle", "lifespan"),
        ("the Vasko dwarf mammoth shrew", "size"),
        ("the crimson-footed Aleut goose", "migration"),
        ("the Tarquin desert lanternfish", "habitat"),
        ("the golden-maned Kivu tree kangaroo", "population"),
        ("the Halvering glass orchid", "flowering season"),
    ],
    "book": [
        ("the novel The Lanterns of Orbury by Harriet Vale", "plot"),
        ("the book A Grammar of Silence by Tomas Ekwueme", "summary"),
        ("the novel Nine Clocks for Marguerite", "ending"),
        ("the memoir The Salt Cartographer", "author"),
        ("the fantasy series The Hollow Orchards of Dremmel", "characters"),
        ("the textbook Principles of Retrograde Accounting", "chapters"),
        ("the play The Widow of Kestle Fen", "plot"),
        ("the poetry collection Ash Upon the Weirs", "themes"),
        ("the novel Quarantine at Velmont Station", "review"),
    ],
    "law": [
        ("the Brannock Data Dignity Act of 2019", "provisions"),
        ("the Kestle-Morrow Amendment", "text"),
        ("the Third Ossory Water Accord", "signatories"),
        ("the Fennick rule in maritime law", "meaning"),
        ("the Grainger Pedestrian Priority Law", "penalties"),
        ("the Halloran Tenancy Reform Act", "summary"),
        ("the Lisbeth Convention on Orbital Salvage", "articles"),
        ("the Pemberley Clause in contract law", "definition"),
        ("the Vardy Act on Drone Privacy", "fines"),
    ],
    "event": [
        ("the Great Velmont Flood of 1893", "death toll"),
        ("the Second Tarrow Accords summit", "outcome"),
        ("the 1974 Quillan Chess Olympiad scandal", "what happened"),
        ("the Battle of Hesketh Ford", "date"),
        ("the Lumen Square protests of 2011", "causes"),
        ("the Ossory Comet panic of 1928", "what happened"),
        ("the Kelvar Bridge collapse", "cause"),
        ("the first Brightwater Marathon on Mars Hill", "winner"),
        ("the 1961 Harrowgate Tea Riot", "timeline"),
    ],
}

WH = {
    "theorem": "What does {e} state?",
    "person": "Who is {e}?",
    "place": "Where is {e}?",
    "product": "What is {e}?",
    "species": "What does {e} eat?",
    "book": "What is {e} about?",
    "law": "What does {e} say?",
    "event": "What happened during {e}?",
}


def typo(text: str) -> str:
    """Swap two letters in the longest word of text: the kind of slip people make while typing."""
    words = text.split(" ")
    index = max(range(len(words)), key=lambda i: len(words[i]) if words[i].isalpha() else 0)
    word = words[index]
    middle = len(word) // 2
    words[index] = word[: middle - 1] + word[middle] + word[middle - 1] + word[middle + 1 :]
    return " ".join(words)


def unpunctuated(text: str) -> str:
    return " ".join("".join(c for c in text.replace("-", " ") if c not in "?.,!'").split())


PHRASINGS = {
    "wh_question": lambda e, cat, key: WH[cat].format(e=e),
    "can_you_explain": lambda e, cat, key: f"Can you explain {e}?",
    "tell_me_about": lambda e, cat, key: f"Tell me about {e}.",
    "describe": lambda e, cat, key: f"Describe {e}.",
    "give_me_short": lambda e, cat, key: (
        f"Give me a short biography of {e}." if cat == "person" else f"Give me a short overview of {e}."
    ),
    "need_details": lambda e, cat, key: f"I need the details of {e}.",
    "keyword_only": lambda e, cat, key: f"{unpunctuated(e.removeprefix('the ')).lower()} {key}",
    "typo": lambda e, cat, key: typo(f"Could you explain {e} to me?"),
    "no_punctuation": lambda e, cat, key: unpunctuated(f"explain {e} please"),
    "lowercase": lambda e, cat, key: f"tell me everything you know about {e}".lower() + "?",
    "polite_indirect": lambda e, cat, key: f"I'd like to know about {e}, if you don't mind.",
    "summarise": lambda e, cat, key: f"Summarise what is known about {e}.",
}

SMALLTALK = [
    ("greeting", "Hello!"),
    ("greeting", "Hi there, how are you today?"),
    ("greeting", "Good morning!"),
    ("greeting", "hey, what's up"),
    ("greeting", "Hola, ¿qué tal?"),
    ("greeting", "Bonjour, comment ça va ?"),
    ("greeting", "Hallo, wie geht's?"),
    ("greeting", "Ciao! Come stai?"),
    ("thanks", "Thanks a lot, that's all for now!"),
    ("thanks", "Thank you, that was really helpful."),
    ("thanks", "cheers, bye"),
    ("thanks", "Great, thanks for your help!"),
    ("naming", "Can you suggest a name for my new cat?"),
    ("naming", "Suggest three names for a small bakery by the sea."),
    ("naming", "What would be a fun name for a goldfish?"),
    ("naming", "Give me a name for my hiking club."),
    ("creative", "Write a haiku about rain."),
    ("creative", "Write a two-line poem about autumn leaves."),
    ("creative", "Tell me a short joke about penguins."),
    ("creative", "Write a limerick about a sleepy dog."),
    ("creative", "Write one sentence to wish my sister a happy birthday."),
    ("creative", "Make up a short bedtime story about a brave snail."),
    ("rewrite", "Rephrase this sentence: the meeting has been moved to next week because of the holiday."),
    ("rewrite", "Make this more polite: send me the report now."),
    ("rewrite", "Fix the grammar: me and him goes to the shop yesterday."),
    ("rewrite", "Shorten this: I am writing to let you know that I will not be able to attend the dinner on Friday."),
    ("rewrite", "Turn this into a friendly text message: the party starts at seven, bring snacks."),
    ("chat", "I'm bored, any ideas for a rainy afternoon?"),
    ("chat", "Can you cheer me up?"),
    ("chat", "What's a nice way to start a conversation with a new neighbour?"),
    ("chat", "Give me a tip for staying focused while studying."),
    ("chat", "Nice to meet you!"),
]


def halves(ids_by_stratum: dict[str, list[str]]) -> dict[str, list[str]]:
    """Per stratum, ids ordered by sha256(id): the first ceil(n/2) go to tune, the rest to frozen."""
    tune, frozen = [], []
    for ids in ids_by_stratum.values():
        ordered = sorted(ids, key=lambda case_id: hashlib.sha256(case_id.encode()).hexdigest())
        cut = (len(ordered) + 1) // 2
        tune += ordered[:cut]
        frozen += ordered[cut:]
    return {"tune": sorted(tune), "frozen": sorted(frozen)}


def main() -> None:
    names = list(PHRASINGS)
    requests, by_phrasing = [], {}
    number = 0
    for category, entities in ENTITIES.items():
        for entity, key in entities:
            phrasing = names[number % len(names)]
            case_id = f"madeup-{number + 1:03d}"
            request = PHRASINGS[phrasing](entity, category, key)
            requests.append(
                {"id": case_id, "category": category, "phrasing": phrasing, "entity": entity, "question": request}
            )
            by_phrasing.setdefault(phrasing, []).append(case_id)
            number += 1
    smalltalk, by_kind = [], {}
    for index, (kind, text) in enumerate(SMALLTALK, start=1):
        case_id = f"smalltalk-{index:02d}"
        smalltalk.append({"id": case_id, "kind": kind, "question": text})
        by_kind.setdefault(kind, []).append(case_id)
    write_jsonl(HERE / "requests.jsonl", requests)
    write_jsonl(HERE / "smalltalk.jsonl", smalltalk)
    split = {
        "rule": "per stratum (phrasing for requests, kind for small talk): ids ordered by sha256(id), first ceil(n/2) tune",
        "requests": halves(by_phrasing),
        "smalltalk": halves(by_kind),
    }
    (HERE / "split.json").write_text(json.dumps(split, indent=1) + "\n")


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


if __name__ == "__main__":
    main()
