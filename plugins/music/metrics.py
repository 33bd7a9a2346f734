"""Does a generated piece sound like the training set? Pitch-class statistics of notes, and
the harmony of piano-roll frames (are the notes that sound together a chord?).

Notes are `(pitch, start_s, end_s, ...)` tuples, as the decoders and `read_midi` give them;
piano rolls are (frames, 88) 0/1 arrays, key 0 = A0 (MIDI 21).
"""

from __future__ import annotations

import numpy as np

__all__ = ["pitch_class_histogram", "scale_fit", "in_key", "pc_distance", "notes_per_second",
           "MAJOR_SCALE", "CHORDS", "frame_pitch_classes", "chord_fraction", "pcset_distribution",
           "distribution_distance"]

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


#: Chords, as pitch-class intervals above the root: the four triads (major, minor, diminished,
#: augmented) and the five common seventh chords (dominant, major, minor, half-diminished,
#: diminished).
CHORDS = {"major": (0, 4, 7), "minor": (0, 3, 7), "diminished": (0, 3, 6), "augmented": (0, 4, 8),
          "dominant 7th": (0, 4, 7, 10), "major 7th": (0, 4, 7, 11), "minor 7th": (0, 3, 7, 10),
          "half-diminished 7th": (0, 3, 6, 10), "diminished 7th": (0, 3, 6, 9)}


def _chord_masks() -> frozenset:
    """Every pitch-class set (12-bit mask) that lies inside some chord of CHORDS in some key."""
    masks = set()
    for intervals in CHORDS.values():
        for root in range(12):
            chord = sum(1 << ((root + i) % 12) for i in intervals)
            sub = chord
            while sub:                       # every non-empty subset of the chord's mask
                masks.add(sub)
                sub = (sub - 1) & chord
    return frozenset(masks)


CHORD_MASKS = _chord_masks()


def frame_pitch_classes(roll, lowest: int = 21) -> np.ndarray:
    """(F,) 12-bit masks: the pitch classes sounding in each frame of a piano roll (F, keys)
    whose first key is MIDI pitch `lowest` (21, A0, for 88 keys)."""
    roll = np.asarray(roll).astype(bool)
    bits = 1 << ((np.arange(roll.shape[1]) + lowest) % 12)
    return np.bitwise_or.reduce(np.where(roll, bits, 0), axis=1)


def chord_fraction(rolls, min_classes: int = 3) -> float:
    """Share of the frames with at least `min_classes` pitch classes sounding whose pitch
    classes are a common triad or seventh chord, or part of one (C-E-G, E-G-B-D, C-E-B yes;
    C-C#-D, C-D-E no). Every two-class set is part of some chord (a semitone is the 7th and
    root of a major 7th), hence 3. NaN when no frame has that many."""
    masks = np.concatenate([frame_pitch_classes(r) for r in rolls]) if len(rolls) else np.zeros(0, int)
    counted = [int(m) for m in masks if bin(int(m)).count("1") >= min_classes]
    if not counted:
        return float("nan")
    return sum(m in CHORD_MASKS for m in counted) / len(counted)


def pcset_distribution(rolls) -> dict:
    """{12-bit pitch-class set: share of the frames} over all frames of the rolls (silent
    frames are the set 0)."""
    masks = np.concatenate([frame_pitch_classes(r) for r in rolls])
    values, counts = np.unique(masks, return_counts=True)
    return {int(v): float(c) / len(masks) for v, c in zip(values, counts)}


def distribution_distance(a: dict, b: dict) -> float:
    """Total-variation distance between two distributions given as {outcome: probability}."""
    return 0.5 * float(sum(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in set(a) | set(b)))
