"""The events and pianoroll codecs: lossless round trips through real MIDI bytes."""

import io
from pathlib import Path

import mido
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rnnsuite.plugins.music.events import (
    EventVocab,
    decode_events,
    encode_events,
    stretch_events,
    transpose_events,
    velocity_bin,
)
from rnnsuite.plugins.music.midi import Piece, midi_bytes, parse_midi_bytes, read_midi
from rnnsuite.plugins.music.pianoroll import (
    frames_from_pitch_lists,
    piece_to_roll,
    roll_notes,
    transpose_roll,
)

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "midi"


def _roundtrip_events(piece, vocab=None):
    vocab = vocab or EventVocab()
    tokens = encode_events(piece, vocab)
    return parse_midi_bytes(midi_bytes(decode_events(tokens, vocab))), tokens


def _assert_same_notes(a, b):
    """Every note of a has a note of b with the same pitch, onset and offset within 10 ms and
    velocity in the same bin (matched in order of onset per pitch)."""
    assert len(a) == len(b)
    for pitch in set(a.pitch.tolist()):
        ia = np.flatnonzero(a.pitch == pitch)
        ib = np.flatnonzero(b.pitch == pitch)
        assert len(ia) == len(ib)
        ia, ib = ia[np.argsort(a.start[ia])], ib[np.argsort(b.start[ib])]
        assert np.abs(a.start[ia] - b.start[ib]).max() <= 0.010
        assert np.abs(a.end[ia] - b.end[ib]).max() <= 0.010
        assert (velocity_bin(a.velocity[ia]) == velocity_bin(b.velocity[ib])).all()


def _sounding(piece):
    """{(pitch, 10 ms step)} while a key is down, and {(pitch, onset step)}."""
    cells, onsets = set(), set()
    for p, a, b in zip(piece.pitch.tolist(), piece.start.tolist(), piece.end.tolist()):
        a, b = round(a / 0.01), round(b / 0.01)
        cells.update((p, t) for t in range(a, b))
        onsets.add((p, a))
    return cells, onsets


@pytest.mark.parametrize("name", ["001_bwv269.mid", "009_bwv248_12-2.mid"])
def test_events_roundtrip_keeps_what_sounds_in_example_chorales(name):
    # Four voices on four tracks share keys: when two voices hold one pitch the keyboard-like
    # stream has one key down, so what is kept exactly is which keys sound when, and every onset.
    original = read_midi(EXAMPLES / name)
    restored, _ = _roundtrip_events(original)
    assert _sounding(restored) == _sounding(original)


notes_strategy = st.lists(
    st.tuples(st.integers(0, 127), st.floats(0, 5), st.floats(0.011, 2.5), st.integers(1, 127)),
    min_size=1, max_size=30)


@settings(max_examples=40, deadline=None)
@given(notes_strategy)
def test_events_roundtrip_is_lossless_within_quantisation(raw):
    # One note per pitch at a time, as a MIDI reader delivers them.
    notes, busy_until = [], {}
    for pitch, start, dur, vel in raw:
        start = round(start, 3)
        if start < busy_until.get(pitch, -1) + 0.02:
            continue
        notes.append((pitch, start, start + dur, vel))
        busy_until[pitch] = start + dur
    piece = parse_midi_bytes(midi_bytes(notes))
    restored, tokens = _roundtrip_events(piece)
    _assert_same_notes(piece, restored)


def test_time_shifts_cover_long_gaps_in_steps_of_at_most_one_second():
    vocab = EventVocab()
    piece = Piece.from_notes([(60, 0.0, 0.5, 64), (62, 3.25, 3.5, 64)])
    tokens = encode_events(piece, vocab).tolist()
    names = [vocab.describe(t) for t in tokens]
    assert names[:3] == ["START", "VELOCITY 16", "NOTE_ON 60"]
    shifts = [n for n in names if n.startswith("TIME_SHIFT")]
    assert shifts == ["TIME_SHIFT 500ms", "TIME_SHIFT 1000ms", "TIME_SHIFT 1000ms",
                      "TIME_SHIFT 750ms", "TIME_SHIFT 250ms"]
    assert len(vocab) == 389 and len(EventVocab(drums=True)) == 517


