from orchestrator.chains.grounding import cite_and_check, concise, content_words, says_unknown, stem, support

PASSAGES = [
    "The Denver Broncos defeated the Carolina Panthers 24-10 in Super Bowl 50.",
    "Warsaw is the capital and largest city of Poland.",
]


def test_content_words_drop_function_words_and_keep_numbers():
    assert content_words("The score was 2,249 yards.") == {"score", "2,249", "yard"}
    assert content_words("He played games") == content_words("he play game")


def test_support_of_a_copied_span_is_high_and_of_an_invention_low():
    assert support("The Broncos defeated the Panthers.", PASSAGES[0]) == 1.0
    assert support("A glasswhale is a rare deep-sea creature living near vents.", PASSAGES[0]) < 0.2


def test_valid_citations_are_kept_and_invalid_ones_dropped():
    grounded = cite_and_check("Warsaw is the capital of Poland [2] [7].", PASSAGES)
    assert grounded.cited == [2] and "[7]" not in grounded.text and grounded.support == 1.0


def test_missing_citation_points_at_the_best_supporting_passage():
    grounded = cite_and_check("The Broncos won 24-10.", PASSAGES)
    assert grounded.cited == [1] and grounded.text.endswith("[1]")


def test_wrong_citation_gives_low_support():
    grounded = cite_and_check("The Broncos defeated the Panthers [2].", PASSAGES)
    assert grounded.support < 0.5


def test_concise_keeps_whole_sentences():
    text = "First sentence here. " * 40
    short = concise(text, limit=100)
    assert len(short) <= 100 and short.endswith(".")


def test_says_unknown():
    assert says_unknown("The documents don't say.")
    assert says_unknown("It is from the local history collection, and it's unclear who took the photograph.")
    assert says_unknown("The passage does not mention the founder.")
    assert says_unknown("The text doesn't contain the year it opened.")
    assert says_unknown("The documents don't provide the price.")
    assert not says_unknown("Warsaw is the capital [2].")


def test_words_repeated_from_the_question_prove_nothing():
    question = "What surface is usually laid for county cricket finals?"
    passage = "Natural turf is usually laid for county cricket finals."
    assert support("The surface usually laid for county cricket finals is turf.", passage, question) == 1.0
    assert support("The surface is usually laid for county cricket finals.", passage, question) == 0.0
    assert support("The answer is: 1893.", "He moved to New York in 1893.", "When did he move?") == 1.0


def test_stem_meets_inflections_including_y_to_ie():
    assert stem("married") == stem("marry") == "marry"
    assert stem("studies") == stem("study")
    assert stem("played") == stem("play") and stem("games") == stem("game")
    assert stem("tied") == "tied"  # too short to strip
