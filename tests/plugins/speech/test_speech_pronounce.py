"""Pronunciations from CMUdict: phones without stress, letter names first, and the label
sequences that CTC training sums over."""

from rnnsuite.plugins.speech.pronounce import (
    PHONES,
    missing_words,
    pronunciations,
    target_alternatives,
)


def test_phones_are_cmudicts_39_without_stress():
    assert len(PHONES) == len(set(PHONES)) == 39
    for word in ("seven", "juliet", "operator", "thousand"):
        for pron in pronunciations(word):
            assert set(pron) <= set(PHONES)
    assert pronunciations("seven")[0] == ("S", "EH", "V", "AH", "N")


def test_letters_are_said_by_their_names_first():
    assert pronunciations("a")[0] == ("EY",)
    assert ("AH",) in pronunciations("a")            # the article, after the letter
    assert pronunciations("z") == [("Z", "IY"), ("Z", "EH", "D")]
    assert pronunciations("w")[0] == ("D", "AH", "B", "AH", "L", "Y", "UW")


def test_unknown_words_have_no_pronunciation():
    assert pronunciations("qwzxv") == []
    assert missing_words("press qwzxv now") == ["qwzxv"]


def test_alternatives_vary_ambiguous_words_up_to_the_limit():
    # "to": 3 pronunciations, "the": 2; together 6 > 4: only "to" varies, "the" keeps its first
    alts = target_alternatives("to the one", limit=4)
    assert len(alts) == 3
    assert {tuple(a[:2]) for a in alts} == {("T", "UW"), ("T", "IH"), ("T", "AH")}
    assert all(a[2:4] == ["DH", "AH"] for a in alts)
    assert target_alternatives("one two") == [["W", "AH", "N", "T", "UW"]]
