"""The `pianoroll` representation: score time in frames, 88 keys multi-hot.

Frame i covers beats [i/s, (i+1)/s) for s frames per quarter note (`steps_per_beat`, 1 by
default: the quarter-note frames of the published JSB Chorales results). A key is on in frame i
when a note sounds at the frame's start, i.e. `start <= i/s < end` in exact tick arithmetic, so
notes that fall between frame starts (short passing notes) are sampled away, as in the
benchmark data. Score time ignores tempo: a frame is a fraction of a beat, whatever the tempo.

    frames (F, 88) uint8      key k is MIDI pitch 21 + k (A0 .. C8)

Round trip: `roll_notes(roll)` written with `midi_bytes(..., in_ticks=True, end_tick=...)`
reads back through `piece_to_roll` as exactly the same roll (tested on the JSB split).
"""

from __future__ import annotations

import numpy as np

__all__ = ["LOWEST", "KEYS", "piece_to_roll", "roll_notes", "frames_from_pitch_lists",
           "transpose_roll"]

LOWEST = 21  # A0
KEYS = 88


def piece_to_roll(piece, steps_per_beat: int = 1) -> np.ndarray:
    """Piece -> (F, 88) uint8 roll, drums and notes outside the piano range left out."""
    tpb = piece.ticks_per_beat
    s = int(steps_per_beat)
    keep = ~piece.drum & (piece.pitch >= LOWEST) & (piece.pitch < LOWEST + KEYS)
    start = piece.start_tick[keep].astype(np.int64) * s
    end = piece.end_tick[keep].astype(np.int64) * s
    first = -(-start // tpb)  # ceil(start / tpb): first frame whose start the note covers
    stop = -(-end // tpb)  # frames [first, stop) start inside [start, end)
    num_frames = int(-(-(int(piece.end_tick_total) * s) // tpb)) if len(piece) else 0
    if len(stop):
        num_frames = max(num_frames, int(stop.max()))
    roll = np.zeros((num_frames, KEYS), dtype=np.uint8)
    keys = piece.pitch[keep].astype(np.int64) - LOWEST
    for k, a, b in zip(keys.tolist(), first.tolist(), stop.tolist()):
        if b > a:
            roll[a:b, k] = 1
    return roll


def roll_notes(roll: np.ndarray, ticks_per_frame: int, merge: bool = False, velocity: int = 80):
    """Roll -> notes `(pitch, start_tick, end_tick, velocity)`.

    `merge=False`: each sounding key of each frame is its own note (one frame long);
    `merge=True`: a key held over consecutive frames is one long note (nicer to listen to).
    """
    notes = []
    roll = np.asarray(roll).astype(bool)
    num_frames = roll.shape[0]
    for k in range(roll.shape[1]):
        on = roll[:, k]
        if not on.any():
            continue
        if not merge:
            for i in np.flatnonzero(on).tolist():
                notes.append((LOWEST + k, i * ticks_per_frame, (i + 1) * ticks_per_frame, velocity))
            continue
        edges = np.diff(np.concatenate([[0], on.astype(np.int8), [0]]))
        starts = np.flatnonzero(edges == 1)
        stops = np.flatnonzero(edges == -1)
        for a, b in zip(starts.tolist(), stops.tolist()):
            notes.append((LOWEST + k, a * ticks_per_frame, min(b, num_frames) * ticks_per_frame,
                          velocity))
    notes.sort(key=lambda n: (n[1], n[0]))
    return notes


def frames_from_pitch_lists(frames) -> np.ndarray:
    """The benchmark's format (a list of frames, each a list of MIDI pitches) -> (F, 88) roll."""
    roll = np.zeros((len(frames), KEYS), dtype=np.uint8)
    for i, pitches in enumerate(frames):
        for p in pitches:
            roll[i, int(p) - LOWEST] = 1
    return roll


def transpose_roll(roll: np.ndarray, shift: int) -> np.ndarray:
    """Shift a roll by `shift` keys (the caller keeps the notes inside the 88 keys)."""
    if shift == 0:
        return roll
    return np.roll(roll, shift, axis=-1)
