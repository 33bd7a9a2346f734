"""Reading MIDI: the fast reader against mido and against hand-computed note times."""

from pathlib import Path

import mido
import numpy as np
import pytest
from rnnsuite.core import UserError
from rnnsuite.plugins.music._smf import MidiFormatError, parse_smf
from rnnsuite.plugins.music.midi import midi_bytes, parse_midi_bytes, read_midi

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "midi"


def _save(mid: mido.MidiFile, path) -> Path:
    mid.save(str(path))
    return Path(path)


def _track(*msgs):
    return mido.MidiTrack(list(msgs))


def _mido_notes(path):
    """Independent reference: mido's own timing (seconds), notes paired first-in first-out."""
    notes, open_ = [], {}
    now = 0.0
    for msg in mido.MidiFile(str(path)):
        now += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            open_.setdefault((msg.channel, msg.note), []).append((now, msg.velocity))
        elif msg.type in ("note_off", "note_on"):
            stack = open_.get((msg.channel, msg.note))
            if stack:
                start, vel = stack.pop(0)
                notes.append((msg.note, round(start, 6), round(now, 6), vel))
    return sorted(notes)


@pytest.mark.parametrize("name", ["001_bwv269.mid", "006_bwv281.mid", "020_bwv302.mid"])
def test_reader_matches_mido_on_example_chorales(name):
    path = EXAMPLES / name
    piece = read_midi(path)
    ours = sorted(zip(piece.pitch.tolist(), np.round(piece.start, 6).tolist(),
                      np.round(piece.end, 6).tolist(), piece.velocity.tolist()))
    assert ours == _mido_notes(path)


def test_tempo_change_maps_ticks_to_seconds(tmp_path):
    # 120 bpm for one beat (0.5 s), then 60 bpm: a note on beat 2 starts at 0.5 + 1.0 s.
    mid = mido.MidiFile(type=0, ticks_per_beat=100)
    mid.tracks.append(_track(
        mido.MetaMessage("set_tempo", tempo=500000, time=0),
        mido.Message("note_on", note=60, velocity=90, time=0),
        mido.Message("note_off", note=60, velocity=0, time=100),
        mido.MetaMessage("set_tempo", tempo=1000000, time=0),
        mido.Message("note_on", note=62, velocity=90, time=100),
        mido.Message("note_off", note=62, velocity=0, time=50),
    ))
    piece = read_midi(_save(mid, tmp_path / "t.mid"))
    assert piece.start.tolist() == pytest.approx([0.0, 1.5])
    assert piece.end.tolist() == pytest.approx([0.5, 2.0])
    assert piece.start_tick.tolist() == [0, 200]


def test_sustain_pedal_extends_notes_until_release(tmp_path):
    mid = mido.MidiFile(type=0, ticks_per_beat=100)  # 120 bpm: 100 ticks = 0.5 s
    mid.tracks.append(_track(
        mido.Message("control_change", control=64, value=127, time=0),
        mido.Message("note_on", note=60, velocity=80, time=0),
        mido.Message("note_off", note=60, velocity=0, time=50),
        mido.Message("note_on", note=64, velocity=80, time=0),
        mido.Message("note_off", note=64, velocity=0, time=50),
        mido.Message("control_change", control=64, value=0, time=100),
    ))
    path = _save(mid, tmp_path / "pedal.mid")
    assert read_midi(path).end.tolist() == pytest.approx([1.0, 1.0])
    assert read_midi(path, sustain=False).end.tolist() == pytest.approx([0.25, 0.5])


def test_restruck_key_under_pedal_ends_the_held_note(tmp_path):
    mid = mido.MidiFile(type=0, ticks_per_beat=100)
    mid.tracks.append(_track(
        mido.Message("control_change", control=64, value=127, time=0),
        mido.Message("note_on", note=60, velocity=80, time=0),
        mido.Message("note_off", note=60, velocity=0, time=50),
        mido.Message("note_on", note=60, velocity=70, time=50),
        mido.Message("note_off", note=60, velocity=0, time=50),
        mido.Message("control_change", control=64, value=0, time=50),
    ))
    piece = read_midi(_save(mid, tmp_path / "restrike.mid"))
    assert piece.start.tolist() == pytest.approx([0.0, 0.5])
    assert piece.end.tolist() == pytest.approx([0.5, 1.0])


