"""Fixtures: tiny MIDI files written with mido directly (not with the plugin's writer)."""

import mido
import pytest


def chorale_bytes_track(seed: int, bars: int = 3, tempo_bpm: float = 120.0):
    """A 3-bar four-voice piece, quarter notes, one voice per track."""
    import random

    rng = random.Random(seed)
    mid = mido.MidiFile(type=1, ticks_per_beat=96)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo_bpm), time=0))
    meta.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    mid.tracks.append(meta)
    for voice, base in enumerate((72, 64, 57, 48)):
        track = mido.MidiTrack()
        for _ in range(bars * 4):
            pitch = base + rng.choice([0, 2, 4, 5, 7])
            track.append(mido.Message("note_on", note=pitch, velocity=rng.randint(40, 110), time=0,
                                      channel=voice))
            track.append(mido.Message("note_off", note=pitch, velocity=0, time=96, channel=voice))
        mid.tracks.append(track)
    return mid


@pytest.fixture
def make_chorale():
    """The piece builder, for tests that want their own file."""
    return chorale_bytes_track


@pytest.fixture(autouse=True)
def music_cache(tmp_path, monkeypatch):
    """Every test gets its own token cache and no progress bars."""
    monkeypatch.setenv("RNNSUITE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("RNNSUITE_PROGRESS", "0")
    return tmp_path / "cache" / "music"


@pytest.fixture
def midi_folder(tmp_path):
    """Five tiny pieces in a folder (one in a subfolder, one .midi)."""
    folder = tmp_path / "midi"
    (folder / "sub").mkdir(parents=True)
    for i in range(5):
        name = f"sub/piece{i}.midi" if i == 4 else f"piece{i}.mid"
        chorale_bytes_track(i).save(str(folder / name))
    return folder


@pytest.fixture
def broken_folder(midi_folder):
    """The tiny folder plus a truncated file, a text file named .mid and an empty MIDI."""
    good = (midi_folder / "piece0.mid").read_bytes()
    (midi_folder / "truncated.mid").write_bytes(good[: len(good) // 2])
    (midi_folder / "notmidi.mid").write_text("hello, I am not MIDI")
    empty = mido.MidiFile(type=0)
    empty.tracks.append(mido.MidiTrack([mido.MetaMessage("end_of_track", time=0)]))
    empty.save(str(midi_folder / "empty.mid"))
    return midi_folder
