"""n-gram language models for CTC decoding: characters (prefix beam search) and words
(interpolated Kneser-Ney, the lexicon search). Plain dicts of counts, saved in RUN/config.json."""

from __future__ import annotations

import math
from collections import defaultdict

__all__ = ["CharNgramLM", "WordNgramLM", "logaddexp", "NEG_INF"]

NEG_INF = -math.inf
_BOS, _EOS = "\x02", "\x03"  # sentence boundaries inside the LM; never in a transcript


def logaddexp(a: float, b: float) -> float:
    if a == NEG_INF:
        return b
    if b == NEG_INF:
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



_BOS_WORD, _EOS_WORD = "<s>", "</s>"


class WordNgramLM:
    """Word n-gram language model with interpolated Kneser-Ney smoothing (one discount D).

    Highest order: P(w | h) = max(c(h w) - D, 0) / c(h) + D * N1+(h .) / c(h) * P(w | h').
    Lower orders use the same formula on continuation counts N1+(. h w) (how many different
    words precede h w), and the unigram level interpolates with the uniform distribution over
    the vocabulary plus the end of sentence, so every distribution sums to 1 over those.
    Only the n-gram counts of the highest order are stored (plain dicts, in RUN/config.json);
    the lower orders are derived from them.
    """

    def __init__(self, order: int, counts: dict, vocabulary, discount: float = 0.75):
        self.order = order
        self.discount = discount
        self.counts = counts                        # "w1 w2" (context) -> {word: count}
        self.vocabulary = sorted(vocabulary) + [_EOS_WORD]
        self._uniform = 1.0 / len(self.vocabulary)
        self._known = set(self.vocabulary)
        # level k holds contexts of k words: context tuple -> ({word: count}, total, types)
        self._levels: list[dict] = [dict() for _ in range(order)]
        top: dict = {}
        for context, following in counts.items():
            key = tuple(context.split()) if context else ()
            top[key] = dict(following)
        continuation = top
        for k in range(order - 1, -1, -1):
            self._levels[k] = {h: (f, sum(f.values()), len(f)) for h, f in continuation.items()}
            if k == 0:
                break
            lower: dict = defaultdict(lambda: defaultdict(int))
            for h, following in continuation.items():
                for w in following:
                    lower[h[1:]][w] += 1         # one more distinct word before (h[1:], w)
            continuation = {h: dict(f) for h, f in lower.items()}
        self._cache: dict = {}

    @classmethod
    def estimate(cls, texts, order: int = 3, discount: float = 0.75) -> "WordNgramLM":
        counts: dict = defaultdict(lambda: defaultdict(int))
        vocabulary = set()
        for text in texts:
            words = text.split()
            vocabulary.update(words)
            padded = [_BOS_WORD] * (order - 1) + words + [_EOS_WORD]
            for i in range(order - 1, len(padded)):
                counts[" ".join(padded[i - order + 1:i])][padded[i]] += 1
        return cls(order, {h: dict(f) for h, f in counts.items()}, vocabulary, discount)

    def state_dict(self) -> dict:
        return {"order": self.order, "discount": self.discount,
                "vocabulary": self.vocabulary[:-1], "counts": self.counts}

    @classmethod
    def from_state(cls, state: dict) -> "WordNgramLM":
        return cls(state["order"], state["counts"], state["vocabulary"], state["discount"])

    def start(self) -> tuple:
        """The history of a sentence's first word."""
        return (_BOS_WORD,) * (self.order - 1)

    def prob(self, history: tuple, word: str) -> float:
        """P(word | last order-1 words of history); word may be '</s>'."""
        history = tuple(history)[len(history) - (self.order - 1):] if self.order > 1 else ()
        if len(history) < self.order - 1:
            history = (_BOS_WORD,) * (self.order - 1 - len(history)) + history
        return self._prob(history, word)

    def _prob(self, history: tuple, word: str) -> float:
        key = (history, word)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        if history:
            lower = self._prob(history[1:], word)
        else:
            lower = self._uniform if word in self._known else 0.0
        seen = self._levels[len(history)].get(history)
        if seen is None:
            p = lower
        else:
            following, total, types = seen
            p = (max(following.get(word, 0) - self.discount, 0.0)
                 + self.discount * types * lower) / total
        self._cache[key] = p
        return p

    def logprob(self, history: tuple, word: str) -> float:
        p = self.prob(history, word)
        return math.log(p) if p > 0 else NEG_INF

    def end_logprob(self, history: tuple) -> float:
        return self.logprob(history, _EOS_WORD)
