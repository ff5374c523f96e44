"""Evidence selection: which sentence of the retrieved chunks the docs route reads and may quote."""

import pytest
from langchain_core.documents import Document

from orchestrator.chains.evidence import (
    can_answer,
    coverage,
    expected_answer_type,
    labelled,
    rank_evidence,
    split_sentences,
    typed_values,
    uniform_weights,
    unmatched_qualifiers,
    unwrap_lines,
)
from orchestrator.text import stem
from tests.helpers.word_hash import WordHashEmbeddings

TESLA = (
    "Tesla was born in 1856 in Smiljan. His father promised to send him to the best engineering school. "
    "In 1875, Tesla enrolled at the Austrian Polytechnic in Graz on a Military Frontier scholarship. "
    "He lost his scholarship at the end of his second year."
)


def select_evidence(question, chunks, embeddings, term_weights=uniform_weights):
    """The best evidence window, or None: the first of rank_evidence's ranking."""
    ranked = rank_evidence(question, chunks, embeddings, term_weights, limit=1)
    return ranked[0] if ranked else None


def chunk(text, source="tesla.txt"):
    return Document(page_content=text, metadata={"source": source, "score": 0.6, "chunk_id": source})


def test_split_sentences_keeps_decimals_and_lines_apart():
    text = 'Pi is about 3.14 in most uses. It never ends!\nA heading\nWho knew? "Nobody" did.'
    assert split_sentences(text) == [
        "Pi is about 3.14 in most uses.",
        "It never ends!",
        "A heading",
        "Who knew?",
        '"Nobody" did.',
    ]


def test_hard_wrapped_lines_are_joined_but_headings_and_list_items_stay_apart_without_bullets():
    text = (
        "Borrowing\n"
        "Members may borrow up to 7 items at a time for 21 days. Membership is free for island\n"
        "residents and costs 12 euros per year for visitors.\n"
        "\n"
        "- a list item that is long enough to look like a wrapped line of text and\n"
        "  goes on here.\n"
        "- another item\n"
        "The head librarian is Tomasz\n"
        "wren, who starts in lower case.\n"
    )
    assert unwrap_lines(text) == [
        "Borrowing",
        "Members may borrow up to 7 items at a time for 21 days. Membership is free for island residents and "
        "costs 12 euros per year for visitors.",
        "a list item that is long enough to look like a wrapped line of text and goes on here.",
        "another item",
        "The head librarian is Tomasz wren, who starts in lower case.",
    ]
    assert "Membership is free for island residents and costs 12 euros per year for visitors." in split_sentences(text)


def test_questions_and_fragments_cannot_be_the_evidence():
    assert not can_answer("What does water cost?") and not can_answer("chunk")
    assert can_answer("The 2026 tariff is 2.15 euros per cubic metre.")


def test_an_answer_is_scored_and_quoted_with_the_label_above_it():
    faq = split_sentences("What does water cost?\nThe 2026 tariff is 2.15 euros per cubic metre.\nPay within 30 days.")
    assert labelled(faq, 1) == "What does water cost? The 2026 tariff is 2.15 euros per cubic metre."
    assert labelled(faq, 2) == "Pay within 30 days."  # the line before is a sentence, not a label
    glossary = split_sentences("chunk\n\nA piece of a document that is embedded and searched on its own.")
    assert labelled(glossary, 1) == "chunk: A piece of a document that is embedded and searched on its own."
    evidence = select_evidence(
        "What is a chunk?",
        [chunk("chunk\n\nA piece of a document that is searched on its own.", "glossary.jsonl")],
        WordHashEmbeddings(),
    )
    # "chunk" of the question's terms {"what", "chunk"}: without its label the definition covers nothing
    assert evidence.sentence.startswith("chunk: A piece") and evidence.sentence_coverage == 0.5


