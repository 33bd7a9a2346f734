"""The `events` representation (Performance-RNN style): a piece as a stream of tokens.

    id range                      token          meaning
    [0, 128)                      NOTE_ON p      key p goes down (at the current velocity)
    [128, 256)                    NOTE_OFF p     key p goes up
    [256, 356)                    TIME_SHIFT k   time moves on by k x 10 ms, k = 1..100
    [356, 388)                    VELOCITY b     following NOTE_ONs have velocity bin b (of 32)
    388                           START          a piece begins (first input of every piece)
    [389, 517)  (drums="keep")    DRUM p         drum hit p (channel 10), no duration

Times are quantised to the 10 ms grid, velocities to 32 bins of 4, so a round trip
MIDI -> events -> MIDI keeps every note's pitch, onset and offset within 10 ms (5 ms of
rounding) and its velocity within its bin.
"""

from __future__ import annotations

import numpy as np

__all__ = ["EventVocab", "encode_events", "decode_events", "transpose_events",
           "stretch_events", "keys_down", "velocity_bin", "bin_velocity"]

STEP = 0.01  # seconds per TIME_SHIFT unit
MAX_SHIFT = 100  # longest single TIME_SHIFT, in steps (1 s)
VELOCITY_BINS = 32
DRUM_LENGTH = 0.05  # seconds a decoded drum hit is held


class EventVocab:
    """Token ids of the events representation (see the module docstring)."""

    def __init__(self, drums: bool = False):
        self.note_on = 0
        self.note_off = 128
        self.time_shift = 256  # TIME_SHIFT k is time_shift + k - 1
        self.velocity = 356
        self.start = 388
        self.drums = bool(drums)
        self.drum = 389 if drums else None
        self.size = 389 + (128 if drums else 0)

    def __len__(self) -> int:
        return self.size

    def describe(self, token: int) -> str:
        """A readable name such as `NOTE_ON 60` or `TIME_SHIFT 250ms`."""
        t = int(token)
        if t < 128:
            return f"NOTE_ON {t}"
        if t < 256:
            return f"NOTE_OFF {t - 128}"
        if t < 356:
            return f"TIME_SHIFT {(t - 255) * 10}ms"
        if t < 388:
            return f"VELOCITY {t - 356}"
        if t == 388:
            return "START"
        return f"DRUM {t - 389}"