def test_drums_become_drum_tokens_or_are_dropped():
    piece = Piece.from_notes([(36, 0.0, 0.1, 100, True), (60, 0.0, 0.5, 80)])
    assert EventVocab().drum is None
    dropped = decode_events(encode_events(piece, EventVocab()), EventVocab())
    assert [n[0] for n in dropped] == [60]
    kept = decode_events(encode_events(piece, EventVocab(drums=True)), EventVocab(drums=True))
    assert sorted((n[0], n[4]) for n in kept) == [(36, True), (60, False)]


def test_decoding_pairs_dangling_and_stray_events():
    vocab = EventVocab()
    tokens = [vocab.start, vocab.note_off + 60,  # stray off
              vocab.note_on + 60, vocab.time_shift + 9,  # 100 ms
              vocab.note_on + 60, vocab.time_shift + 4,  # re-struck, then 50 ms
              vocab.note_on + 64]  # never released
    notes = decode_events(np.array(tokens), vocab)
    assert [(p, round(a, 3), round(b, 3)) for p, a, b, _, _ in notes] == [
        (60, 0.0, 0.1), (60, 0.1, 0.15), (64, 0.15, 0.16)]


def test_transpose_and_stretch_events():
    vocab = EventVocab()
    piece = Piece.from_notes([(60, 0.0, 0.5, 64), (67, 0.5, 1.0, 64)])
    tokens = encode_events(piece, vocab)
    up = decode_events(transpose_events(tokens, 3), vocab)
    assert [n[0] for n in up] == [63, 70]
    slow = decode_events(stretch_events(tokens, 1.5, vocab), vocab)
    assert [(round(a, 2), round(b, 2)) for _, a, b, _, _ in slow] == [(0.0, 0.75), (0.75, 1.5)]


def _jsb_like_pieces():
    rng = np.random.default_rng(0)
    pieces = [[[60, 64, 67], [], [62, 65, 69, 74], [62, 65, 69, 74], [59]]]
    for _ in range(20):
        frames = []
        for _ in range(rng.integers(2, 40)):
            k = rng.integers(0, 5)
            frames.append(sorted(set(rng.integers(21, 109, size=k).tolist())))
        pieces.append(frames)
    pieces.append([[], [], [60], []])  # leading and trailing rests
    return pieces


@pytest.mark.parametrize("merge", [False, True])
def test_jsb_frames_written_as_midi_quantise_back_to_the_same_roll(merge):
    for frames in _jsb_like_pieces():
        roll = frames_from_pitch_lists(frames)
        data = midi_bytes(roll_notes(roll, 480, merge=merge), in_ticks=True,
                          end_tick=len(roll) * 480)
        back = piece_to_roll(parse_midi_bytes(data))
        assert back.shape == roll.shape
        assert (back == roll).all()


def test_pianoroll_samples_notes_at_frame_starts(tmp_path):
    # Written with mido directly: a half note C, then an eighth-note D that covers no frame start
    # except its own, then an eighth E between frame starts (sampled away), 2 frames per beat.
    mid = mido.MidiFile(type=0, ticks_per_beat=96)
    mid.tracks.append(mido.MidiTrack([
        mido.Message("note_on", note=60, velocity=80, time=0),
        mido.Message("note_off", note=60, velocity=0, time=192),
        mido.Message("note_on", note=62, velocity=80, time=0),
        mido.Message("note_off", note=62, velocity=0, time=48),
        mido.Message("note_on", note=64, velocity=80, time=12),
        mido.Message("note_off", note=64, velocity=0, time=24),
    ]))
    buf = io.BytesIO()
    mid.save(file=buf)
    roll = piece_to_roll(parse_midi_bytes(buf.getvalue()), steps_per_beat=2)
    on = [sorted((np.flatnonzero(f) + 21).tolist()) for f in roll]
    assert on == [[60], [60], [60], [60], [62], []]


def test_transpose_roll_moves_keys():
    roll = frames_from_pitch_lists([[60], [64, 67]])
    assert (np.flatnonzero(transpose_roll(roll, -2)[1]) + 21).tolist() == [62, 65]