def test_coverage_matches_inflections_and_weights_rare_terms():
    weights = {"tesla": 1.0, "enroll": 3.0}
    assert coverage(weights, "In 1875, Tesla enrolled at the Polytechnic.") == 1.0
    assert coverage(weights, "Tesla was born in Smiljan.") == pytest.approx(0.25)
    assert coverage({}, "anything") == 0.0


def test_the_sentence_that_answers_is_chosen_with_its_neighbours():
    weights = {"tesla": 1.0, "enroll": 2.0, "polytechnic": 2.0}  # as a collection's IDF would weigh them
    evidence = select_evidence(
        "When did Tesla enroll at the Polytechnic?", [chunk(TESLA)], WordHashEmbeddings(), lambda q: weights
    )
    assert evidence.sentence.startswith("In 1875, Tesla enrolled")
    assert evidence.window.startswith("His father promised") and evidence.window.endswith("second year.")
    assert evidence.sentence_coverage == 1.0 and evidence.chunk.metadata["source"] == "tesla.txt"


def test_ranked_windows_are_best_first_and_do_not_overlap():
    text = " ".join(f"Sentence {word} about bridges." for word in ("one", "two", "three", "four", "five", "six"))
    windows = rank_evidence("Which bridges?", [chunk(text)], WordHashEmbeddings(), limit=10)
    assert [w.score for w in windows] == sorted((w.score for w in windows), reverse=True)
    covered = [set(split_sentences(w.window)) for w in windows]
    assert all(not (a & b) for i, a in enumerate(covered) for b in covered[i + 1 :])
    assert 2 <= len(windows) <= 3  # six sentences, three per window at most


def test_every_chunk_given_is_searched():
    filler = [chunk(f"Warsaw fact number {n}. It lies on the Vistula.", f"warsaw{n}.txt") for n in range(3)]
    evidence = select_evidence("When did Tesla enroll?", filler + [chunk(TESLA)], WordHashEmbeddings())
    assert evidence.chunk.metadata["source"] == "tesla.txt" and "1875" in evidence.sentence


def test_a_sentence_with_the_asked_type_of_answer_wins_a_tie():
    text = "Tesla moved to the Polytechnic in Graz. Tesla moved to the Polytechnic in 1875."
    when = select_evidence("When did Tesla move to the Polytechnic?", [chunk(text)], WordHashEmbeddings())
    assert "1875" in when.sentence
    where = select_evidence("Where did Tesla move to the Polytechnic?", [chunk(text)], WordHashEmbeddings())
    assert "Graz" in where.sentence  # untyped: no bonus, the earlier sentence of an equal pair wins


def test_expected_answer_types_and_their_values():
    date, number = (
        expected_answer_type("In what year did it open?"),
        expected_answer_type("How many people live there?"),
    )
    assert date is expected_answer_type("When did it open?") and number is expected_answer_type(
        "What is the population?"
    )
    assert expected_answer_type("Who founded it?") is None
    assert expected_answer_type("How far is the airport from town?") is number
    assert expected_answer_type("How tall is the tower?") is number
    assert typed_values(date, "It opened in March 1875, not 1880.") == {"march", "1875", "1880"}
    assert typed_values(number, "304,016 firms and seven counties.") == {"304,016", "seven"}
    assert typed_values(None, "1875") == set()


def test_the_second_chunk_is_searched_too():
    first = chunk("Warsaw is the capital of Poland. It lies on the Vistula.", "warsaw.txt")
    evidence = select_evidence("When did Tesla enroll?", [first, chunk(TESLA)], WordHashEmbeddings())
    assert evidence.chunk.metadata["source"] == "tesla.txt" and "1875" in evidence.sentence


def test_a_question_about_something_else_has_low_coverage():
    evidence = select_evidence(
        "How many maps do pilots keep in their back pocket?", [chunk(TESLA)], WordHashEmbeddings()
    )
    assert evidence.sentence_coverage == 0.0


def test_no_chunks_means_no_evidence():
    assert select_evidence("Anything?", [], WordHashEmbeddings()) is None
    assert select_evidence("Anything?", [chunk("   ")], WordHashEmbeddings()) is None


