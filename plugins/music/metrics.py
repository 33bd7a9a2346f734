"""Does a generated piece sound like the training set? Pitch-class statistics of notes.

Notes are `(pitch, start_s, end_s, ...)` tuples, as the decoders and `read_midi` give them.
"""

from __future__ import annotations

import numpy as np

__all__ = ["pitch_class_histogram", "scale_fit", "in_key", "pc_distance", "notes_per_second",
           "MAJOR_SCALE"]

#: The pitch classes of C major (and of A minor, its relative minor), C = 0.
MAJOR_SCALE = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], dtype=float)


def pitch_class_histogram(notes, by: str = "duration") -> np.ndarray:
    """(12,) share of the notes on each pitch class (C = 0), weighted by sounding time
    (`by="duration"`) or counted once per note (`by="count"`). All zeros for no notes."""
    pc = np.zeros(12)
    for n in notes:
        pc[int(n[0]) % 12] += (n[2] - n[1]) if by == "duration" else 1.0
    total = pc.sum()
    return pc / total if total > 0 else pc


def scale_fit(pc_hist) -> float:
    """Share of a histogram on the notes of its best-fitting diatonic scale (any of the 12 major
    keys; their relative minors use the same notes): 1 for a piece that stays in one key, 7/12
    for pitches spread evenly over the 12 classes."""
    return float(_key_scores(pc_hist).max())


def _key_scores(pc_hist) -> np.ndarray:
    """(12,) share of the histogram on the major scale of each tonic C, C#, ..., B."""
    hist = np.asarray(pc_hist, dtype=float)
    return np.array([np.roll(MAJOR_SCALE, k) @ hist for k in range(12)])


def pc_distance(a, b) -> float:
    """Total-variation distance between two pitch-class histograms: 0 same, 1 disjoint."""
    return 0.5 * float(np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)).sum())


def notes_per_second(notes) -> float:
    """Notes per second from the first onset to the last release (0 for no notes)."""
    if not notes:
        return 0.0
    length = max(n[2] for n in notes) - min(n[1] for n in notes)
    return len(notes) / length if length > 0 else 0.0


def in_key(pc_hist) -> np.ndarray:
    """The histogram rotated so that its best-fitting major scale is C major: pieces in
    different keys become comparable (their mean is the corpus's profile of scale degrees)."""
    best = int(np.argmax(_key_scores(pc_hist)))  # the first of equal keys, as before
    return np.roll(np.asarray(pc_hist, dtype=float), -best)
