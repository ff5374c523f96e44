"""The fixed texts the docs and web routes answer with when they refuse, in one place.

The routes say them; the chat route recognises them (chains/chat.py), so it neither reads another
route's refusal as a turn to imitate nor writes one itself.
"""

from __future__ import annotations

import functools
import re

# The docs route (chains/docs.py).
NO_DOCUMENTS = "I have no documents to check (the knowledge base is empty), so I can't answer that reliably."
NO_ANSWER_IN_DOCUMENTS = "Your documents don't contain an answer to that, and I won't guess."
NEVER_MENTIONED = "Your documents never mention {names}, so I can't answer that."
UNCLEAR_PASSAGES = "I found related passages, but they don't clearly support an answer, so I won't guess."
QUOTE_LABEL = "From the documents:"
# The web route (chains/web.py).
SEARCH_UNAVAILABLE = (
    "I can't verify current facts right now because web search is unavailable, and I won't answer "
    "from the model's memory, which may be out of date."
)
RESULTS_UNCLEAR = "The search results (retrieved {today}) don't clearly answer that; see the sources."

REFUSALS = (
    NO_DOCUMENTS,
    NO_ANSWER_IN_DOCUMENTS,
    NEVER_MENTIONED,
    UNCLEAR_PASSAGES,
    SEARCH_UNAVAILABLE,
    RESULTS_UNCLEAR,
)


MIN_OPENING_WORDS = 4  # "The search results" alone would also catch a chat answer about search engines


@functools.cache
def refusal_openings() -> tuple[str, ...]:
    """Each refusal's first words (lower case): up to its first comma or parenthesis, or up to its first
    placeholder when that would leave fewer than MIN_OPENING_WORDS words."""
    openings = []
    for text in REFUSALS:
        head = text.split("{", 1)[0].strip()
        short = re.split(r",| \(", head, maxsplit=1)[0]
        openings.append((short if len(short.split()) >= MIN_OPENING_WORDS else head).lower())
    return tuple(openings)