def test_uniform_weights_are_the_keyword_terms():
    weights = uniform_weights("Did Tesla enroll in the school?")
    assert {stem("tesla"), stem("enroll"), stem("school")} <= set(weights) and set(weights.values()) == {1.0}
    assert "the" not in weights and "in" not in weights


def test_counts_written_as_words_past_twelve_are_numbers():
    number = expected_answer_type("How many ships sailed?")
    assert typed_values(number, "Sixteen ships and forty boats sailed; thirty-one sank.") == {
        "sixteen",
        "forty",
        "thirty",
        "one",
    }
    assert typed_values(number, "The fortress and the sixties fleet sailed.") == set()


def test_a_name_no_retrieved_chunk_holds_is_missing_but_a_surname_prefix_or_near_spelling_is_not():
    from orchestrator.chains.evidence import names_missing_from

    chunks = [
        chunk("Okonkwo threw for 310 yards in the Austrian final.", "final.txt"),
        chunk("The Hartmanis paper appeared later.", "paper.txt"),
    ]
    assert names_missing_from("How many yards did Ada Okonkwo throw?", chunks) == ["ada"]
    assert names_missing_from("How many yards did Okonkwo throw in the Austria final?", chunks) == []
    assert names_missing_from("When did the Hatmanis paper appear?", chunks) == []
    assert names_missing_from("What does the Premium plan cost?", chunks) == ["premium"]


def test_a_qualifier_the_field_lacks_is_unmatched_unless_its_heading_names_it():
    question = "What is the fee for an express passport renewal?"
    assert unmatched_qualifiers(question, "Service: Standard passport renewal; Fee: $60") == ["express"]
    assert unmatched_qualifiers(question, "Service: Express passport renewals; Fee: $110") == []
    assert unmatched_qualifiers(question, "Renewal: $110", heading="Passport Office > Express service") == []
    assert unmatched_qualifiers("When are the release notes due?", "Action: Draft release notes; Due: 1 May") == []
    assert unmatched_qualifiers("What is the max upload size?", "Maximum upload size: 2 GB") == []
    # A possessive is its noun, with either apostrophe: "museum's" is held by a unit that says "museum".
    unit = "Gift shop: the museum shop is open 10:00 to 16:00"
    assert unmatched_qualifiers("When is the museum's gift shop open?", unit) == []
    assert unmatched_qualifiers("When is the museum’s gift shop open?", unit) == []
    assert unmatched_qualifiers("When is the museum's gift shop open?", "Gift shop: open 10:00 to 16:00") == ["museum"]
    # A name is not a qualifier here (names_missing_from checks names), nor is a word before a stopword.
    assert unmatched_qualifiers("What does the Harbour ferry cost?", "Ferry: $4") == []


def test_a_field_for_another_qualifier_is_not_evidence_but_the_right_one_is():
    rows = chunk(
        "- Service: Standard passport renewal; Fee: $60\n- Service: Lost passport replacement; Fee: $95",
        source="passport_office.md",
    )
    question = "What is the fee for an express passport renewal?"
    assert select_evidence(question, [rows], WordHashEmbeddings()) is None
    rows.page_content += "\n- Service: Express passport renewal; Fee: $110"
    assert "$110" in select_evidence(question, [rows], WordHashEmbeddings()).sentence


def test_a_question_heading_labels_the_answer_under_it():
    from langchain_core.documents import Document

    from orchestrator.chains.evidence import _named_in_heading

    faq = Document(
        "The day pass is 6 euros.", metadata={"heading_path": "Harbour Baths FAQ > What does a day pass cost?"}
    )
    topic = Document("The day pass is 6 euros.", metadata={"heading_path": "Harbour Baths > Prices"})
    assert set(_named_in_heading("How much does a day pass cost?", faq).split()) >= {"day", "pass", "cost"}
    assert _named_in_heading("How much does a day pass cost?", topic) == ""
