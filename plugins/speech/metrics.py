"""Word and character error rates: Levenshtein distance over words / characters.

WER = (substitutions + deletions + insertions) / reference words, summed over a corpus (not an
average of per-utterance rates, which would over-weight short utterances).
"""

from __future__ import annotations

from typing import Sequence

__all__ = ["edit_distance", "ErrorRate", "word_errors", "char_errors"]


def edit_distance(ref: Sequence, hyp: Sequence) -> int:
    """Minimum number of substitutions, deletions and insertions turning `ref` into `hyp`."""
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1,            # deletion of r
                               current[j - 1] + 1,         # insertion of h
                               previous[j - 1] + (r != h)))  # substitution (or match)
        previous = current
    return previous[-1]


class ErrorRate:
    """Accumulates errors and reference lengths over a corpus."""

    def __init__(self):
        self.errors = 0
        self.total = 0

    def add(self, ref: Sequence, hyp: Sequence) -> None:
        self.errors += edit_distance(ref, hyp)
        self.total += len(ref)

    @property
    def rate(self) -> float:
        if self.total == 0:
            return 0.0 if self.errors == 0 else float("inf")
        return self.errors / self.total


def word_errors(ref: str, hyp: str) -> int:
    return edit_distance(ref.split(), hyp.split())


def char_errors(ref: str, hyp: str) -> int:
    """Character edit distance, spaces included (words joined by a single space)."""
    return edit_distance(" ".join(ref.split()), " ".join(hyp.split()))
