"""MIDI files <-> `Piece` (a list of notes with times in seconds and in ticks).

Reading follows what a player hears:

- every track and channel; `set_tempo` changes (from any track) map ticks to seconds;
- NOTE_ON with velocity 0 is a NOTE_OFF;
- the sustain pedal (CC64 >= 64) holds released notes until the pedal goes up;
- a note struck again on its track and channel while it still sounds ends the sounding one
  there (one key cannot sound twice), and a NOTE_OFF with nothing sounding is ignored; tracks
  are separate instruments (a unison of two voices on two tracks is two notes);
- notes still on at the end of a track end there;
- drums (channel 10, index 9) are flagged, so that callers keep them apart or drop them.

Writing (`write_midi`) always pairs notes: each NOTE_ON has its NOTE_OFF, no two notes of one
pitch overlap, offs come before ons at the same tick, and tempo and time signature are set.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rnnsuite.core import UserError
from rnnsuite.plugins.music._smf import (
    NOTE_OFF,
    NOTE_ON,
    PEDAL,
    PROGRAM,
    MidiFormatError,
    RawMidi,
    parse_smf,
)

__all__ = ["Piece", "read_midi", "parse_midi_bytes", "write_midi", "midi_bytes", "DRUM_CHANNEL"]

DRUM_CHANNEL = 9  # "channel 10" to musicians


@dataclass
class Piece:
    """The notes of one file, as parallel arrays of length N (sorted by onset, then pitch)."""

    pitch: np.ndarray  # (N,) int16, 0..127
    velocity: np.ndarray  # (N,) int16, 1..127
    start: np.ndarray  # (N,) float64 seconds
    end: np.ndarray  # (N,) float64 seconds, > start
    start_tick: np.ndarray  # (N,) int64, score time for piano rolls
    end_tick: np.ndarray  # (N,) int64
    drum: np.ndarray  # (N,) bool, channel 10
    program: np.ndarray  # (N,) int16, the General MIDI program in force at the onset
    ticks_per_beat: int = 480
    end_time: float = 0.0  # seconds, end of the last track
    end_tick_total: int = 0
    time_signature: tuple = (4, 4)  # the first one in the file
    tempo_bpm: float = 120.0  # the first one in the file
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.pitch)

    @classmethod
    def from_notes(cls, notes, ticks_per_beat=480, tempo_bpm=120.0, time_signature=(4, 4)):
        """Build from `(pitch, start_s, end_s, velocity[, drum])` tuples at a constant tempo."""
        notes = sorted(notes, key=lambda n: (n[1], n[0]))
        arr = np.array([n[:4] for n in notes], dtype=np.float64).reshape(-1, 4)
        drum = np.array([bool(n[4]) if len(n) > 4 else False for n in notes], dtype=bool)
        ticks_per_second = ticks_per_beat * tempo_bpm / 60.0
        start, end = arr[:, 1], arr[:, 2]
        end_time = float(end.max()) if len(notes) else 0.0
        return cls(
            pitch=arr[:, 0].astype(np.int16),
            velocity=arr[:, 3].astype(np.int16),
            start=start,
            end=end,
            start_tick=np.round(start * ticks_per_second).astype(np.int64),
            end_tick=np.round(end * ticks_per_second).astype(np.int64),
            drum=drum,
            program=np.zeros(len(notes), dtype=np.int16),
            ticks_per_beat=ticks_per_beat,
            end_time=end_time,
            end_tick_total=int(round(end_time * ticks_per_second)),
            time_signature=tuple(time_signature),
            tempo_bpm=tempo_bpm,
        )


def read_midi(path, sustain: bool = True) -> Piece:
    """Read a .mid file. A missing or malformed file raises UserError naming it."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except OSError as err:
        raise UserError(f"{path}: cannot read ({err.strerror or err})") from None
    try:
        return parse_midi_bytes(data, sustain=sustain)
    except MidiFormatError as err:
        raise UserError(f"{path}: not a valid MIDI file ({err})") from None


# Longer than this (about 14 hours at 120 bpm) is a damaged or hostile file: a few bytes of
# delta times can claim years, and the encoders would allocate a frame or token for each step.
MAX_BEATS = 100_000
# The median note of real music lasts a beat or two; a median of more than this many beats means
# the header's ticks per beat is not the one the events were written with.
MAX_MEDIAN_NOTE_BEATS = 64


