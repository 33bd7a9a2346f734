import pytest
from rnnsuite.plugins.speech.metrics import ErrorRate, char_errors, edit_distance, word_errors


def test_wer_hand_computed_example():
    # ref: "press one for sales"  hyp: "press won for the sales please"
    # press=press, one->won (S), for=for, +the (I), sales=sales, +please (I): 3 errors / 4 words
    ref, hyp = "press one for sales", "press won for the sales please"
    assert word_errors(ref, hyp) == 3
    rate = ErrorRate()
    rate.add(ref.split(), hyp.split())
    assert rate.rate == pytest.approx(3 / 4)


def test_cer_hand_computed_example():
    # "kitten" -> "sitting": k->s, e->i, +g = 3 edits over 6 characters
    assert char_errors("kitten", "sitting") == 3
    # spaces count as characters: "a b" -> "ab" is one deletion over 3 characters
    assert char_errors("a b", "ab") == 1


def test_corpus_rate_sums_errors_not_rates():
    rate = ErrorRate()
    rate.add("a".split(), "b".split())             # 1 error / 1 word
    rate.add("a b c d".split(), "a b c d".split())  # 0 errors / 4 words
    assert rate.rate == pytest.approx(1 / 5)


def test_edit_distance_edge_cases():
    assert edit_distance([], []) == 0
    assert edit_distance([], ["x", "y"]) == 2
    assert edit_distance(["x", "y"], []) == 2
    assert edit_distance("flaw", "lawn") == 2
