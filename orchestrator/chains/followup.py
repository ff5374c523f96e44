"""Make a follow-up question stand alone before routing and retrieval, from the previous turn.

The app calls this for every question that comes with a history (`app.invoke`, `serve` and the REPL
alike). Whether a turn needs the previous one is read from the turn itself (`stands_alone`): a question
with a question word or auxiliary and something to be about, or two content words, and no pronoun that
points back, stands alone and is never rewritten. Only a turn that does not is completed, by rules over the
previous question, its subject and its answer (a 135M model rewrites questions poorly; measured in
docs/chat.md):

- arithmetic on the last result: "and multiplied by 2?" after "12*7 = 84" -> "84 multiplied by 2";
  "minus 10%" after "200*5 = 1000" -> "1000 minus 10%" (the math detector reads the result, so a percent
  keeps its meaning); after a docs or web answer the one number that answer gave is used, else it asks;
- an elliptical question: "and for how long?" after "How many items can a member borrow?"
  -> "For how long can a member borrow?" (the new question word on the old question's body);
- a pronoun for the previous subject: "What is his name again?" after "Who is the head
  librarian?" -> "What is the head librarian's name?".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

AUXILIARIES = "is|are|was|were|am|can|could|do|does|did|will|would|should|shall|has|have|had|may|might|must"
WH = r"(?:who|whom|whose|what|which|when|where|why|how)"
# "How many items can a member borrow?" -> wh phrase "How many items", body "can a member borrow"
QUESTION = re.compile(rf"^\s*(?P<wh>{WH}\b.*?)\s+(?P<body>(?:{AUXILIARIES})\b.*?)\s*[?.!]*\s*$", re.IGNORECASE)
# "can a member borrow" -> subject "a member"; "is the head librarian" -> subject "the head librarian"
BODY = re.compile(rf"^(?P<aux>{AUXILIARIES})\s+(?P<rest>.+)$", re.IGNORECASE)
LEADING_LINK = re.compile(r"^\s*(?:and|also|but|so|then|ok(?:ay)?|and then)\b[\s,]*", re.IGNORECASE)
WHAT_ABOUT = re.compile(r"^\s*(?:and\s+)?(?:what|how)\s+about\s+(?P<thing>.+?)\s*[?.!]*\s*$", re.IGNORECASE)
TRAILING_FILLER = re.compile(r"\s*,?\s*\b(?:again|then|please|though|too)\b\s*(?=[?.!]*\s*$)", re.IGNORECASE)
SUBJECT_PRONOUNS = {"he", "she", "it", "they", "him", "her", "them", "this", "that"}
POSSESSIVE_PRONOUNS = {"his", "her", "its", "their"}
PREPOSITIONS = r"(?:for|on|in|at|during|with|to|from|of|by|after|before)"
TRAILING_PREP_PHRASE = re.compile(rf"\s(?P<prep>{PREPOSITIONS})\s+(?P<object>[^?]+?)\s*[?.!]*\s*$", re.IGNORECASE)
FRAGMENT_PREP = re.compile(rf"^(?P<prep>{PREPOSITIONS})\s+(?P<object>.+?)\s*[?.!]*\s*$", re.IGNORECASE)
VERB_LIKE = re.compile(
    r"\b(?:borrow|cost|open|close|start|run|send|live|play|win|won|die|born|build|built|made)\w*\b", re.IGNORECASE
)

# The math tool's answers start with the expression and its value: "12*7 = 84".
MATH_ANSWER = re.compile(r"^[^=\n]{1,200}(?:=|≈)\s*-?[\d.,]+")
# "12*7 = 84" or "40366/439 = 91.9498861047836 (exact: 40366/439)" -> the value after "="
MATH_VALUE = re.compile(r"=\s*(?P<value>-?[\d.,]+(?:e[+-]?\d+)?)")


@dataclass(frozen=True)
class PreviousTurn:
    """What a follow-up can lean on: the last question, its route and its answer."""

    question: str
    route: str | None
    answer: str
    abstained: bool = False  # a refusal names nothing the follow-up could mean


@dataclass(frozen=True)
class Standalone:
    """The question to route and retrieve with, and which rule made it (None: unchanged)."""

    question: str
    rule: str | None = None
    clarification: str | None = None  # set when the turn cannot be completed: ask this instead of answering


def _split_question(question: str) -> tuple[str, str] | None:
    match = QUESTION.match(question)
    return (match.group("wh"), match.group("body")) if match else None


COPULAS = {"is", "are", "was", "were", "am"}
PARTICIPLE = re.compile(
    r"\s+(?:\w+ed|born|called|made|held|known|built|run|seen|given|taken|won|begun)\s*$", re.IGNORECASE
)
DETERMINERS = {"the", "a", "an", "this", "that", "these", "those"}
# A run of capitalised words, allowing "of", "von", "de", numbers and "-" inside: "Super Bowl 50", "Katharina von Bora".
ENTITY = re.compile(r"(?:[A-Z][\w'’.-]*|\d[\w.]*)(?:\s+(?:(?:of|von|van|de|der|the)\s+)?(?:[A-Z][\w'’.-]*|\d[\w.]*))*")
NOT_ENTITIES = {
    "Who",
    "What",
    "When",
    "Where",
    "Which",
    "Why",
    "How",
    "The",
    "A",
    "An",
    "In",
    "On",
    "And",
    "It",
    "From",
    "Is",
    "Was",
    "Yes",
    "No",
    "Your",
    "I",
    "This",
    "There",
    "That",
    "These",
    "They",
    "He",
    "She",
    "We",
    "You",
    "My",
    "Our",
    "According",
    "Unverified",
    "Sorry",
    "Both",
    "After",
    "Before",
    "During",
    "At",
    "By",
    "For",
    "To",
    "As",
    "If",
    "But",
    "So",
    "Also",
}


def entities(text: str) -> list[str]:
    """Named things in a text, by capitalisation: "When did Tesla enroll at the Austrian Polytechnic?" -> [Tesla, Austrian Polytechnic]."""
    found = []
    for match in ENTITY.finditer(re.sub(r"\[\d+\]", "", text)):
        words = match.group(0).split()
        while words and words[0] in NOT_ENTITIES:
            words = words[1:]
        entity = " ".join(words).rstrip(".'’")
        if entity and not entity.isdigit() and entity not in found:
            found.append(entity)
    return found


def subject_of(question: str) -> str | None:
    """The noun phrase a question is about: "Who is the head librarian?" -> "the head librarian"."""
    parts = _split_question(question)
    if parts is None:
        return None
    body = BODY.match(parts[1])
    if body is None:
        return None
    aux, rest = body.group("aux").lower(), body.group("rest").strip()
    if aux in COPULAS:
        rest = PARTICIPLE.sub("", rest)
        verb = VERB_LIKE.search(rest)
        return (rest[: verb.start()].strip() if verb else rest) or None
    words = rest.split()
    if words and words[0][0].isupper():
        named = entities(rest)
        return named[0] if named else None
    if words and words[0].lower() in DETERMINERS:
        verb = VERB_LIKE.search(rest)
        return rest[: verb.start()].strip() if verb else " ".join(words[:3])
    return None


def _referents(previous: PreviousTurn) -> tuple[str | None, str | None]:
    """(who "he/she/they" most likely means, the other person or thing) after the previous turn.

    After "Who won ...?" or "Who is ...?" the answer names the referent; after "Who did X marry?"
    or any other question, X (the question's subject) is, and the answer's name is the other one.
    """
    asked = entities(previous.question)
    answer_entities = [] if previous.abstained else entities(previous.answer)
    answered = [e for e in answer_entities if e not in asked and not any(e in a for a in asked)]
    answered.sort(key=lambda e: len(e.split()) < 2)  # a full name ("Von Miller") before a single word ("Denver")
    subject = subject_of(previous.question) or (asked[0] if asked else None)
    parts = _split_question(previous.question)
    answer_is_referent = (
        parts is not None
        and parts[0].lower() == "who"
        and (BODY.match(parts[1]) or [""])[0].split()[0].lower() in COPULAS
    )
    if (
        re.match(r"^\s*who\s+(?!did|does|do|can|will|would)\w+", previous.question, re.IGNORECASE)
        and not answer_is_referent
    ):
        answer_is_referent = True  # "Who won Super Bowl 50?"
    if answer_is_referent and answered:
        return answered[0], subject
    return subject, (answered[0] if answered else None)


# Words that stand for the previous result in a math follow-up: "half of it", "double that".
RESULT_WORDS = re.compile(r"\b(?:it|that|this|the\s+(?:result|answer|total|number))\b", re.IGNORECASE)
# Any number written with digits, thousands separators allowed; "[1]" citation marks are not numbers.
NUMBER = re.compile(
    r"(?<![\w.\[])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w\]])|(?<![\w.\[,])-?\d+(?:\.\d+)?(?![\w\]]|,\d{3})"
)
PLACEHOLDER = "7"
# The docs route's quote marks the span that answers the question: 'holds **1,340** photographs ... in 1887'.
MARKED_SPAN = re.compile(r"\*\*(.+?)\*\*")


def _math_with(text: str, number: str) -> str | None:
    """The follow-up as a math question on `number`, when the math detector reads it as one.

    "times 3" -> "84 times 3"; "minus 10%" -> "1000 minus 10%"; "half of it" -> "half of 84".
    """
    from orchestrator.tools.math_detect import detect_math

    if RESULT_WORDS.search(text):
        candidates = [RESULT_WORDS.sub(number, text, count=1)]
    else:
        verb, _, rest = text.partition(" ")
        # "times 3" -> "84 times 3"; "divide by 10" -> "divide 84 by 10"; "subtract 5" -> "subtract 5 from 84"
        candidates = [f"{number} {text}", f"{verb} {number} {rest}", f"{text} from {number}", f"{text} to {number}"]
    return next((candidate for candidate in candidates if detect_math(candidate) is not None), None)


def is_math_on_previous(question: str) -> bool:
    """A turn that is arithmetic on an earlier number ("and times 3?", "minus 10%", "half of it"), not math alone."""
    from orchestrator.tools.math_detect import detect_math

    text = LEADING_LINK.sub("", question).strip().rstrip(" ?.!")
    return bool(text) and detect_math(question) is None and _math_with(text, PLACEHOLDER) is not None


def numbers_in(answer: str) -> list[str]:
    """The numbers an answer gives, in order, without repeats: "7 items for 21 days [1]" -> ["7", "21"]."""
    found: list[str] = []
    for match in NUMBER.finditer(answer):
        number = match.group(0).replace(",", "")
        if number not in found:
            found.append(number)
    return found


def _math_followup(question: str, previous: PreviousTurn) -> Standalone | None:
    if not is_math_on_previous(question):
        return None
    text = LEADING_LINK.sub("", question).strip().rstrip(" ?.!")
    value = MATH_VALUE.search(previous.answer) if previous.route == "math" else None
    if value is not None:
        number = value.group("value").rstrip(".").replace(",", "")
        rewritten = _math_with(text, _operand(number))
        return Standalone(rewritten, "math on the previous result") if rewritten else None
    given = [] if previous.abstained else numbers_in(previous.answer)
    marked = numbers_in(" ".join(MARKED_SPAN.findall(previous.answer)))
    if len(given) > 1 and len(marked) == 1:  # a quote marks its answer in bold: that is the number it gave
        given = marked
    if len(given) == 1:
        rewritten = _math_with(text, _operand(given[0]))
        return Standalone(rewritten, "math on the number the previous answer gave") if rewritten else None
    example = _math_with(text, given[0] if given else "12") or text
    which = f"it gave several ({', '.join(given[:5])})" if given else "it gave no number"
    return Standalone(
        question,
        "math on the previous answer: which number?",
        clarification=f"Which number should I use? The previous answer is not a calculation and {which}. "
        f"Ask again with the number, e.g. '{example}'.",
    )


def _operand(number: str) -> str:
    return f"({number})" if number.startswith("-") else number


def _owner(phrase: str) -> str:
    """ "the capital of Poland" -> "Poland"; "the Norse raiders who founded Normandy" -> "the Norse raiders"."""
    phrase = re.split(r"\s+(?:who|which|that)\s+", phrase)[0]
    if " of " in phrase:
        phrase = phrase.rsplit(" of ", 1)[1]
        phrase = re.sub(r"^the\s+(?:word|term|name|city|country|town)\s+", "", phrase)
    return phrase


PERSON_PRONOUNS = {"he", "him", "his", "she", "her", "hers"}


def _replace_pronouns(question: str, previous: PreviousTurn) -> str | None:
    """Pronouns replaced by what they most likely mean; the first pronoun gets the main referent."""
    main, other = _referents(previous)
    thing = subject_of(previous.question) or main
    words = question.split()
    changed = False
    assigned: dict[str, str | None] = {}
    for index, word in enumerate(words):
        bare = word.strip("?,.!").lower()
        tail = word[len(word.rstrip("?,.!")) :]
        if bare not in POSSESSIVE_PRONOUNS | SUBJECT_PRONOUNS or (bare in SUBJECT_PRONOUNS and index == 0):
            continue
        target: str | None
        if bare == "them" and (counted := _counted_noun(previous.question)) is not None:
            target = f"the {counted}"  # "How many photographs ...?" then "can I borrow them?"
        elif bare in PERSON_PRONOUNS:
            family = "her" if bare in {"she", "her", "hers"} else "he"
            if family not in assigned:
                assigned[family] = main if not assigned else (other or main)
            target = assigned[family]
        else:
            # "its largest city" after "the capital of Poland" is Poland's; "they" after "a member of the
            # library" are the members, so only "it"/"its" look past "of".
            target = _owner(thing) if bare in {"it", "its"} and thing else thing
            if target and bare in {"they", "them", "their"}:
                target = re.split(r"\s+(?:who|which|that)\s+", target)[0]
            if bare in {"they", "them", "their"} and main and main != subject_of(previous.question):
                target = main  # "Who won ...?" -> "they" are the answer
        if not target:
            continue
        possessive = bare in {"his", "its", "their"} or (
            bare == "her"
            and index + 1 < len(words)
            and words[index + 1].isalpha()
            and words[index + 1].lower() not in {"escape", "go", "leave", "become"}
        )
        words[index] = (f"{target}'s" if possessive else target) + tail
        changed = True
    return " ".join(words) if changed else None


def _owned_thing(fragment: str, previous: PreviousTurn) -> str | None:
    """ "and its opening hours?" after "Where is the library?" -> "What are the library's opening hours?"."""
    first, _, rest = fragment.strip().rstrip(" ?.!").partition(" ")
    if first.lower() not in POSSESSIVE_PRONOUNS or not rest:
        return None
    replaced = _replace_pronouns(fragment.strip().rstrip(" ?.!") + " x", previous)
    if replaced is None:
        return None
    owner_phrase = replaced[: -len(" x")]
    verb = "are" if rest.split()[-1].lower().endswith("s") and not rest.lower().endswith("ss") else "is"
    return _capitalised(f"What {verb} {owner_phrase}")


def _capitalised(text: str) -> str:
    text = TRAILING_FILLER.sub("", text.strip())
    text = text.rstrip(" ?.!") + "?"
    return text[0].upper() + text[1:]


HOW_MANY = re.compile(r"\bhow\s+(?:many|much)\s+(?P<noun>\w+)", re.IGNORECASE)
ONE = re.compile(r"\b(?P<det>the|this|that|which)\s+(?P<adj>\w+\s+)?one\b", re.IGNORECASE)


def _counted_noun(previous_question: str) -> str | None:
    """ "How many photographs does ..." -> "photographs"."""
    match = HOW_MANY.search(previous_question)
    if match is None or re.fullmatch(AUXILIARIES, match.group("noun"), re.IGNORECASE):
        return None
    return match.group("noun")


def _fill_in_noun(question: str, previous_question: str) -> str | None:
    """ "the oldest one" -> "the oldest photograph"; "how many made up" -> "how many counties made up"."""
    noun = _counted_noun(previous_question)
    if noun is None:
        return None
    if (one := ONE.search(question)) is not None:
        singular = noun[:-1] if noun.endswith("s") and not noun.endswith("ss") else noun
        return (
            question[: one.start()] + f"{one.group('det')} {one.group('adj') or ''}{singular}" + question[one.end() :]
        )
    bare = re.search(r"\bhow\s+many\s+(?=(?:" + AUXILIARIES + r")\b|\w+ed\b|made\b)", question, re.IGNORECASE)
    if bare is not None:
        return question[: bare.end()] + f"{noun} " + question[bare.end() :]
    return None


def _is_fragment(text: str) -> bool:
    """No question word, no verb of its own: "on Thursdays?", "visitors?"."""
    return not re.match(rf"^\s*(?:\w+\s+)?{WH}\b", text, re.IGNORECASE) and not re.search(
        rf"\b(?:{AUXILIARIES})\b", text, re.IGNORECASE
    )


def _with_phrase(previous_question: str, preposition: str, thing: str) -> str:
    """The previous question with "PREP thing" replacing its own trailing phrase with PREP, or added."""
    base = previous_question.strip().rstrip(" ?.!")
    trailing = TRAILING_PREP_PHRASE.search(base + "?")
    if trailing and trailing.group("prep").lower() == preposition.lower():
        base = base[: trailing.start()]
    return _capitalised(f"{base} {preposition} {thing}")


def _swap_in(previous_question: str, thing: str, subject: str | None) -> str | None:
    """The previous question about `thing`: it replaces the trailing phrase's object, else the subject."""
    base = previous_question.strip().rstrip(" ?.!")
    trailing = TRAILING_PREP_PHRASE.search(base + "?")
    if trailing:
        return _capitalised(f"{base[: trailing.start()]} {trailing.group('prep')} {thing}")
    if subject and subject in base:
        return _capitalised(base.replace(subject, thing, 1))
    return None


# Words that point back to something said before ("his", "it", "the oldest one", "was that"): a turn that
# holds one does not stand alone. "that" after a content word is a relative pronoun ("the book that won").
POINTING_BACK = frozenset("he she it they him her them his hers its their theirs".split())
DEMONSTRATIVES = frozenset("this that these those".split())
# Words that shape a question without saying what it is about: "how long", "what else", "again".
SHAPING = frozenset("long far old often soon else again please though too about more".split())
ELIDED_COUNT_NOUN = re.compile(rf"\bhow\s+many\s+(?:(?:{AUXILIARIES})\b|\w+ed\b|made\b)", re.IGNORECASE)


def _points_back(tokens: list[str]) -> bool:
    """Does the turn hold a word that refers to the previous turn (a pronoun, a demonstrative, "the X one")?"""
    from orchestrator.text import STOPWORDS

    for index, word in enumerate(tokens):
        before = tokens[index - 1] if index else ""
        after = tokens[index + 1] if index + 1 < len(tokens) else ""
        if word in POINTING_BACK:
            return True
        if word in DEMONSTRATIVES and (not before or before in STOPWORDS):
            return True
        if word in {"one", "ones"} and before and after != "of":  # "the oldest one", "which one"; not "one of"
            return True
        if word == "there" and not after:  # "Who did she meet there?"; not "Is there a fee?"
            return True
    return False


def stands_alone(question: str) -> bool:
    """Does this turn make sense without the previous one? Read from the turn itself, no verb lists.

    It does when nothing in it points back, it is not a continuation ("and on Thursdays?", "what about
    visitors?"), and it has something to be about: two content words ("Who wrote the newsletter?"), or one
    with an auxiliary ("Who is Tesla?"). A continuation that has a question word or auxiliary of its own
    ("and who makes the Tallyhub?") stands alone too.
    """
    from orchestrator.text import QUESTION_WORDS, STOPWORDS, words

    text = LEADING_LINK.sub("", question).strip()
    if not text or WHAT_ABOUT.match(text) or ELIDED_COUNT_NOUN.search(text):
        return False
    tokens = words(text)
    if _points_back(tokens):
        return False
    content = [word for word in tokens if word not in STOPWORDS and word not in SHAPING]
    shaped = any(word in QUESTION_WORDS for word in tokens)
    if text != question.strip() and not shaped:
        return False  # "and the phone number?": a noun phrase continuing the previous question
    return len(content) >= 2 or (len(content) == 1 and any(re.fullmatch(AUXILIARIES, w) for w in tokens))


def make_standalone(question: str, previous: PreviousTurn | None) -> Standalone:
    """The follow-up rewritten to stand alone, or the question unchanged when it already does.

    After a chat turn nothing is rewritten: the chat route reads the conversation itself.
    """
    if previous is None or not question.strip() or previous.route == "chat":
        return Standalone(question)
    if (math := _math_followup(question, previous)) is not None:
        return math
    if stands_alone(question):
        return Standalone(question)
    subject = subject_of(previous.question)
    previous_parts = _split_question(previous.question)
    if (about := WHAT_ABOUT.match(question)) and previous_parts:
        from orchestrator.text import words

        if _points_back(words(about.group("thing"))):
            return Standalone(question)  # "what about the second one?": nothing to swap in that the rules know
        swapped = _swap_in(previous.question, about.group("thing"), subject)
        if swapped:
            return Standalone(swapped, "what about: the previous question, new subject")
    linked = LEADING_LINK.sub("", question)
    own = _split_question(linked)
    short_question = len(linked.split()) <= 4 and linked.rstrip().endswith("?")
    if own is None and _is_fragment(linked) and (linked != question or short_question):
        # "and on Thursdays?" after "When does the library close?" or "Is the library open on Sundays?"
        fragment = FRAGMENT_PREP.match(linked)
        if fragment:
            return Standalone(
                _with_phrase(previous.question, fragment.group("prep"), fragment.group("object")),
                "fragment: added to the previous question",
            )
        if (owned := _owned_thing(linked, previous)) is not None:
            return Standalone(owned, "fragment: what the previous subject has")
    if previous_parts and own is None and _is_fragment(linked) and (linked != question or short_question):
        swapped = _swap_in(previous.question, linked.rstrip(" ?.!"), subject)
        if swapped:
            return Standalone(swapped, "fragment: the previous question, new subject")
    pronouns = SUBJECT_PRONOUNS | POSSESSIVE_PRONOUNS
    elliptical = (
        own is None
        and len(linked.split()) <= 4
        and not any(w.strip("?,.!").lower() in pronouns for w in linked.split())
        and not re.search(rf"\b(?:{AUXILIARIES})\b", linked, re.IGNORECASE)
    )
    if elliptical and previous_parts and re.match(rf"^\s*(?:\w+\s+)?{WH}\b", linked, re.IGNORECASE):
        # "and for how long?": the new question word on the previous question's body
        return Standalone(
            _capitalised(f"{linked.rstrip(' ?.!')} {previous_parts[1]}"), "ellipsis: the previous question's body"
        )
    if (filled := _fill_in_noun(linked, previous.question)) is not None:
        return Standalone(_capitalised(filled), "the previous question's noun")
    if (replaced := _replace_pronouns(linked, previous)) is not None:
        return Standalone(_capitalised(replaced), "pronoun: the previous subject")
    return Standalone(question)


def previous_turn(history: Sequence[BaseMessage]) -> PreviousTurn | None:
    """The last finished turn of a conversation: its question, answer and (when recorded) route.

    The REPL records the route on each answer message (`response_metadata`); a history from elsewhere
    (`serve`, a caller's role dicts) has none, and an answer of the math tool's shape ("12*7 = 84") is
    then taken as math.
    """
    from langchain_core.messages import AIMessage, HumanMessage

    for index in range(len(history) - 1, 0, -1):
        answer, asked = history[index], history[index - 1]
        if isinstance(answer, AIMessage) and isinstance(asked, HumanMessage):
            metadata = answer.response_metadata or {}
            text = str(answer.content)
            route = metadata.get("route") or ("math" if MATH_ANSWER.match(text) else None)
            return PreviousTurn(str(asked.content), route, text, bool(metadata.get("abstained")))
    return None
