from rnnsuite.plugins.speech.text import Vocabulary, cardinal, normalize, ordinal


def test_cardinal_spells_hand_checked_numbers():
    assert cardinal(0) == "zero"
    assert cardinal(15) == "fifteen"
    assert cardinal(40) == "forty"
    assert cardinal(99) == "ninety nine"
    assert cardinal(105) == "one hundred five"
    assert cardinal(1205) == "one thousand two hundred five"
    assert cardinal(3_000_012) == "three million twelve"


def test_ordinal_handles_irregular_endings():
    assert [ordinal(n) for n in (1, 2, 3, 5, 8, 9, 12, 20, 21, 100)] == [
        "first", "second", "third", "fifth", "eighth", "ninth", "twelfth", "twentieth",
        "twenty first", "one hundredth"]


def test_normalize_spells_numbers_times_money_and_symbols():
    assert normalize("Call 555-0123 at 3:30pm!") == \
        "call five five five zero one two three at three thirty p m"
    assert normalize("It costs $45.20") == "it costs forty five dollars and twenty cents"
    assert normalize("Press * or #") == "press star or pound"
    assert normalize("Meet me on the 21st at 7 a.m.") == "meet me on the twenty first at seven a m"
    assert normalize("12:00") == "twelve o'clock"
    assert normalize("account 004512") == "account zero zero four five one two"
    assert normalize("3.5%") == "three point five percent"


def test_normalize_keeps_only_word_internal_apostrophes():
    assert normalize("Café “Don’t” STOP, 'quoted'") == "cafe don't stop quoted"
    assert normalize("...!?") == ""


def test_vocabulary_round_trip_and_blank():
    vocab = Vocabulary.from_texts(["ab c", "cab"])
    assert vocab.units == [" ", "a", "b", "c"] and vocab.kind == "chars"
    assert len(vocab) == 5  # blank + 4
    ids = vocab.encode("cab x")
    assert 0 not in ids
    assert vocab.decode(ids) == "cab "   # 'x' is unknown and dropped
    assert vocab.unknown("cab x") == {"x"}


def test_phone_vocabulary_encodes_unit_sequences_and_decodes_with_spaces():
    vocab = Vocabulary(["AH", "T", "UW"], "phones")
    ids = vocab.encode(["T", "UW", "ZZ"])
    assert ids == [2, 3] and vocab.decode(ids) == "T UW"
    assert vocab.labels == ["", "AH", "T", "UW"]