def parse_midi_bytes(data: bytes, sustain: bool = True) -> Piece:
    """Parse MIDI bytes into a Piece; raise MidiFormatError on malformed data."""
    raw = parse_smf(data)
    # checked before pairing too: the latest event bounds every note's end
    latest = max([raw.end_tick] + [e[0] for e in raw.events])
    if latest / raw.ticks_per_beat > MAX_BEATS:
        raise MidiFormatError(f"events run to beat {latest // raw.ticks_per_beat:,}, more than the "
                              f"{MAX_BEATS:,} beats a real piece could last (damaged delta times?)")
    piece = _pair_notes(raw, sustain)
    if not raw.smpte and len(piece):
        # a file written for another resolution (480 ticks per beat, declaring 1) parses fine
        # and plays every quarter note as hundreds of beats
        beats = float(np.median(piece.end_tick - piece.start_tick)) / raw.ticks_per_beat
        if beats > MAX_MEDIAN_NOTE_BEATS:
            raise MidiFormatError(f"implausible ticks per beat ({raw.ticks_per_beat}): half the notes "
                                  f"last {beats:,.0f} beats or more (a file written for another "
                                  "resolution?)")
    return piece


MIN_BPM, MAX_BPM = 10, 1000   # tempos outside this are not music but a broken tempo map


class _TempoMap:
    """Ticks -> seconds under a piecewise-constant tempo (500000 us/beat until the first change)."""

    def __init__(self, raw: RawMidi):
        tpb = raw.ticks_per_beat
        if raw.smpte:  # SMPTE ticks are real time already
            self.ticks = np.array([0], dtype=np.int64)
            self.seconds = np.array([0.0])
            self.rate = np.array([1.0 / tpb])
            return
        changes = {0: 500000}
        for tick, uspq in sorted(raw.tempos, key=lambda t: t[0]):
            bpm = 60e6 / max(uspq, 1)
            if not MIN_BPM <= bpm <= MAX_BPM:
                # a tempo map off by a unit (microseconds for milliseconds) parses fine and
                # would squeeze the piece into an instant or stretch it over hours
                raise ValueError(f"implausible tempo {bpm:.4g} bpm at tick {tick} "
                                 f"(expected {MIN_BPM}-{MAX_BPM})")
            changes[tick] = max(uspq, 1)  # at one tick, the last change wins
        ticks = np.array(sorted(changes), dtype=np.int64)
        rate = np.array([changes[t] for t in ticks], dtype=np.float64) / 1e6 / tpb  # s/tick
        seconds = np.concatenate([[0.0], np.cumsum(np.diff(ticks) * rate[:-1])])
        self.ticks, self.seconds, self.rate = ticks, seconds, rate

    def __call__(self, tick):
        tick = np.asarray(tick, dtype=np.int64)
        k = np.searchsorted(self.ticks, tick, side="right") - 1
        return self.seconds[k] + (tick - self.ticks[k]) * self.rate[k]


