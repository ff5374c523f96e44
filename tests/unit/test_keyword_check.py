"""The cheap first relevance check: a question with no term in the collection is ruled out without Chroma."""

from __future__ import annotations

import os

from orchestrator.knowledge.keyword_check import chroma_stamp, shares_no_term
from orchestrator.knowledge.keyword_index import KeywordIndex, index_file


def collection(tmp_path, text="The lighthouse keeper of the island", record=True):
    chroma = tmp_path / "chroma"
    chroma.mkdir()
    (chroma / "chroma.sqlite3").write_bytes(b"x" * 100)
    keywords = tmp_path / "bm25" / "default"
    index = KeywordIndex.open(keywords)
    with index.writing() as write:
        write.replace_all([("c1", "", text)])
        if record:
            write.set_chroma_files(chroma_stamp(chroma), chroma_stamp(chroma))
    return chroma, keywords


def test_a_question_sharing_no_term_is_ruled_out(tmp_path):
    chroma, keywords = collection(tmp_path)
    assert shares_no_term(keywords, chroma, "Hi")
    assert shares_no_term(keywords, chroma, "Tell me a joke about penguins")
    assert not shares_no_term(keywords, chroma, "Who was the keeper?")
    assert not shares_no_term(keywords, chroma, "What is it?")  # no content terms: the score is the cosine alone


def test_any_write_to_chroma_voids_the_check(tmp_path):
    chroma, keywords = collection(tmp_path)
    with open(chroma / "chroma.sqlite3", "ab") as handle:
        handle.write(b"new chunk")
    assert not shares_no_term(keywords, chroma, "Hi")


def test_a_write_while_the_index_was_checked_records_nothing(tmp_path):
    chroma, keywords = collection(tmp_path, record=False)
    index = KeywordIndex.open(keywords)
    before = chroma_stamp(chroma)
    os.utime(chroma / "chroma.sqlite3", ns=(1, 1))  # another process wrote meanwhile
    index.note_chroma_files(before, chroma_stamp(chroma))
    assert index.chroma_files() is None
    assert not shares_no_term(keywords, chroma, "Hi")
    index.note_chroma_files(chroma_stamp(chroma), chroma_stamp(chroma))
    assert shares_no_term(keywords, chroma, "Hi")


def test_no_record_no_index_or_no_store_means_unknown(tmp_path):
    chroma, keywords = collection(tmp_path, record=False)
    assert not shares_no_term(keywords, chroma, "Hi")  # never recorded
    assert not shares_no_term(tmp_path / "bm25" / "other", chroma, "Hi")  # no index at all
    assert chroma_stamp(tmp_path / "nowhere") is None
    assert chroma_stamp("http://localhost:8000") is None


def test_an_index_of_another_version_is_not_trusted_and_is_removed(tmp_path):
    # An index built by an older KEYWORD_INDEX_VERSION holds words split another way (say "2,249" as "249"):
    # against it a question about 2,249 would share no term, and the router would rule the documents out.
    chroma, keywords = collection(tmp_path, text="The crowd was 2,249")
    old = keywords / "words-en-stop-v3-headings-abc"
    old.mkdir()
    index_file(keywords).rename(keywords / "keywords-fts5-v3.sqlite3")
    for suffix in ("-wal", "-shm"):
        index_file(keywords).with_name(index_file(keywords).name + suffix).unlink(missing_ok=True)
    assert not shares_no_term(keywords, chroma, "Was the crowd 2,249?")
    assert not shares_no_term(keywords, chroma, "Hi")
    KeywordIndex.open(keywords)  # the current version's index, created empty; the others are deleted
    assert sorted(path.name for path in keywords.iterdir() if not path.name.startswith(index_file(keywords).name)) == []