def velocity_bin(velocity) -> np.ndarray:
    """MIDI velocity 0..127 -> bin 0..31 (bins of 4)."""
    return np.clip(np.asarray(velocity) * VELOCITY_BINS // 128, 0, VELOCITY_BINS - 1)


def bin_velocity(b) -> np.ndarray:
    """Bin -> a velocity inside it (its upper middle; never 0, which would mean NOTE_OFF)."""
    return np.asarray(b) * (128 // VELOCITY_BINS) + 2


def encode_events(piece, vocab: EventVocab, start_token: bool = True) -> np.ndarray:
    """Piece -> int16 token array. Drum notes become DRUM tokens or are dropped (no drum vocab)."""
    step_on = np.round(piece.start / STEP).astype(np.int64)
    step_off = np.round(piece.end / STEP).astype(np.int64)
    step_off = np.maximum(step_off, step_on + 1)  # a note shorter than 5 ms still lasts a step
    bins = velocity_bin(piece.velocity)
    # Timeline entries (step, order, pitch, kind): at one step, offs come before velocity+ons,
    # so a re-struck key reads OFF p, ON p.
    items = []
    for k in range(len(piece.pitch)):
        p = int(piece.pitch[k])
        if piece.drum[k]:
            if vocab.drums:
                items.append((int(step_on[k]), 1, p, 2, 0))
            continue
        items.append((int(step_off[k]), 0, p, 0, 0))
        items.append((int(step_on[k]), 1, p, 1, int(bins[k])))
    items.sort()
    tokens = [vocab.start] if start_token else []
    now = 0
    current_bin = -1
    # Notes of one pitch on several channels can overlap; the stream has one key per pitch, so
    # count how many notes hold it: a new onset while it is down re-strikes it (OFF, ON), and it
    # goes up when the last one ends.
    down: dict[int, int] = {}
    onset_step: dict[int, int] = {}
    for step, _order, p, kind, b in items:
        if kind == 0:
            count = down.get(p, 0)
            if count == 0:
                continue
            down[p] = count - 1
            if count > 1:
                continue
        elif kind == 1 and down.get(p, 0) and onset_step[p] == step:
            down[p] += 1  # a duplicate onset at the same step
            continue
        if step > now:
            now = _emit_shift(tokens, vocab, step - now, now)
        if kind == 0:
            tokens.append(vocab.note_off + p)
        elif kind == 2:
            tokens.append(vocab.drum + p)
        else:
            if b != current_bin:
                tokens.append(vocab.velocity + b)
                current_bin = b
            if down.get(p, 0):
                tokens.append(vocab.note_off + p)
            tokens.append(vocab.note_on + p)
            down[p] = down.get(p, 0) + 1
            onset_step[p] = step
    return np.array(tokens, dtype=np.int16)


def _emit_shift(tokens, vocab, steps, now):
    now += steps
    while steps > 0:
        k = min(steps, MAX_SHIFT)
        tokens.append(vocab.time_shift + k - 1)
        steps -= k
    return now


def decode_events(tokens, vocab: EventVocab):
    """Tokens -> notes `(pitch, start_s, end_s, velocity, drum)`, every note paired.

    A NOTE_ON of a key that is down ends the sounding note first; a NOTE_OFF of a key that is up
    is dropped; keys still down at the end are released there (at least one step after onset).
    """
    notes = []
    now = 0  # steps
    velocity = int(bin_velocity(VELOCITY_BINS // 2))
    sounding = {}  # pitch -> (onset step, velocity)
    for t in np.asarray(tokens, dtype=np.int64).tolist():
        if t < 128:
            if t in sounding:
                on, vel = sounding.pop(t)
                if now > on:
                    notes.append((t, on * STEP, now * STEP, vel, False))
            sounding[t] = (now, velocity)
        elif t < 256:
            p = t - 128
            if p in sounding:
                on, vel = sounding.pop(p)
                if now > on:
                    notes.append((p, on * STEP, now * STEP, vel, False))
        elif t < 356:
            now += t - 255
        elif t < 388:
            velocity = int(bin_velocity(t - 356))
        elif vocab.drums and t >= vocab.drum:
            notes.append((t - vocab.drum, now * STEP, now * STEP + DRUM_LENGTH, velocity, True))
    for p, (on, vel) in sounding.items():
        notes.append((p, on * STEP, max(now, on + 1) * STEP, vel, False))
    notes.sort(key=lambda n: (n[1], n[0]))
    return notes


def transpose_events(tokens: np.ndarray, shift: int) -> np.ndarray:
    """Move every NOTE_ON/NOTE_OFF by `shift` semitones (the caller keeps notes in 0..127)."""
    if shift == 0:
        return tokens
    out = tokens.astype(np.int16, copy=True)
    notes = out < 256
    out[notes] += shift
    return out


def stretch_events(tokens: np.ndarray, factor: float, vocab: EventVocab) -> np.ndarray:
    """Scale every gap between events by `factor` (tempo stretch), re-quantised to 10 ms."""
    if factor == 1.0:
        return tokens
    out = []
    t_in = 0  # steps, exact input time
    t_out = 0  # steps, emitted output time
    for t in tokens.tolist():
        if vocab.time_shift <= t < vocab.velocity:
            t_in += t - vocab.time_shift + 1
            continue
        target = int(round(t_in * factor))
        if target > t_out:
            t_out = _emit_shift(out, vocab, target - t_out, t_out)
        out.append(t)
    return np.array(out, dtype=np.int16)


def keys_down(tokens: np.ndarray, vocab: EventVocab) -> np.ndarray:
    """(N,) tokens -> (N, 128) bool: the keys that are down after each token.

    The encoder (and the sampler) write NOTE_ON only for a key that is up and NOTE_OFF only for
    one that is down, so a key's state is the running sum of its ONs minus its OFFs."""
    t = np.asarray(tokens, dtype=np.int64)
    delta = np.zeros((len(t), 128), dtype=np.int16)
    on = np.flatnonzero((t >= vocab.note_on) & (t < vocab.note_on + 128))
    off = np.flatnonzero((t >= vocab.note_off) & (t < vocab.note_off + 128))
    delta[on, t[on] - vocab.note_on] = 1
    delta[off, t[off] - vocab.note_off] = -1
    return np.cumsum(delta, axis=0) > 0
