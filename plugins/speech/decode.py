"""CTC decoding: greedy, prefix beam search with an optional character n-gram LM,
lexicon-constrained prefix beam search with a word n-gram LM, and forced alignment for word
times. Pure numpy on (T, V) log-probability matrices; blank is label 0.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from rnnsuite.plugins.speech.text import BLANK

__all__ = ["greedy_decode", "prefix_beam_search", "CharNgramLM", "Lexicon", "WordNgramLM",
           "Hypothesis", "spelled", "lexicon_beam_search", "forced_align", "word_times"]

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


class Lexicon:
    """The closed word list of a task: each word's count, its pronunciations as sequences of the
    recogniser's output units, and the trie of those sequences.

    With character units a word's only pronunciation is its spelling; with phones it has those
    that `pronounce.pronunciations` gives (words without one are left out). Trie nodes are
    integers: `children[node]` maps a unit to the next node, `words_at[node]` holds the words
    whose pronunciation ends there (homophones share a node: "two", "to") and `words_below[node]`
    every word that a path through the node can still become. Node 0 is the root.
    """

    def __init__(self, counts: dict, prons: dict | None = None):
        self.counts = {w: int(c) for w, c in counts.items() if w and " " not in w}
        self.spelled = prons is None
        if prons is None:
            self.prons = {w: [tuple(w)] for w in self.counts}
        else:
            self.prons = {w: [tuple(p) for p in prons[w]] for w in self.counts if prons.get(w)}
        self.children: list[dict] = [{}]
        self.words_at: list[tuple] = [()]
        below: list[set] = [set()]
        for word in sorted(self.prons):
            for pron in self.prons[word]:
                node = 0
                below[0].add(word)
                for unit in pron:
                    nxt = self.children[node].get(unit)
                    if nxt is None:
                        nxt = len(self.children)
                        self.children[node][unit] = nxt
                        self.children.append({})
                        self.words_at.append(())
                        below.append(set())
                    node = nxt
                    below[node].add(word)
                if word not in self.words_at[node]:
                    self.words_at[node] += (word,)
        self.words_below = [tuple(sorted(b)) for b in below]
        self.lookahead_cache: dict = {}             # word LM -> {(history, node): log mass}

    @classmethod
    def from_texts(cls, texts, units: str = "chars") -> "Lexicon":
        """The words of `texts` with their counts; `units` "phones" looks up pronunciations."""
        counts: dict = defaultdict(int)
        for text in texts:
            for word in text.split():
                counts[word] += 1
        if units == "chars":
            return cls(dict(counts))
        from rnnsuite.plugins.speech.pronounce import pronunciations

        return cls(dict(counts), {w: pronunciations(w) for w in counts})

    def state_dict(self) -> dict:
        prons = None if self.spelled else {w: [" ".join(p) for p in ps]
                                           for w, ps in sorted(self.prons.items())}
        return {"counts": dict(sorted(self.counts.items())), "prons": prons}

    @classmethod
    def from_state(cls, state: dict) -> "Lexicon":
        prons = state.get("prons")   # runs saved before phone units: spelled words
        if prons is not None:
            prons = {w: [p.split() for p in ps] for w, ps in prons.items()}
        return cls(state["counts"], prons)

    def __len__(self) -> int:
        return len(self.prons)

    def __contains__(self, word: str) -> bool:
        return word in self.prons


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
        return math.log(p) if p > 0 else _NEG_INF

    def end_logprob(self, history: tuple) -> float:
        return self.logprob(history, _EOS_WORD)


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
    by a word n-gram LM.

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

    Args: log_probs (T, V) log-softmax outputs; units: label id -> unit (index 0 unused);
    labels_per_frame: labels tried per frame (0: `beam`).
    """
    lp_all = np.asarray(log_probs, dtype=np.float64)
    separator = units.index(" ") if " " in units else None
    label_of = {u: i for i, u in enumerate(units) if i != BLANK}
    # the trie over label ids instead of units
    children = [{label_of[u]: n for u, n in kids.items() if u in label_of}
                for kids in lexicon.children]
    words_at, words_below, root = lexicon.words_at, lexicon.words_below, children[0]
    weight = word_weight if word_lm is not None else 0.0
    lookahead_cache = lexicon.lookahead_cache.setdefault(word_lm, {})

    def lookahead(history, node) -> float:
        key = (history, node)
        value = lookahead_cache.get(key)
        if value is None:
            if word_lm is None or node == 0:
                value = 0.0
            else:
                mass = sum(word_lm.prob(history, w) for w in words_below[node])
                value = math.log(mass) if mass > 0 else _NEG_INF
            lookahead_cache[key] = value
        return value

    def close(state, word):
        """(history, committed LM score) after `word` closes."""
        history, committed = state
        if word_lm is not None:
            committed += weight * word_lm.logprob(history, word)
            history = history[1:] + (word,) if history else ()
        return history, committed + word_bonus

    # key (words, node, last label) -> (history, committed score, labels, (start, end) of each
    # closed word's labels, start of the open word's)
    start = ((), 0, BLANK)
    info: dict = {start: (word_lm.start() if word_lm is not None else (), 0.0, (), (), 0)}
    bonus: dict = {start: 0.0}                     # key -> LM score used for ranking
    beams: dict = {start: (0.0, _NEG_INF)}          # key -> (log pb, log pnb)

    def successors(key, c):
        words, node, _ = key
        if c == separator:
            if node == 0:                           # no open word: the text stays as it is
                return [((words, 0, c), None, False)]
            return [((words + (w,), 0, c), w, False) for w in words_at[node]]
        out = []
        child = children[node].get(c)
        if child is not None:
            out.append(((words, child, c), None, node == 0))
        if separator is None and node != 0 and c in root:
            out += [((words + (w,), root[c], c), w, True) for w in words_at[node]]
        return out

    def add(key, target, closed, opens):
        history, committed, labels, ranges, open_start = info[key]
        if closed is not None:
            history, committed = close((history, committed), closed)
            ranges += ((open_start, len(labels)),)
        if opens:
            open_start = len(labels)
        info[target] = (history, committed, labels + (target[2],), ranges, open_start)
        bonus[target] = committed + weight * lookahead(history, target[1])

    for lp, labels in _frames(lp_all, labels_per_frame or beam, prune):
        if labels is None:
            beams = _close(beams, lp[BLANK])
            continue
        nxt: dict = defaultdict(lambda: [_NEG_INF, _NEG_INF])
        for key, (pb, pnb) in beams.items():
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
                for target, closed, opens in successors(key, c):
                    if target not in info:
                        add(key, target, closed, opens)
                    ext = nxt[target]
                    ext[1] = _logaddexp(ext[1], score)
        kept = heapq.nlargest(beam, nxt.items(), key=lambda kv: _logaddexp(*kv[1]) + bonus[kv[0]])
        beams = {key: tuple(scores) for key, scores in kept}

    def final(key) -> tuple[float, tuple]:
        """(score, words) of the hypothesis once its open word has closed."""
        words, node, _ = key
        acoustic = _logaddexp(*beams[key])
        history, committed = info[key][:2]
        endings = [((history, committed), words)] if node == 0 else \
            [(close((history, committed), w), words + (w,)) for w in words_at[node]]
        best = (_NEG_INF, words)
        for (h, c), ws in endings:
            score = acoustic + c + (weight * word_lm.end_logprob(h) if word_lm is not None else 0.0)
            if score > best[0]:
                best = (score, ws)
        return best

    scored = {key: final(key) for key in beams}
    key = max(scored, key=lambda k: scored[k][0])
    _, _, labels, ranges, open_start = info[key]
    if scored[key][0] == _NEG_INF:
        # every surviving hypothesis ends inside a word: keep its complete words
        key = max(beams, key=lambda k: _logaddexp(*beams[k]) + bonus[k])
        _, _, labels, ranges, open_start = info[key]
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