def test_overlapping_same_pitch_notes_and_stray_offs(tmp_path):
    mid = mido.MidiFile(type=0, ticks_per_beat=100)
    mid.tracks.append(_track(
        mido.Message("note_off", note=50, velocity=0, time=0),  # stray: nothing sounding
        mido.Message("note_on", note=60, velocity=80, time=0),
        mido.Message("note_on", note=60, velocity=90, time=100),  # again while sounding
        mido.Message("note_off", note=60, velocity=0, time=100),
        mido.Message("note_off", note=60, velocity=0, time=100),  # stray now
    ))
    piece = read_midi(_save(mid, tmp_path / "overlap.mid"))
    assert piece.pitch.tolist() == [60, 60]
    assert piece.start.tolist() == pytest.approx([0.0, 0.5])
    assert piece.end.tolist() == pytest.approx([0.5, 1.0])
    assert piece.velocity.tolist() == [80, 90]


def test_drums_are_flagged_and_running_status_is_read(tmp_path):
    # Running status: a note_on status byte followed by a second event without one.
    body = bytes([0x00, 0x99, 36, 100, 0x10, 38, 100, 0x10, 0x89, 36, 0, 0x00, 38, 0,
                  0x00, 0x90, 60, 80, 0x20, 60, 0, 0x00, 0xFF, 0x2F, 0x00])
    data = (b"MThd" + (6).to_bytes(4, "big") + bytes([0, 0, 0, 1, 0, 96])
            + b"MTrk" + len(body).to_bytes(4, "big") + body)
    piece = parse_midi_bytes(data)
    assert sorted(zip(piece.pitch.tolist(), piece.drum.tolist())) == [(36, True), (38, True), (60, False)]
    # mido agrees on the raw events
    ref = [m for m in mido.MidiFile(file=__import__("io").BytesIO(data)) if m.type == "note_on" and m.velocity]
    assert len(ref) == 3


@pytest.mark.parametrize("data", [
    b"",
    b"hello, I am not MIDI",
    b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x00\x60MTrk\x00\x00\x00\x40\x00\x90",  # truncated
    b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x00\x60MTrk\x00\x00\x00\x03\x00\x3c\x40",  # no status
    b"MThd\x00\x00\x00\x06\x00\x01\x00\x00\x00\x60",  # no track
])
def test_malformed_bytes_raise_midi_format_error(data):
    with pytest.raises(MidiFormatError):
        parse_smf(data)


def test_read_midi_names_the_file_in_a_user_error(tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd garbage")
    with pytest.raises(UserError, match="bad.mid: not a valid MIDI file"):
        read_midi(bad)
    with pytest.raises(UserError, match="missing.mid: no such file"):
        read_midi(tmp_path / "missing.mid")


def test_written_midi_pairs_every_note_and_sets_tempo_and_time_signature():
    notes = [(60, 0.0, 1.0, 80), (60, 0.5, 1.5, 90), (60, 0.5, 0.7, 10), (64, 1.0, 1.0, 70)]
    mid = mido.MidiFile(file=__import__("io").BytesIO(
        midi_bytes(notes, tempo_bpm=90, time_signature=(3, 4))))
    kinds = [m.type for m in mid.tracks[0]]
    assert "set_tempo" in kinds and "time_signature" in kinds
    assert [m for m in mid.tracks[0] if m.type == "time_signature"][0].numerator == 3
    sounding = set()
    for msg in mido.merge_tracks(mid.tracks):
        if msg.type == "note_on" and msg.velocity > 0:
            assert (msg.channel, msg.note) not in sounding
            sounding.add((msg.channel, msg.note))
        elif msg.type in ("note_on", "note_off"):
            sounding.remove((msg.channel, msg.note))
    assert not sounding


def test_reader_on_generated_fixture_matches_mido(tmp_path, make_chorale):
    path = _save(make_chorale(3), tmp_path / "c.mid")
    piece = read_midi(path)
    ours = sorted(zip(piece.pitch.tolist(), np.round(piece.start, 6).tolist(),
                      np.round(piece.end, 6).tolist(), piece.velocity.tolist()))
    assert ours == _mido_notes(path)
    assert piece.time_signature == (4, 4)
