import itertools
import math

import numpy as np
import pytest
from rnnsuite.plugins.speech.decode import (
    CharNgramLM,
    forced_align,
    greedy_decode,
    prefix_beam_search,
    spelled,
    word_times,
)


def _log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _brute_force_best(lp):
    """Most probable label sequence by summing every frame path (independent of the decoder)."""
    T, V = lp.shape
    totals = {}
    for path in itertools.product(range(V), repeat=T):
        labels, prev = [], 0
        for k in path:
            if k != 0 and k != prev:
                labels.append(k)
            prev = k
        score = lp[np.arange(T), list(path)].sum()
        totals[tuple(labels)] = np.logaddexp(totals.get(tuple(labels), -np.inf), score)
    return list(max(totals, key=totals.get))


def test_greedy_merges_repeats_and_drops_blanks():
    best = [0, 1, 1, 0, 1, 2, 2, 0, 0, 3]
    lp = np.full((len(best), 4), -10.0)
    lp[np.arange(len(best)), best] = 0.0
    assert greedy_decode(lp) == [1, 1, 2, 3]


@pytest.mark.parametrize("seed", range(6))
def test_prefix_beam_search_finds_the_most_probable_labelling(seed):
    rng = np.random.default_rng(seed)
    lp = _log_softmax(rng.normal(size=(5, 3)) * 2)
    assert prefix_beam_search(lp, beam=64, prune=-1e9) == _brute_force_best(lp)


def test_prefix_beam_search_can_beat_greedy():
    # Greedy reads blank, blank (each 0.6) -> ""; but "1" has total probability 1 - 0.6^2 = 0.64.
    lp = np.log(np.array([[0.6, 0.4], [0.6, 0.4]]))
    assert greedy_decode(lp) == []
    assert prefix_beam_search(lp, beam=4) == [1]


def test_char_lm_is_a_distribution_and_prefers_seen_text():
    lm = CharNgramLM.estimate(["press one", "press two", "press star"], order=3)
    for context in ["", "pr", "press ", "xyz"]:
        total = sum(lm.prob(context, c) for c in lm.alphabet)
        assert total == pytest.approx(1.0, abs=1e-9)
    assert lm.prob("pre", "s") > lm.prob("pre", "o")
    state = lm.state_dict()
    again = CharNgramLM.from_state(state)
    assert again.prob("press t", "w") == pytest.approx(lm.prob("press t", "w"))


def test_lm_steers_beam_search_between_acoustically_tied_words():
    chars = ["", "a", "b"]
    lm = CharNgramLM.estimate(["ab"] * 20, order=2)
    # frame 2 is a coin toss between "a" and "b"; the LM knows "b" follows "a"
    lp = np.log(np.array([[0.01, 0.98, 0.01], [0.02, 0.49, 0.49]]))
    assert prefix_beam_search(lp, beam=8, lm=lm, chars=chars, alpha=1.0, beta=0.0) == [1, 2]


@pytest.mark.parametrize("seed", range(5))
def test_forced_align_matches_torchaudio_viterbi_score(seed):
    torch = pytest.importorskip("torch")
    F = pytest.importorskip("torchaudio.functional")
    rng = np.random.default_rng(seed)
    T, V = 25, 5
    lp = _log_softmax(rng.normal(size=(T, V)) * 3).astype(np.float32)
    targets = rng.integers(1, V, size=6).tolist()
    spans = forced_align(lp, targets)
    mine = np.zeros(T, dtype=int)
    for (first, end), label in zip(spans, targets):
        mine[first:end] = label
    theirs, _ = F.forced_align(torch.from_numpy(lp)[None], torch.tensor([targets], dtype=torch.int32),
                               blank=0)
    theirs = theirs[0].numpy()
    assert lp[np.arange(T), mine].sum() == pytest.approx(lp[np.arange(T), theirs].sum(), abs=1e-4)


def test_forced_align_handles_long_transcripts():
    # 80 labels -> 161 CTC states: more than an int8 back-pointer index can hold
    targets = [1 + (i % 3) for i in range(80)]
    lp = np.full((200, 4), np.log(0.01))
    lp[:, 0] = np.log(0.97)                                  # blank everywhere ...
    for i, label in enumerate(targets):
        lp[2 * i] = np.log(0.01)
        lp[2 * i, label] = np.log(0.97)                      # ... except label i at frame 2i
    spans = forced_align(lp, targets)
    assert [first for first, _ in spans] == [2 * i for i in range(80)]


def test_forced_align_reports_impossible_alignment():
    lp = np.log(np.full((2, 3), 1 / 3))
    assert forced_align(lp, [1, 1]) is None   # a repeat needs a blank between: 3 frames


def test_word_times_group_character_spans():
    chars = ["", " ", "a", "b", "c", "d"]
    hyp = spelled([2, 3, 1, 4, 5], chars)                 # "ab cd"
    assert hyp.words == ["ab", "cd"] and hyp.ranges == [(0, 2), (3, 5)]
    spans = [(0, 2), (2, 3), (5, 6), (6, 8), (8, 10)]     # the space at frame 5
    words = word_times(hyp, spans, frame_seconds=0.04)
    assert words == [{"word": "ab", "start": 0.0, "end": 0.12},
                     {"word": "cd", "start": 0.24, "end": 0.4}]
    assert math.isclose(words[1]["end"], 10 * 0.04)
