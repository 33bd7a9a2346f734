"""The closed word list of a task and the trie of its pronunciations (the lexicon search
walks it)."""

from __future__ import annotations

from collections import defaultdict

__all__ = ["Lexicon"]


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
