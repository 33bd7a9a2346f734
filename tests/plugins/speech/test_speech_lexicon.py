"""Lexicon decoding: the trie of pronunciations (spellings or phones), the word n-gram LM and
the constrained beam search."""

import json

import numpy as np
import pytest
from rnnsuite.plugins.speech.decode import (
    Lexicon,
    WordNgramLM,
    forced_align,
    greedy_decode,
    lexicon_beam_search,
    word_times,
)

CHARS = ["", " ", "a", "c", "d", "g", "o", "t"]          # label id -> character; 0 is blank
ID = {c: i for i, c in enumerate(CHARS) if c}


def _text(ids) -> str:
    return "".join(CHARS[i] for i in ids)


def _log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def test_lexicon_trie_walks_prefixes_and_marks_words():
    lexicon = Lexicon.from_texts(["cat dog", "cat", "cot"])
    assert lexicon.counts == {"cat": 2, "dog": 1, "cot": 1}
    node = 0
    for ch in "ca":
        node = lexicon.children[node][ch]
    assert lexicon.words_at[node] == () and lexicon.words_below[node] == ("cat",)
    assert lexicon.words_at[lexicon.children[node]["t"]] == ("cat",)
    assert "t" not in lexicon.children[0]                 # no word starts with t
    again = Lexicon.from_state(json.loads(json.dumps(lexicon.state_dict())))
    assert again.counts == lexicon.counts and again.prons == lexicon.prons


def test_phone_lexicon_shares_nodes_between_homophones_and_keeps_every_pronunciation():
    lexicon = Lexicon.from_texts(["press two", "speak to", "a"], units="phones")
    node = 0
    for phone in ("T", "UW"):
        node = lexicon.children[node][phone]
    assert lexicon.words_at[node] == ("to", "two")        # one path, two words
    assert lexicon.prons["a"][:2] == [("EY",), ("AH",)]   # the letter name first
    assert lexicon.words_at[lexicon.children[0]["AH"]] == ("a",)
    again = Lexicon.from_state(json.loads(json.dumps(lexicon.state_dict())))
    assert again.prons == lexicon.prons and again.words_at == lexicon.words_at


def test_runs_saved_before_pronunciations_load_as_spelled_words():
    lexicon = Lexicon.from_state({"counts": {"cat": 2}})  # an old run's task state
    assert lexicon.spelled and lexicon.prons == {"cat": [("c", "a", "t")]}


@pytest.mark.parametrize("seed", range(8))
def test_lexicon_search_spells_only_lexicon_words(seed):
    lexicon = Lexicon.from_texts(["cat dog", "dog", "cot a", "toad"])
    rng = np.random.default_rng(seed)
    lp = _log_softmax(rng.normal(size=(30, len(CHARS))) * 3)   # noisy frames: greedy is garbage
    word_lm = WordNgramLM.estimate(["cat dog", "dog", "cot a", "toad"], order=2)
    for lm in (None, word_lm):
        hyp = lexicon_beam_search(lp, CHARS, lexicon, lm, beam=8)
        assert all(word in lexicon for word in hyp.words), hyp.words
        assert hyp.text == _text(hyp.labels).strip() or not hyp.words


def test_word_lm_hand_computed_bigram():
    # Kneser-Ney, D = 0.75, on "a b" and "b" (events: <s> a, a b, b </s>, <s> b, b </s>).
    # Continuation counts: a 1 (<s>), b 2 (<s>, a), </s> 1 (b); sum 4, 3 types over
    # {a, b, </s>}, so P(w) = (N(w) - 0.75 + 0.75 * 3 / 3) / 4 = N(w) / 4.
    lm = WordNgramLM.estimate(["a b", "b"], order=2)
    assert lm.prob((), "b") == pytest.approx(0.5)
    # After "a" (seen once, followed by 1 type): P(b|a) = (1 - 0.75) / 1 + 0.75 * 1 * P(b)
    assert lm.prob(("a",), "b") == pytest.approx(0.25 + 0.75 * 0.5)
    assert lm.prob(("a",), "a") == pytest.approx(0.75 * 0.25)
    # After <s> (2 events, 2 types): P(a|<s>) = (1 - 0.75 + 0.75 * 2 * 0.25) / 2
    assert lm.prob(lm.start(), "a") == pytest.approx(0.3125)
    assert lm.end_logprob(lm.start()) == pytest.approx(np.log(0.75 * 2 * 0.25 / 2))


@pytest.mark.parametrize("order", [1, 2, 3])
def test_word_lm_sums_to_one_over_vocabulary_and_end(order):
    texts = ["press one", "press two", "press star", "one two three", "star"]
    lm = WordNgramLM.estimate(texts, order=order)
    again = WordNgramLM.from_state(json.loads(json.dumps(lm.state_dict())))
    for history in [(), ("press",), ("one", "two"), ("unseen", "words"), lm.start()]:
        total = sum(lm.prob(history, w) for w in lm.vocabulary)    # vocabulary ends with </s>
        assert total == pytest.approx(1.0, abs=1e-12)
        assert again.prob(history, "two") == pytest.approx(lm.prob(history, "two"))
    assert lm.vocabulary[-1] == "</s>" and len(lm.vocabulary) == 6


