"""CTC decoding: greedy, prefix beam search with an optional character n-gram LM, and forced
alignment for word times. Pure numpy on (T, V) log-probability matrices; blank is label 0.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
from rnnsuite.plugins.speech.text import BLANK

__all__ = ["greedy_decode", "prefix_beam_search", "CharNgramLM", "forced_align", "word_times"]

_NEG_INF = -math.inf
_BOS, _EOS = "\x02", "\x03"  # sentence boundaries inside the LM; never in a transcript


def greedy_decode(log_probs: np.ndarray) -> list[int]:
    """Best label per frame, repeats merged, blanks removed. log_probs: (T, V)."""
    best = np.asarray(log_probs).argmax(-1)                      # (T,)
    keep = (best != BLANK) & np.concatenate(([True], best[1:] != best[:-1]))
    return best[keep].tolist()


def _logaddexp(a: float, b: float) -> float:
    if a == _NEG_INF:
        return b
    if b == _NEG_INF:
        return a
    if a > b:
        return a + math.log1p(math.exp(b - a))
    return b + math.log1p(math.exp(a - b))


class CharNgramLM:
    """Character n-gram language model with interpolated Witten-Bell smoothing.

    Estimated from normalised transcripts; the counts are plain dicts so that they can live in
    RUN/config.json. `logprob(context, char)` uses the last `order - 1` characters of `context`.
    """

    def __init__(self, order: int, counts: dict, alphabet):
        self.order = order
        self.counts = counts                     # context string -> {next char: count}
        self.alphabet = list(alphabet) + [_EOS]
        self._uniform = 1.0 / len(self.alphabet)
        self._cache: dict = {}
        self._totals = {h: (sum(c.values()), len(c)) for h, c in counts.items()}

    @classmethod
    def estimate(cls, texts, order: int = 5) -> "CharNgramLM":
        counts: dict = defaultdict(lambda: defaultdict(int))
        for text in texts:
            s = _BOS * (order - 1) + text + _EOS
            for i in range(order - 1, len(s)):
                for k in range(order):
                    counts[s[i - k:i]][s[i]] += 1
        alphabet = sorted({c for t in texts for c in t})
        return cls(order, {h: dict(c) for h, c in counts.items()}, alphabet)

    def state_dict(self) -> dict:
        return {"order": self.order, "alphabet": self.alphabet[:-1], "counts": self.counts}

    @classmethod
    def from_state(cls, state: dict) -> "CharNgramLM":
        return cls(state["order"], state["counts"], state["alphabet"])

    def prob(self, context: str, char: str) -> float:
        padded = _BOS * (self.order - 1) + context
        history = padded[len(padded) - (self.order - 1):] if self.order > 1 else ""
        return self._prob(history, char)

    def _prob(self, history: str, char: str) -> float:
        key = (history, char)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        lower = self._uniform if history == "" else self._prob(history[1:], char)
        seen = self.counts.get(history)
        if seen is None:
            p = lower
        else:
            total, types = self._totals[history]
            p = (seen.get(char, 0) + types * lower) / (total + types)
        self._cache[key] = p
        return p

    def logprob(self, context: str, char: str) -> float:
        return math.log(self.prob(context, char))

    def end_logprob(self, context: str) -> float:
        return self.logprob(context, _EOS)


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
    # Per frame, only the `beam` likeliest labels scoring above `prune` (and the best) extend
    # the prefixes: the rest cannot reach the beam in practice and cost most of the time.
    top = min(beam, lp_all.shape[1])
    order = np.argsort(-lp_all, axis=1)[:, :top].tolist()           # (T, top)
    blank_sure = math.log(0.999)
    for lp, ranked in zip(lp_all.tolist(), order):
        if lp[BLANK] >= blank_sure:
            # A frame that is blank with 99.9% certainty only closes the prefixes: skipping the
            # label extensions here changes no ranking measurably and saves most of the work.
            beams = {prefix: (_logaddexp(pb, pnb) + lp[BLANK], _NEG_INF)
                     for prefix, (pb, pnb) in beams.items()}
            continue
        labels = [c for i, c in enumerate(ranked) if c != BLANK and (i == 0 or lp[c] >= prune)]
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


def word_times(text: str, spans, frame_seconds: float) -> list[dict]:
    """Group character spans into words: [{"word", "start", "end"}] in seconds.

    `text` is the decoded string and `spans` the (first, end) frames of each of its characters.
    """
    words, current, start, end = [], "", None, None
    for ch, (first, last) in zip(text, spans):
        if ch == " ":
            if current:
                words.append((current, start, end))
            current, start = "", None
            continue
        if start is None:
            start = first
        current += ch
        end = last
    if current:
        words.append((current, start, end))
    return [{"word": w, "start": round(s * frame_seconds, 3), "end": round(e * frame_seconds, 3)}
            for w, s, e in words]
