"""Plain-text helpers that the chains and the knowledge layer share: sentences, words, and the words that don't count.

One copy of each idea, so the grounding check, the evidence ranker and the retriever cannot drift apart:

* `split_sentences_in_line` / `SENTENCE_BOUNDARY`: a sentence ends at . ! or ? (optionally followed by a
  closing quote or bracket, which stays with it), then space, then a capital or digit, which may follow
  an opening quote/bracket or markup (`**`, `_`, `#`, `>`, a backtick, `<`). So "e.g. the" and "3.5 million" stay whole, and `He said "Stop." Then ...` splits
  after the quote.
* `words`: the lowercased words of a text (letters and digits of any script); numbers keep their
  separators ("2,249", "3.5") and contractions their apostrophe ("don't"); `stem` strips an inflection,
  so "played" meets "play".
* `search_terms`: the same words as a search index sees them: split at those inner separators, pieces of
  one character dropped ("it's" -> "it", "2,249" -> "249"). On prose this is exactly bm25s' own analyser
  (runs of two or more word characters), which the relevance thresholds were measured with (a unit test
  compares them). So the BM25 index, its queries and the grounding check all tokenize with `words`.
* `names`: the capitalised words of a question after its first word ("Treaty", "Velmoor"; not "Is" in "What Is ..."), as written.
* `QUESTION_WORDS`: the words that shape a question rather than say what it is about.
* `STOPWORDS`: the function words of the lexical grounding check: QUESTION_WORDS, other function words,
  and the words a prompt and an answer use about themselves ("document", "answer").

The BM25 index drops bm25s' English stopword list (Lucene's 33 words, `knowledge/retrieval.py`); that list
is a subset of STOPWORDS (a unit test checks it), so a word the index ignores never counts as content here
either.

A regex splitter rather than NLTK's punkt (a data download at run time, and there is no network) or
spaCy (a model package). Abbreviations ("Dr. Smith") split too early, which only shortens a sentence.
"""

from __future__ import annotations

import re

# Markup may open the next sentence: "... on Saturdays. **System:** ..." is two sentences, so a sentence
# addressed to the model is seen on its own (untrusted.neutralise drops it).
SENTENCE_BOUNDARY = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]]))\s+(?=[\"'(\[*_#>`<]*[A-Z0-9])")
WORD = re.compile(r"[^\W_]+(?:[.,'][^\W_]+)*")  # letters and digits (any script), not "_"
INNER_SEPARATOR = re.compile(r"[.,']")

# Query side of retrieval: bm25s' English stopwords keep "who", "what", "how", "does". Prose rarely uses
# them, so their idf is high: "Who is the release manager?" weighed "who" most and scored the release notes
# below the threshold. A question's form words are dropped from what it searches and scores with.
QUESTION_WORDS = frozenset(
    """what which who whom whose when where why how much many do does did is are was were am be been
    can could would should shall will may might must has have had""".split()
)
# Function words that say nothing about support (a short list is enough: content words decide), and the
# words a prompt or an answer uses about itself ("according to the document, the answer is ...").
STOPWORDS = QUESTION_WORDS | frozenset(
    """a an the and or but if of to in on at by for with from as it its this that these those there
    their they them he she his her him we you your i me my our not no done being than then so such into onto
    about over under also just only very all any each some
    according document documents excerpt excerpts result results source sources answer question
    reply""".split()
)


def split_sentences_in_line(line: str) -> list[str]:
    """The sentences of one line of prose (see SENTENCE_BOUNDARY), stripped, without empty ones."""
    return [part.strip() for part in SENTENCE_BOUNDARY.split(line) if part.strip()]


def stem(word: str) -> str:
    # A crude suffix strip so "played" meets "play" and "games" meets "game"; a real stemmer would be
    # one more dependency for a check that only needs to match inflections of the same word.
    if len(word) > 5 and word.endswith(("ied", "ies")):  # married -> marry, studies -> study
        return word[:-3] + "y"
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def words(text: str) -> list[str]:
    """The lowercased words of a text, in order (see WORD)."""
    return WORD.findall(text.lower())


def search_terms(text: str) -> list[str]:
    """The words of a text as a search index sees them: split at inner separators, one-character pieces dropped."""
    return [piece for word in words(text) for piece in INNER_SEPARATOR.split(word) if len(piece) > 1]


def names(question: str) -> list[str]:
    """The words of a question that start with a capital letter, except its first word and function words
    ("I", "The", "Is" in a question typed in title case), as written."""
    found = WORD.findall(question)[1:]
    return [word for word in found if word[0].isupper() and word.lower() not in STOPWORDS]


# C0 and C1 control characters except tab and newline: ESC starts ANSI sequences, CR rewrites the line,
# NUL ends a C string. Terminal output shows them as \xNN (cli/common.py); questions drop them (clean_question).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_question(text: str) -> str:
    """A question as valid Unicode without control characters: what routing, prompts and logs may safely take.

    A surrogate pair is joined into its character; a lone surrogate (from a JSON "\\ud800" escape, or a byte
    that was not UTF-8 in a command-line argument) becomes U+FFFD. Control characters are dropped, so
    "What is 2+2?\\x00" is the question "What is 2+2?".
    """
    valid = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return CONTROL_CHARACTERS.sub("", valid)


# "Shorten this: We would like to inform you that ...": an instruction, a colon, and the text it applies to.
_INSTRUCTION_AND_TEXT = re.compile(r"^\s*(?P<instruction>[^:?\n]+?)\s*:\s+(?P<text>\S.*?)\s*$", re.DOTALL)
MAX_INSTRUCTION_WORDS = 8  # "Could you turn this into a formal sentence" is 8
MIN_TEXT_WORDS = 4  # words, not numbers: a name or a topic ("Explain this: the Vellmore paradox") is no text to work on
# A text to work on is a clause or a message: it has a pronoun, an auxiliary or a modal, or it is long. A topic or
# a name ("Explain: the Hemmerling-Vasquez theorem of lattices") has none of these, and stays a question.
CLAUSE_WORDS = frozenset(
    """i me my we us our you your he him his she her they them their it its this that these those am is are was were
    be been being will would can could shall should must may might do does did don't doesn't didn't have has had
    can't won't isn't aren't wasn't gonna wanna please not""".split()
)
LONG_TEXT_WORDS = 8


def instruction_and_text(request: str) -> tuple[str, str] | None:
    """(instruction, text) when a request is a short instruction followed by a colon and the text it applies to.

    The text the user gave is data, not the request: read whole, a notice about an office closing sounds like
    a question about an office. So the router reads the instruction alone and the chat route shows the model
    the text on its own lines. A text that is itself a question ("Quick one: who won in 1990?") is a question,
    and so is an instruction that asks one ("What is it: ...?" has a question mark).
    """
    match = _INSTRUCTION_AND_TEXT.match(request)
    if match is None:
        return None
    instruction, text = match["instruction"], match["text"]
    written_words = [word for word in words(text) if not word.isdigit()]
    if not 1 <= len(words(instruction)) <= MAX_INSTRUCTION_WORDS or len(written_words) < MIN_TEXT_WORDS:
        return None
    if text.rstrip().endswith("?"):
        return None
    if len(written_words) < LONG_TEXT_WORDS and not CLAUSE_WORDS.intersection(text.lower().split()):
        return None
    return instruction, text