def _frames(*rows):
    """Log-probabilities from per-frame {character: probability}; the rest goes to blank."""
    lp = np.full((len(rows), len(CHARS)), 1e-4)
    for t, row in enumerate(rows):
        for ch, p in row.items():
            lp[t, ID[ch] if ch else 0] = p
        lp[t, 0] += max(0.0, 1.0 - lp[t].sum())
    return np.log(lp / lp.sum(-1, keepdims=True))


def test_lexicon_fixes_a_greedy_error():
    # The model hears "cot" (o 0.5 against a 0.4), but the task only knows "cat" and "dog".
    lp = _frames({"c": 0.9}, {"o": 0.5, "a": 0.4}, {"t": 0.9}, {"": 0.9})
    assert _text(greedy_decode(lp)) == "cot"
    lexicon = Lexicon.from_texts(["cat", "dog"])
    assert lexicon_beam_search(lp, CHARS, lexicon, beam=8).words == ["cat"]


def test_word_lm_picks_the_likelier_word_after_its_context():
    # "dog" then "cat" or "cot" (a coin toss acoustically): the word LM has only seen "dog cat".
    lp = _frames({"d": 0.9}, {"o": 0.9}, {"g": 0.9}, {" ": 0.9}, {"c": 0.9},
                 {"o": 0.45, "a": 0.45}, {"t": 0.9})
    lexicon = Lexicon.from_texts(["dog cat", "cot", "cat"])
    word_lm = WordNgramLM.estimate(["dog cat"] * 5 + ["cot", "cot dog"], order=2)
    hyp = lexicon_beam_search(lp, CHARS, lexicon, word_lm, beam=8, word_weight=1.0)
    assert hyp.text == "dog cat"
    assert hyp.ranges == [(0, 3), (4, 7)]                 # the space is no word's


PHONES = ["", "T", "UW", "S", "IH", "K", "EY"]          # label id -> phone; 0 is blank
PHONE_ID = {p: i for i, p in enumerate(PHONES) if p}


def _phone_frames(*rows):
    lp = np.full((len(rows), len(PHONES)), 1e-4)
    for t, row in enumerate(rows):
        for phone, p in row.items():
            lp[t, PHONE_ID[phone] if phone else 0] = p
        lp[t, 0] += max(0.0, 1.0 - lp[t].sum())
    return np.log(lp / lp.sum(-1, keepdims=True))


def test_phone_words_close_where_the_next_begins_and_homophones_follow_the_lm():
    # T UW S IH K S: "two six" or "to six"; no separator between words with phones
    lp = _phone_frames({"T": 0.9}, {"UW": 0.9}, {"": 0.9}, {"S": 0.9}, {"IH": 0.9}, {"K": 0.9},
                       {"S": 0.9})
    texts = ["press two six", "two six", "speak to me"]
    lexicon = Lexicon.from_texts(texts, units="phones")
    word_lm = WordNgramLM.estimate(texts * 3, order=2)
    hyp = lexicon_beam_search(lp, PHONES, lexicon, word_lm, beam=8)
    assert hyp.words == ["two", "six"]
    assert [PHONES[c] for c in hyp.labels] == ["T", "UW", "S", "IH", "K", "S"]
    assert hyp.ranges == [(0, 2), (2, 6)]


def test_repeated_phone_across_a_word_boundary_needs_a_blank():
    # S IH K S then S IH K S: "six six" must keep a blank between the two S's
    rows = [{"S": 0.9}, {"IH": 0.9}, {"K": 0.9}, {"S": 0.9}, {"": 0.9},
            {"S": 0.9}, {"IH": 0.9}, {"K": 0.9}, {"S": 0.9}]
    lexicon = Lexicon.from_texts(["six six", "six"], units="phones")
    assert lexicon_beam_search(_phone_frames(*rows), PHONES, lexicon, beam=8).words == ["six", "six"]
    merged = rows[:4] + rows[5:]                          # no blank: the two S's are one
    assert lexicon_beam_search(_phone_frames(*merged), PHONES, lexicon, beam=8).words != ["six", "six"]


def test_word_times_come_from_each_word_labels():
    lp = _phone_frames({"T": 0.9}, {"UW": 0.9}, {"": 0.9}, {"": 0.9}, {"EY": 0.9})
    lexicon = Lexicon.from_texts(["two a"], units="phones")
    hyp = lexicon_beam_search(lp, PHONES, lexicon, beam=8)
    assert hyp.words == ["two", "a"]
    words = word_times(hyp, forced_align(lp, hyp.labels), frame_seconds=0.04)
    assert words == [{"word": "two", "start": 0.0, "end": 0.08},
                     {"word": "a", "start": 0.16, "end": 0.2}]
