"""The pure parts of benchmarks/scale.py: corpus selection and de-duplication, made-up facts, growth fit, table."""

import importlib.util
import math
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "scale.py"


@pytest.fixture(scope="module")
def scale():
    spec = importlib.util.spec_from_file_location("scale_benchmark", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def corpus_file(scale, name, text):
    return scale.CorpusFile(name, text, "test")


def test_duplicate_files_are_dropped_and_counted(scale):
    files = [
        corpus_file(scale, "a.txt", "The Harbour Office opens at nine."),
        corpus_file(scale, "b.txt", "the harbour  office\nopens at NINE."),  # same text, other spacing and case
        corpus_file(scale, "c.txt", "The Harbour Office closes at five."),
        corpus_file(scale, "d.txt", "The Harbour Office opens at nine."),
    ]
    dropped = []
    kept = list(scale.without_duplicates(files, dropped))
    assert [f.name for f in kept] == ["a.txt", "c.txt"]
    assert [f.name for f in dropped] == ["b.txt", "d.txt"]


def test_duplicate_chunk_share(scale):
    assert scale.duplicate_chunk_share([]) == 0.0
    assert scale.duplicate_chunk_share(["one", "two", "One ", "three"]) == pytest.approx(0.25)
    assert scale.duplicate_chunk_share(["same"] * 4) == pytest.approx(0.75)


def test_each_size_is_a_superset_of_the_smaller(scale):
    files = [corpus_file(scale, f"{i}.txt", "word " * (i + 1)) for i in range(20)]

    def chunks(f):
        return len(f.text.split()) // 3 + 1

    small = scale.select_files(files, 10, chunks)
    large = scale.select_files(files, 40, chunks)
    assert small.estimated_chunks >= 10 and large.estimated_chunks >= 40
    assert large.files[: len(small.files)] == small.files and len(large.files) > len(small.files)
    assert scale.select_files(files, 10**9, chunks).files == files  # runs out: everything, no error


def test_prose_filter_keeps_sentences_and_drops_word_lists(scale):
    prose = "This library parses configuration files and reports the line of each mistake it finds.\n" * 5
    word_list = "\n".join(f"word{i}" for i in range(200))
    numbers = "\n".join("1.0 2.5 3.25 4.125 5.0 6.5" for _ in range(60))
    assert scale.is_prose(prose)
    assert not scale.is_prose(word_list)
    assert not scale.is_prose(numbers)


def test_docstrings_are_read_without_importing(scale):
    source = '"""A module about ferries and the long timetable they keep for every harbour of the coast."""\n' + (
        "def sail():\n"
        '    """Sail from the north pier to the south pier, waiting for the tide when it is too low to leave."""\n'
        "    raise SystemExit('never run')\n"
    )
    found = dict(scale.docstrings_of(source))
    assert "ferries" in found["module"] and "tide" in found["sail"]
    assert scale.docstrings_of("def broken(:\n") == []


def test_facts_are_distinct_and_their_edit_changes_only_the_value(scale):
    facts = scale.make_facts(24)
    assert len({fact.name for fact in facts}) == 24
    assert len({fact.question for fact in facts}) == 24
    for fact in facts:
        original, changed = fact.document().text, fact.document(fact.changed_value).text
        assert fact.value != fact.changed_value
        assert scale.answer_holds(original, fact.value) and not scale.answer_holds(original, fact.changed_value)
        assert scale.answer_holds(changed, fact.changed_value) and not scale.answer_holds(changed, fact.value)
        assert fact.name in fact.question and fact.document().name == fact.document(fact.changed_value).name


def test_answer_holds_a_value_only_as_a_whole_number(scale):
    assert scale.answer_holds("It holds 412 million litres.", "412")
    assert not scale.answer_holds("It holds 4125 million litres.", "412")
    assert not scale.answer_holds("It leaves at 17:40.", "7:40")
    assert scale.answer_holds("It leaves at 07:40.", "07:40")


def test_growth_fit_tells_linear_from_logarithmic(scale):
    sizes = [1_000, 10_000, 100_000]
    linear = scale.fit_growth(sizes, [2 + 0.003 * n for n in sizes])
    assert linear[0].shape == "linear" and linear[0].rmse == pytest.approx(0, abs=1e-9)
    assert linear[0].at(1_000_000) == pytest.approx(3002)
    logarithmic = scale.fit_growth(sizes, [0.5 + 0.1 * math.log(n) for n in sizes])
    assert logarithmic[0].shape == "log"
    assert logarithmic[0].at(1_000_000) == pytest.approx(0.5 + 0.1 * math.log(1_000_000))
    assert scale.fit_growth([1_000], [1.0]) == []  # one size: nothing to fit


def test_percentile_is_nearest_rank(scale):
    values = list(range(1, 21))
    assert scale.percentile(values, 0.95) == 19
    assert scale.percentile(values, 0.5) == 10
    assert scale.percentile([3.0], 0.95) == 3.0


def test_table_has_a_column_per_size_and_the_projection(scale):
    rows = [
        {"label": "1,000", "chunks": 1000, "ingest_s": 30.0, "cold_ask_s": 2.0, "warm_p95_s": None},
        {"label": "10,000", "chunks": 10000, "ingest_s": 300.0, "cold_ask_s": 2.9, "warm_p95_s": None},
    ]
    table = scale.render_table(rows, 1_000_000).splitlines()
    assert table[0] == "| figure | 1,000 | 10,000 | 1,000,000 (fit: linear · log) |"
    assert table[1] == "|---|---|---|---|"
    ingest = next(line for line in table if line.startswith("| ingest (wall clock)"))
    assert "| 30.0 | 300.0 | linear 30,000.00 · log " in ingest
    assert not any("warm docs answer p95" in line for line in table)  # never measured: no row
    one_size = scale.render_table(rows[:1])
    assert "n/a (one size)" in one_size


def test_a_figure_that_fell_with_size_is_not_projected(scale):
    rows = [
        {"label": "1,000", "chunks": 1000, "cold_ask_s": 5.0},
        {"label": "10,000", "chunks": 10000, "cold_ask_s": 4.0},
    ]
    cold = next(line for line in scale.render_table(rows).splitlines() if "cold docs" in line)
    assert cold.endswith("| 5.00 | 4.00 | did not grow with N |")