def _pair_notes(raw: RawMidi, sustain: bool) -> Piece:
    # Tracks play at once: merge them by tick, keeping file order within a track.
    events = sorted(raw.events, key=lambda e: (e[0], e[1]))
    out = []  # (pitch, velocity, start_tick, end_tick, channel, program)
    sounding = {}  # (track, channel, pitch) -> [start_tick, velocity, program, held_by_pedal]
    pedal_down = [False] * 16
    program = [0] * 16

    def close(key, tick):
        start, vel, prog, _ = sounding.pop(key)
        if tick > start:
            out.append((key[2], vel, start, tick, key[1], prog))

    for tick, track, kind, ch, a, b in events:
        if kind == NOTE_ON:
            key = (track, ch, a)
            if key in sounding:
                close(key, tick)
            sounding[key] = [tick, b, program[ch], False]
        elif kind == NOTE_OFF:
            key = (track, ch, a)
            note = sounding.get(key)
            if note is None or note[3]:
                continue  # stray off, or already released under the pedal
            if sustain and pedal_down[ch] and ch != DRUM_CHANNEL:
                note[3] = True
            else:
                close(key, tick)
        elif kind == PEDAL:
            down = b >= 64
            if pedal_down[ch] and not down:
                for key in [k for k, n in sounding.items() if k[1] == ch and n[3]]:
                    close(key, tick)
            pedal_down[ch] = down
        elif kind == PROGRAM:
            program[ch] = a
    last_tick = max([raw.end_tick] + [e[0] for e in events[-1:]])
    for key in list(sounding):
        close(key, max(last_tick, sounding[key][0] + 1))

    out.sort(key=lambda n: (n[2], n[0], n[4]))
    arr = np.array(out, dtype=np.int64).reshape(-1, 6)
    tempo_map = _TempoMap(raw)
    end_tick_total = int(max([last_tick] + ([int(arr[:, 3].max())] if len(arr) else [])))
    time_sigs = sorted(raw.time_signatures, key=lambda t: t[0])
    first_tempo = min(raw.tempos, key=lambda t: t[0])[1] if raw.tempos else 500000
    return Piece(
        pitch=arr[:, 0].astype(np.int16),
        velocity=arr[:, 1].astype(np.int16),
        start=tempo_map(arr[:, 2]),
        end=tempo_map(arr[:, 3]),
        start_tick=arr[:, 2].copy(),
        end_tick=arr[:, 3].copy(),
        drum=arr[:, 4] == DRUM_CHANNEL,
        program=arr[:, 5].astype(np.int16),
        ticks_per_beat=raw.ticks_per_beat,
        end_time=float(tempo_map(end_tick_total)),
        end_tick_total=end_tick_total,
        time_signature=tuple(time_sigs[0][1:]) if time_sigs else (4, 4),
        tempo_bpm=60e6 / first_tempo if not raw.smpte else 120.0,
    )


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def midi_bytes(
    notes,
    *,
    ticks_per_beat: int = 480,
    tempo_bpm: float = 120.0,
    time_signature=(4, 4),
    end_tick: int | None = None,
    in_ticks: bool = False,
    program: int = 0,
) -> bytes:
    """Encode notes as a format-1 MIDI file (tempo track + one track per used channel).

    `notes`: iterable of `(pitch, start, end, velocity[, drum])`, times in seconds at the given
    constant tempo, or in ticks when `in_ticks`. Notes are paired by construction: zero-length
    notes get one tick, a note of the same pitch and channel that starts while another sounds
    ends that one first, and at equal ticks NOTE_OFFs are written before NOTE_ONs.
    `end_tick` places the end of the piece (to keep trailing silence).
    """
    import mido

    ticks_per_second = ticks_per_beat * tempo_bpm / 60.0
    by_channel: dict[int, list] = {}
    for note in notes:
        pitch, start, end, velocity = (note[0], note[1], note[2], note[3])
        drum = bool(note[4]) if len(note) > 4 else False
        if in_ticks:
            t0, t1 = int(start), int(end)
        else:
            t0, t1 = int(round(start * ticks_per_second)), int(round(end * ticks_per_second))
        t0 = max(t0, 0)
        t1 = max(t1, t0 + 1)
        velocity = int(min(max(int(velocity), 1), 127))
        channel = DRUM_CHANNEL if drum else 0
        by_channel.setdefault(channel, []).append((int(pitch), t0, t1, velocity))

    mid = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    meta = mido.MidiTrack()
    num, den = time_signature
    meta.append(mido.MetaMessage("time_signature", numerator=int(num), denominator=int(den), time=0))
    meta.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo_bpm), time=0))
    mid.tracks.append(meta)
    last = 0
    for channel in sorted(by_channel):
        timeline = []  # (tick, order, pitch, velocity): order 0 = off, 1 = on
        per_pitch: dict[int, list] = {}
        for pitch, t0, t1, vel in by_channel[channel]:
            per_pitch.setdefault(pitch, []).append((t0, t1, vel))
        for pitch, spans in per_pitch.items():
            spans.sort()
            for k, (t0, t1, vel) in enumerate(spans):
                if k + 1 < len(spans):
                    nxt = spans[k + 1][0]
                    if nxt == t0:
                        continue  # two onsets at one tick: keep the later (longer-sorted) one
                    t1 = min(t1, nxt)
                timeline.append((t0, 1, pitch, vel))
                timeline.append((t1, 0, pitch, 0))
        timeline.sort()
        track = mido.MidiTrack()
        if channel != DRUM_CHANNEL:
            track.append(mido.Message("program_change", channel=channel, program=program, time=0))
        now = 0
        for tick, order, pitch, vel in timeline:
            kind = "note_on" if order else "note_off"
            track.append(
                mido.Message(kind, channel=channel, note=pitch, velocity=vel if order else 0,
                             time=tick - now)
            )
            now = tick
        last = max(last, now)
        track.append(mido.MetaMessage("end_of_track", time=0))
        mid.tracks.append(track)
    if end_tick is not None and end_tick > last:
        meta.append(mido.MetaMessage("end_of_track", time=int(end_tick)))
    else:
        meta.append(mido.MetaMessage("end_of_track", time=last))
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


def write_midi(path, notes, **kwargs) -> None:
    """Write notes to `path` atomically (see `midi_bytes` for the arguments)."""
    from rnnsuite.core import atomic_write_bytes

    atomic_write_bytes(path, midi_bytes(notes, **kwargs))
