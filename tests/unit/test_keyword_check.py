"""The cheap first relevance check: a question with no term in the collection is ruled out without Chroma."""

from __future__ import annotations

import json
import os

from orchestrator.knowledge.keyword_check import STAMP_FILE, chroma_stamp, record_stamp, shares_no_term
from orchestrator.knowledge.retrieval import KEYWORD_INDEX_VERSION

INDEX = f"{KEYWORD_INDEX_VERSION}-abc"


def collection(tmp_path, words=("lighthouse", "keeper", "island")):
    chroma = tmp_path / "chroma"
    chroma.mkdir()
    (chroma / "chroma.sqlite3").write_bytes(b"x" * 100)
    keywords = tmp_path / "bm25" / "default"
    (keywords / INDEX).mkdir(parents=True)
    (keywords / INDEX / "vocab.index.json").write_text(json.dumps({w: i for i, w in enumerate(words)}))
    return chroma, keywords


def test_a_question_sharing_no_term_is_ruled_out(tmp_path):
    chroma, keywords = collection(tmp_path)
    record_stamp(keywords / INDEX, chroma_stamp(chroma), chroma)
    assert shares_no_term(keywords, chroma, "Hi")
    assert shares_no_term(keywords, chroma, "Tell me a joke about penguins")
    assert not shares_no_term(keywords, chroma, "Who was the keeper?")
    assert not shares_no_term(keywords, chroma, "What is it?")  # no content terms: the score is the cosine alone


def test_any_write_to_chroma_voids_the_check(tmp_path):
    chroma, keywords = collection(tmp_path)
    record_stamp(keywords / INDEX, chroma_stamp(chroma), chroma)
    with open(chroma / "chroma.sqlite3", "ab") as handle:
        handle.write(b"new chunk")
    assert not shares_no_term(keywords, chroma, "Hi")


def test_a_write_between_fingerprint_and_record_records_nothing(tmp_path):
    chroma, keywords = collection(tmp_path)
    before = chroma_stamp(chroma)
    os.utime(chroma / "chroma.sqlite3", ns=(1, 1))  # another process wrote meanwhile
    record_stamp(keywords / INDEX, before, chroma)
    assert not (keywords / INDEX / STAMP_FILE).exists()
    assert not shares_no_term(keywords, chroma, "Hi")


def test_no_record_no_index_or_no_store_means_unknown(tmp_path):
    chroma, keywords = collection(tmp_path)
    assert not shares_no_term(keywords, chroma, "Hi")  # never recorded
    (keywords / "older-index").mkdir()
    record_stamp(keywords / "older-index", chroma_stamp(chroma), chroma)  # no vocabulary in it
    assert not shares_no_term(keywords, chroma, "Hi")
    record_stamp(keywords / INDEX, chroma_stamp(chroma), chroma)
    assert not shares_no_term(keywords, chroma, "Hi")  # two recorded folders: which is current is unknown
    assert chroma_stamp(tmp_path / "nowhere") is None
    assert chroma_stamp("http://localhost:8000") is None


def test_a_vocabulary_of_another_tokenizer_is_not_trusted(tmp_path):
    # An index folder named for an older KEYWORD_INDEX_VERSION holds words split another way (say "2,249"
    # as "249"): against it a question about 2,249 would share no term, and the router would rule the
    # documents out. Until the retriever rebuilds it, the check says "unknown".
    chroma, keywords = collection(tmp_path, words=("crowd", "249"))
    old = keywords / "tokenizer-v0-abc"
    (keywords / INDEX).rename(old)
    record_stamp(old, chroma_stamp(chroma), chroma)
    assert not shares_no_term(keywords, chroma, "Was the crowd 2,249?")
    assert not shares_no_term(keywords, chroma, "Hi")
