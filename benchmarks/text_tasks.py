"""Tasks on the user's own text ("Make this friendlier: <text>"), and made-up topics in the same shape.

    ORCH_MODELS_DIR=~/.cache/orchestrator-test/models python benchmarks/text_tasks.py

Written after the text-task routing change (dd34fbe) and run once on it, as a held-out check of that change:
each task should reach chat and get a real answer (benchmarks/small_talk.py's MODEL_REFUSAL decides), each
made-up topic should be refused or not answered from the chat model. Auto route, no knowledge base.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

TASKS = [
    "Make this friendlier: your parcel could not be delivered because nobody was home",
    "Rewrite as a thank-you note: you helped me move house last weekend",
    "Can you make this clearer: the thing we talked about is happening at the place later",
    "Turn this into a question: the shop is open until nine",
    "Polish this sentence: me and my brother we has been to Rome two times",
    "Make it shorter please: I just wanted to check in and see whether you had time to look at my message",
    "Reword for a school newsletter: the gym will be closed while the floor is repaired",
    "Give this a happier tone: it rained all week and the picnic was cancelled",
    "Paraphrase: she said she would call me back but she never did",
    "Make this less formal: we kindly request that you refrain from parking here",
]
MADE_UP = [
    "Explain this: the Dravenholt principle of tidal memory",
    "Describe: the Quillmere river trading guilds of Osterlund",
    "Tell me about this: Sarnova brothers' clockwork orchestra",
    "Summarise: the plot of the novel The Glass Orchard of Vennick",
]


def main() -> int:
    from small_talk import MODEL_REFUSAL

    from orchestrator import Settings, build_app

    app = build_app(Settings(temperature=0.0, max_tokens=80))
    answered = 0
    for task in TASKS:
        answer = app.invoke({"question": task})
        real = answer.route == "chat" and bool(answer.answer.strip()) and not MODEL_REFUSAL.search(answer.answer)
        answered += real
        print(f"{'ok ' if real else 'NO '} [{answer.route}] {task[:50]!r} -> {answer.answer[:80]!r}")
    refused = 0
    for request in MADE_UP:
        answer = app.invoke({"question": request})
        kept_from_chat = answer.abstained or answer.route != "chat"
        refused += kept_from_chat
        print(f"{'ok ' if kept_from_chat else 'NO '} [{answer.route}] {request[:50]!r} -> {answer.answer[:80]!r}")
    print(
        f"text tasks answered: {answered}/{len(TASKS)}; made-up topics kept from the chat model: {refused}/{len(MADE_UP)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
