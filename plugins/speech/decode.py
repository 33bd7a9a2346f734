"""CTC decoding: greedy, prefix beam search with an optional character n-gram LM,
lexicon-constrained prefix beam search with a word n-gram LM, and forced alignment for word
times. Pure numpy on (T, V) log-probability matrices; blank is label 0. The language models
are in ngram.py, the lexicon trie in lexicon.py.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from rnnsuite.plugins.speech.lexicon import Lexicon
from rnnsuite.plugins.speech.ngram import NEG_INF as _NEG_INF
from rnnsuite.plugins.speech.ngram import CharNgramLM, WordNgramLM
from rnnsuite.plugins.speech.ngram import logaddexp as _logaddexp
from rnnsuite.plugins.speech.text import BLANK

__all__ = ["greedy_decode", "prefix_beam_search", "CharNgramLM", "Lexicon", "WordNgramLM",
           "Hypothesis", "spelled", "lexicon_beam_search", "LexiconSearch", "forced_align",
           "word_times"]


def greedy_decode(log_probs: np.ndarray) -> list[int]:
    """Best label per frame, repeats merged, blanks removed. log_probs: (T, V)."""
    best = np.asarray(log_probs).argmax(-1)                      # (T,)
    keep = (best != BLANK) & np.concatenate(([True], best[1:] != best[:-1]))
    return best[keep].tolist()


def _frames(lp_all: np.ndarray, top: int, prune: float):
    """Per frame: (log-probs, labels that may extend the prefixes), or labels None for a frame
    that is blank with 99.9% certainty (it only closes the prefixes: skipping the extensions
    there changes no ranking measurably and saves most of the work). The labels are the `top`
    likeliest non-blank ones scoring above `prune`, and always the best: the rest cannot reach
    the beam in practice and cost most of the time."""
    order = np.argsort(-lp_all, axis=1)[:, :min(top, lp_all.shape[1])].tolist()  # (T, top)
    blank_sure = math.log(0.999)
    for lp, ranked in zip(lp_all.tolist(), order):
        if lp[BLANK] >= blank_sure:
            yield lp, None
        else:
            yield lp, [c for i, c in enumerate(ranked) if c != BLANK and (i == 0 or lp[c] >= prune)]


def _close(beams: dict, lp_blank: float) -> dict:
    """Every prefix after a frame that only emits blank."""
    return {prefix: (_logaddexp(pb, pnb) + lp_blank, _NEG_INF) for prefix, (pb, pnb) in beams.items()}


def prefix_beam_search(log_probs: np.ndarray, beam: int = 8, lm: CharNgramLM | None = None,
                       chars=None, alpha: float = 0.5, beta: float = 1.0,
                       prune: float = math.log(1e-3)) -> list[int]:
    """CTC prefix beam search (Hannun et al. 2014), optionally with a character LM.

    Each prefix keeps two scores: ending in blank (pb) and ending in a label (pnb). The LM adds
    `alpha * log P(char | prefix) + beta` once, when a prefix is extended by a character, and
    `alpha * log P(end | prefix)` when beams are ranked at the end. Labels scoring below `prune`
    (log prob) in a frame are not tried, except the frame's best.

    Args: log_probs (T, V) log-softmax outputs; chars: label id -> character (index 0 unused),
    needed with `lm`. Returns the best label sequence.
    """
    lp_all = np.asarray(log_probs, dtype=np.float64)
    beams: dict = {(): (0.0, _NEG_INF)}           # prefix -> (log pb, log pnb)
    bonus: dict = {(): 0.0}                       # prefix -> accumulated LM score
    text_of: dict = {(): ""}
    for lp, labels in _frames(lp_all, beam, prune):
        if labels is None:
            beams = _close(beams, lp[BLANK])
            continue
        nxt: dict = defaultdict(lambda: [_NEG_INF, _NEG_INF])
        for prefix, (pb, pnb) in beams.items():
            total = _logaddexp(pb, pnb)
            entry = nxt[prefix]
            entry[0] = _logaddexp(entry[0], total + lp[BLANK])
            last = prefix[-1] if prefix else None
            for c in labels:
                p = lp[c]
                extended = prefix + (c,)
                if c == last:
                    entry[1] = _logaddexp(entry[1], pnb + p)   # repeat collapses into prefix
                    score = pb + p                              # a blank separated the repeat
                else:
                    score = total + p
                if extended not in bonus:
                    if lm is not None:
                        context = text_of[prefix]
                        bonus[extended] = bonus[prefix] + alpha * lm.logprob(context, chars[c]) + beta
                        text_of[extended] = context + chars[c]
                    else:
                        bonus[extended] = 0.0
                        text_of[extended] = ""
                ext_entry = nxt[extended]
                ext_entry[1] = _logaddexp(ext_entry[1], score)
        ranked = sorted(nxt.items(),
                        key=lambda kv: _logaddexp(*kv[1]) + bonus[kv[0]], reverse=True)
        beams = {prefix: tuple(scores) for prefix, scores in ranked[:beam]}

    def final(prefix):
        score = _logaddexp(*beams[prefix]) + bonus[prefix]
        if lm is not None:
            score += alpha * lm.end_logprob(text_of[prefix])
        return score

    return list(max(beams, key=final))


@dataclass
class Hypothesis:
    """A decoded utterance: its words, the label ids of its best path, and the range of labels
    (start, end) each word spans in that path (for word times)."""

    words: list
    labels: list
    ranges: list

    @property
    def text(self) -> str:
        return " ".join(self.words)


def spelled(labels, chars) -> Hypothesis:
    """The Hypothesis of a character label sequence (greedy or prefix beam search)."""
    words, ranges, start = [], [], None
    for i, c in enumerate(list(labels) + [None]):
        if c is None or chars[c] == " ":
            if start is not None:
                words.append("".join(chars[x] for x in labels[start:i]))
                ranges.append((start, i))
            start = None
        elif start is None:
            start = i
    return Hypothesis(words, list(labels), ranges)


def lexicon_beam_search(log_probs: np.ndarray, units, lexicon: Lexicon,
                        word_lm: WordNgramLM | None = None, beam: int = 8,
                        word_weight: float = 1.0, word_bonus: float = 0.0,
                        labels_per_frame: int = 0, prune: float = math.log(1e-4)) -> Hypothesis:
    """CTC beam search whose label sequences are pronunciations of words of `lexicon`, scored
    by a word n-gram LM (see LexiconSearch).

    Args: log_probs (T, V) log-softmax outputs; units: label id -> unit (index 0 unused);
    labels_per_frame: labels tried per frame (0: `beam`).
    """
    search = LexiconSearch(units, lexicon, word_lm, word_weight, word_bonus)
    return search.run(log_probs, beam, labels_per_frame or beam, prune)


class LexiconSearch:
    """The lexicon-constrained CTC prefix search of one utterance.

    A hypothesis is (words so far, trie node of the open word, last label): paths that agree on
    these are one hypothesis, so the pronunciations of a word add up. A label extends the open
    word along the trie; with character units a space closes it, with phones (no separator) a
    word closes wherever one ends and the next starts with the following label. Scores:

        acoustic (CTC: log P ending in blank, log P ending in a label, as prefix beam search)
        + word_weight * (sum of log P(word | history) over closed words
                         + log sum of P(w | history) over the words w the open one can still
                           become: the LM look-ahead, exact once the word closes)
        + word_bonus per closed word

    At the end only hypotheses whose open word is complete count (it closes, with the end of
    sentence). Without a word LM only the lexicon constrains the search.
    """

    def __init__(self, units, lexicon: Lexicon, word_lm: WordNgramLM | None = None,
                 word_weight: float = 1.0, word_bonus: float = 0.0):
        self.separator = units.index(" ") if " " in units else None
        label_of = {u: i for i, u in enumerate(units) if i != BLANK}
        # the trie over label ids instead of units
        self.children = [{label_of[u]: n for u, n in kids.items() if u in label_of}
                         for kids in lexicon.children]
        self.words_at, self.words_below = lexicon.words_at, lexicon.words_below
        self.word_lm = word_lm
        self.weight = word_weight if word_lm is not None else 0.0
        self.word_bonus = word_bonus
        self.lookahead_cache = lexicon.lookahead_cache.setdefault(word_lm, {})
        start = ((), 0, BLANK)
        # key (words, node, last label) -> (history, committed score, labels, (start, end) of
        # each closed word's labels, start of the open word's)
        self.info: dict = {start: (word_lm.start() if word_lm is not None else (), 0.0, (), (), 0)}
        self.rank_bonus: dict = {start: 0.0}            # key -> LM score used for ranking
        self.beams: dict = {start: (0.0, _NEG_INF)}     # key -> (log pb, log pnb)

    def run(self, log_probs: np.ndarray, beam: int, labels_per_frame: int, prune: float) -> Hypothesis:
        lp_all = np.asarray(log_probs, dtype=np.float64)
        for lp, labels in _frames(lp_all, labels_per_frame, prune):
            if labels is None:
                self.beams = _close(self.beams, lp[BLANK])
            else:
                self._step(lp, labels, beam)
        return self._best()

    def _lookahead(self, history, node) -> float:
        key = (history, node)
        value = self.lookahead_cache.get(key)
        if value is None:
            if self.word_lm is None or node == 0:
                value = 0.0
            else:
                mass = sum(self.word_lm.prob(history, w) for w in self.words_below[node])
                value = math.log(mass) if mass > 0 else _NEG_INF
            self.lookahead_cache[key] = value
        return value

    def _close(self, history, committed, word):
        """(history, committed LM score) after `word` closes."""
        if self.word_lm is not None:
            committed += self.weight * self.word_lm.logprob(history, word)
            history = history[1:] + (word,) if history else ()
        return history, committed + self.word_bonus

    def _successors(self, key, c):
        """[(target key, word closed on the way or None, whether a new word opens)]."""
        words, node, _ = key
        if c == self.separator:
            if node == 0:                           # no open word: the text stays as it is
                return [((words, 0, c), None, False)]
            return [((words + (w,), 0, c), w, False) for w in self.words_at[node]]
        out = []
        child = self.children[node].get(c)
        if child is not None:
            out.append(((words, child, c), None, node == 0))
        if self.separator is None and node != 0 and c in self.children[0]:
            out += [((words + (w,), self.children[0][c], c), w, True) for w in self.words_at[node]]
        return out

    def _add(self, key, target, closed, opens) -> None:
        history, committed, labels, ranges, open_start = self.info[key]
        if closed is not None:
            history, committed = self._close(history, committed, closed)
            ranges += ((open_start, len(labels)),)
        if opens:
            open_start = len(labels)
        self.info[target] = (history, committed, labels + (target[2],), ranges, open_start)
        self.rank_bonus[target] = committed + self.weight * self._lookahead(history, target[1])

    def _step(self, lp, labels, beam: int) -> None:
        """One frame: extend every kept hypothesis by blank and by `labels`, keep `beam`."""
        nxt: dict = defaultdict(lambda: [_NEG_INF, _NEG_INF])
        for key, (pb, pnb) in self.beams.items():
            total = _logaddexp(pb, pnb)
            entry = nxt[key]
            entry[0] = _logaddexp(entry[0], total + lp[BLANK])
            last = key[2]
            for c in labels:
                p = lp[c]
                if c == last:
                    entry[1] = _logaddexp(entry[1], pnb + p)     # repeat collapses into key
                    score = pb + p                                # a blank separated the repeat
                else:
                    score = total + p
                for target, closed, opens in self._successors(key, c):
                    if target not in self.info:
                        self._add(key, target, closed, opens)
                    ext = nxt[target]
                    ext[1] = _logaddexp(ext[1], score)
        bonus = self.rank_bonus
        kept = heapq.nlargest(beam, nxt.items(), key=lambda kv: _logaddexp(*kv[1]) + bonus[kv[0]])
        self.beams = {key: tuple(scores) for key, scores in kept}

    def _final(self, key) -> tuple[float, tuple]:
        """(score, words) of the hypothesis once its open word has closed."""
        words, node, _ = key
        acoustic = _logaddexp(*self.beams[key])
        history, committed = self.info[key][:2]
        endings = [((history, committed), words)] if node == 0 else \
            [(self._close(history, committed, w), words + (w,)) for w in self.words_at[node]]
        best = (_NEG_INF, words)
        for (h, c), ws in endings:
            end = self.weight * self.word_lm.end_logprob(h) if self.word_lm is not None else 0.0
            if acoustic + c + end > best[0]:
                best = (acoustic + c + end, ws)
        return best

    def _best(self) -> Hypothesis:
        scored = {key: self._final(key) for key in self.beams}
        key = max(scored, key=lambda k: scored[k][0])
        _, _, labels, ranges, open_start = self.info[key]
        if scored[key][0] == _NEG_INF:
            # every surviving hypothesis ends inside a word: keep its complete words
            key = max(self.beams, key=lambda k: _logaddexp(*self.beams[k]) + self.rank_bonus[k])
            _, _, labels, ranges, open_start = self.info[key]
            return Hypothesis(list(key[0]), list(labels[:open_start]), list(ranges))
        words = list(scored[key][1])
        if len(words) > len(ranges):
            ranges += ((open_start, len(labels)),)
        return Hypothesis(words, list(labels), list(ranges))


def forced_align(log_probs: np.ndarray, targets) -> list[tuple[int, int]] | None:
    """Viterbi CTC alignment of `targets` to the frames: (first, last + 1) frame per label.

    Returns None when the labels cannot fit in the frames (too short for the repeats).
    log_probs: (T, V); targets: label ids without blanks.
    """
    lp = np.asarray(log_probs, dtype=np.float64)
    T, L = lp.shape[0], len(targets)
    if L == 0:
        return []
    states = np.zeros(2 * L + 1, dtype=np.int64)          # blank, y1, blank, y2, ..., blank
    states[1::2] = targets
    S = len(states)
    # A label state may skip the blank before it unless it repeats the label two states back.
    can_skip = np.zeros(S, dtype=bool)
    can_skip[3::2] = np.asarray(targets[1:]) != np.asarray(targets[:-1])
    alpha = np.full(S, _NEG_INF)
    alpha[0] = lp[0, states[0]]
    alpha[1] = lp[0, states[1]]
    back = np.zeros((T, S), dtype=np.int8)                # 0: stay, 1: from s-1, 2: from s-2
    for t in range(1, T):
        stay = alpha
        step = np.concatenate(([_NEG_INF], alpha[:-1]))
        skip = np.where(can_skip, np.concatenate(([_NEG_INF, _NEG_INF], alpha[:-2])), _NEG_INF)
        choices = np.stack([stay, step, skip])             # (3, S)
        back[t] = choices.argmax(0)
        alpha = choices.max(0) + lp[t, states]
    end = S - 1 if S == 1 or alpha[S - 1] >= alpha[S - 2] else S - 2
    if not np.isfinite(alpha[end]):
        return None
    path = np.empty(T, dtype=np.int64)
    s = end
    for t in range(T - 1, -1, -1):
        path[t] = s
        s -= int(back[t, s])   # a Python int: numpy would keep int8 and overflow past 127
    spans = []
    for label_index in range(L):
        frames = np.nonzero(path == 2 * label_index + 1)[0]
        spans.append((int(frames[0]), int(frames[-1]) + 1))
    return spans


def word_times(hyp: Hypothesis, spans, frame_seconds: float) -> list[dict]:
    """[{"word", "start", "end"}] in seconds: each word runs from the first frame of its first
    label to the end of its last. spans: (first, end) frames of each label of `hyp.labels`."""
    return [{"word": word, "start": round(spans[first][0] * frame_seconds, 3),
             "end": round(spans[last - 1][1] * frame_seconds, 3)}
            for word, (first, last) in zip(hyp.words, hyp.ranges)]
