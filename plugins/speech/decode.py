"""CTC decoding: greedy, prefix beam search with an optional character n-gram LM,
lexicon-constrained prefix beam search with a word n-gram LM, and forced alignment for word
times. Pure numpy on (T, V) log-probability matrices; blank is label 0.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict

import numpy as np
from rnnsuite.plugins.speech.text import BLANK

__all__ = ["greedy_decode", "prefix_beam_search", "CharNgramLM", "Lexicon", "WordNgramLM",
           "lexicon_beam_search", "forced_align", "word_times"]

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
    """The closed word list of a task, with counts, and its character trie.

    Trie nodes are integers: `children[node]` maps a character to the next node and
    `word_at[node]` is the word that ends there (or None). Node 0 is the root (no characters).
    """

    def __init__(self, counts: dict):
        self.counts = {w: int(c) for w, c in counts.items() if w and " " not in w}
        self.children: list[dict] = [{}]
        self.word_at: list = [None]
        for word in sorted(self.counts):
            node = 0
            for ch in word:
                nxt = self.children[node].get(ch)
                if nxt is None:
                    nxt = len(self.children)
                    self.children[node][ch] = nxt
                    self.children.append({})
                    self.word_at.append(None)
                node = nxt
            self.word_at[node] = word
        # Words below each node, for the LM look-ahead of a partial word.
        self.lookahead_cache: dict = {}             # word LM -> {(history, node): log mass}
        self.words_below: list[list[str]] = [[] for _ in self.children]
        for word in self.counts:
            node = 0
            self.words_below[0].append(word)
            for ch in word:
                node = self.children[node][ch]
                self.words_below[node].append(word)

    @classmethod
    def from_texts(cls, texts) -> "Lexicon":
        counts: dict = defaultdict(int)
        for text in texts:
            for word in text.split():
                counts[word] += 1
        return cls(dict(counts))

    def state_dict(self) -> dict:
        return {"counts": dict(sorted(self.counts.items()))}

    @classmethod
    def from_state(cls, state: dict) -> "Lexicon":
        return cls(state["counts"])

    def __len__(self) -> int:
        return len(self.counts)

    def __contains__(self, word: str) -> bool:
        return word in self.counts


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


def lexicon_beam_search(log_probs: np.ndarray, chars, lexicon: Lexicon,
                        word_lm: WordNgramLM | None = None, beam: int = 8,
                        word_weight: float = 1.0, word_bonus: float = 0.0,
                        char_lm: CharNgramLM | None = None, char_weight: float = 0.0,
                        char_bonus: float = 0.0, implicit_space: float = _NEG_INF,
                        labels_per_frame: int = 0, prune: float = math.log(1e-4)) -> list[int]:
    """CTC prefix beam search whose prefixes spell words of `lexicon`, with a word LM.

    A prefix is extended by a character only if the word it is spelling stays a prefix of a
    lexicon word (a walk down the character trie), and by a space only after a complete word.
    A space where no word is open (at the start, or after a space) leaves the text as it is, so
    its probability is added to the same prefix. Scores per prefix:

        acoustic (CTC, pb/pnb as in `prefix_beam_search`)
        + word_weight * (sum of log P(word | history) over completed words
                         + log sum of P(w | history) over lexicon words w that start with the
                           open partial word: the LM look-ahead, exact once the word closes)
        + word_bonus per word started
        + char_weight * log P(char | text) + char_bonus per character (optional char LM)

    At the end only prefixes whose last word is complete count; the word LM adds the end of
    sentence. Without a word LM (`word_lm=None`) only the trie constrains the search.

    Args: log_probs (T, V) log-softmax outputs; chars: label id -> character (index 0 unused);
    labels_per_frame: labels tried per frame (0: `beam`). Returns the best label sequence.
    """
    lp_all = np.asarray(log_probs, dtype=np.float64)
    space = chars.index(" ") if " " in chars else -1
    char_of = list(chars)
    children, word_at, words_below = lexicon.children, lexicon.word_at, lexicon.words_below
    weight = word_weight if word_lm is not None else 0.0
    # Kept on the lexicon: the same histories and nodes come back in every utterance.
    lookahead_cache = lexicon.lookahead_cache.setdefault(word_lm, {})

    def lookahead(history, node) -> float:
        # log of the LM mass of the words below `node` after `history`
        key = (history, node)
        value = lookahead_cache.get(key)
        if value is None:
            if word_lm is None:
                value = 0.0
            else:
                mass = sum(word_lm.prob(history, w) for w in words_below[node])
                value = math.log(mass) if mass > 0 else _NEG_INF
            lookahead_cache[key] = value
        return value

    start = word_lm.start() if word_lm is not None else ()
    # prefix -> (trie node, history of completed words, committed LM score, text)
    info: dict = {(): (0, start, 0.0, "")}
    bonus: dict = {(): 0.0}                        # prefix -> LM score used for ranking
    beams: dict = {(): (0.0, _NEG_INF)}            # prefix -> (log pb, log pnb)

    label_of = {ch: i for i, ch in enumerate(char_of) if i != BLANK}
    # Per trie node, the labels that may follow: its children, and a space after a whole word.
    allowed_labels = [frozenset({label_of[ch] for ch in children[node] if ch in label_of}
                                | ({space} if word_at[node] is not None else set()))
                      for node in range(len(children))]

    def extend(prefix, added):
        """Info and ranking score of prefix + added (labels the lexicon allows)."""
        state = info[prefix]
        for c in added[:-1]:                        # an implied space: close the word first
            state, _ = step(state, c)
            state = (state[0], state[1], state[2] + implicit_space, state[3])
        return step(state, added[-1])

    def step(state, c):
        node, history, committed, text = state
        ch = char_of[c]
        if c == space:
            word = word_at[node]
            if word is None:
                return None
            if word_lm is not None:
                committed += weight * word_lm.logprob(history, word)
                history = history[1:] + (word,) if history else ()
            new = (0, history, committed, text + ch)
            score = committed
        else:
            nxt = children[node].get(ch)
            if nxt is None:
                return None
            if node == 0:
                committed += word_bonus
            new = (nxt, history, committed, text + ch)
            score = committed + weight * lookahead(history, nxt)
        if char_lm is not None:
            char_score = char_weight * char_lm.logprob(text, ch) + char_bonus
            new = (new[0], new[1], new[2] + char_score, new[3])
            score += char_score
        return new, score

    for lp, labels in _frames(lp_all, labels_per_frame or beam, prune):
        if labels is None:
            beams = _close(beams, lp[BLANK])
            continue
        nxt: dict = defaultdict(lambda: [_NEG_INF, _NEG_INF])
        for prefix, (pb, pnb) in beams.items():
            total = _logaddexp(pb, pnb)
            entry = nxt[prefix]
            entry[0] = _logaddexp(entry[0], total + lp[BLANK])
            last = prefix[-1] if prefix else None
            node = info[prefix][0]
            open_word = node != 0
            allowed = allowed_labels[node]
            implied = implicit_space > _NEG_INF and open_word and word_at[node] is not None
            for c in labels:
                p = lp[c]
                if c == space and not open_word:
                    entry[1] = _logaddexp(entry[1], total + p)   # no word to close: same text
                    continue
                if c == last:
                    entry[1] = _logaddexp(entry[1], pnb + p)     # repeat collapses into prefix
                    score = pb + p                                # a blank separated the repeat
                else:
                    score = total + p
                # Only labels that keep spelling lexicon words (a trie edge, or a space after a
                # complete word) extend the prefix; checked before any tuple is built.
                targets = [prefix + (c,)] if c in allowed else []
                if implied and c != space and c in allowed_labels[0]:
                    targets.append(prefix + (space, c))
                for extended in targets:
                    if extended not in info:
                        info[extended], bonus[extended] = extend(prefix, extended[len(prefix):])
                    ext_entry = nxt[extended]
                    ext_entry[1] = _logaddexp(ext_entry[1], score)
        kept = heapq.nlargest(beam, nxt.items(), key=lambda kv: _logaddexp(*kv[1]) + bonus[kv[0]])
        beams = {prefix: tuple(scores) for prefix, scores in kept}

    def final(prefix):
        node, history, committed, _ = info[prefix]
        score = _logaddexp(*beams[prefix]) + committed
        if node != 0:
            word = word_at[node]
            if word is None:
                return _NEG_INF                    # ends inside a word: not a lexicon text
            if word_lm is not None:
                score += weight * word_lm.logprob(history, word)
                history = history[1:] + (word,) if history else ()
        if word_lm is not None:
            score += weight * word_lm.end_logprob(history)
        return score

    scored = {prefix: final(prefix) for prefix in beams}
    best = max(scored, key=scored.get)
    if scored[best] == _NEG_INF:
        # every surviving prefix ends inside a word: drop the unfinished word
        best = max(beams, key=lambda b: _logaddexp(*beams[b]) + bonus[b])
        text = info[best][3]
        keep = len(text.rsplit(" ", 1)[0]) + 1 if " " in text else 0
        return list(best[:keep])
    return list(best)


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
