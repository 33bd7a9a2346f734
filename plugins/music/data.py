"""A folder of MIDI files -> encoded pieces, with an on-disk cache and a split by file.

Encoding a file (parse + pair + tokenise) is cached on disk under a key made of the file's
bytes and the tokeniser settings, so later epochs and later runs parse no MIDI at all:

    $RNNSUITE_CACHE_DIR/music/<blake2b(settings, bytes)>.npz     (default ~/.cache/rnnsuite)
        data   (N,) int16 event tokens   or   (F, 88) uint8 piano roll
        meta   int64 [time-signature numerator, denominator, tempo (bpm x 1000)]
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rnnsuite.core import UserError, warn
from rnnsuite.core.disk_cache import write_entry
from rnnsuite.plugins.music._io import content_key
from rnnsuite.plugins.music._smf import MidiFormatError
from rnnsuite.plugins.music.events import EventVocab, encode_events
from rnnsuite.plugins.music.midi import parse_midi_bytes
from rnnsuite.plugins.music.pianoroll import piece_to_roll

__all__ = ["Encoded", "Settings", "find_midi_files", "encode_file", "load_corpus", "split_files",
           "cache_dir"]

MIDI_SUFFIXES = (".mid", ".midi")
CACHE_VERSION = 1


@dataclass(frozen=True)
class Settings:
    """What decides how a file is encoded (and so its cache key)."""

    representation: str = "events"  # events | pianoroll
    steps_per_beat: int = 1  # pianoroll frames per quarter note
    drums: str = "drop"  # drop | keep (events: DRUM tokens; pianoroll always drops them)
    sustain: bool = True  # CC64 extends note durations

    @classmethod
    def from_config(cls, data: dict) -> "Settings":
        rep = data.get("representation", "events")
        if rep not in ("events", "pianoroll"):
            raise UserError(f"representation must be 'events' or 'pianoroll', got {rep!r}")
        drums = data.get("drums", "drop")
        if drums not in ("drop", "keep"):
            raise UserError(f"drums must be 'drop' or 'keep', got {drums!r}")
        steps = int(data.get("steps_per_beat", 1))
        if steps < 1:
            raise UserError(f"steps_per_beat must be at least 1, got {steps}")
        return cls(rep, steps, drums, bool(data.get("sustain", True)))

    def key(self) -> str:
        return json.dumps({"v": CACHE_VERSION, **self.__dict__}, sort_keys=True)

    def vocab(self) -> EventVocab:
        return EventVocab(drums=self.drums == "keep")


@dataclass
class Encoded:
    """One encoded file."""

    name: str  # path relative to the data folder
    key: str  # content key (settings + bytes), also the split/seen identity
    data: np.ndarray  # (N,) int16 tokens or (F, 88) uint8 roll
    time_signature: tuple = (4, 4)
    tempo_bpm: float = 120.0


def cache_dir() -> Path:
    from rnnsuite.core.disk_cache import cache_dir as domain_cache

    return domain_cache("music")


def find_midi_files(path: Path) -> list[Path]:
    """Every .mid/.midi under a folder (recursively, sorted), or the file itself."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file or folder")
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES and p.is_file())


def encode_bytes(raw: bytes, settings: Settings):
    """MIDI bytes -> (encoded array, meta); raises MidiFormatError or ValueError('no notes')."""
    piece = parse_midi_bytes(raw, sustain=settings.sustain)
    if settings.representation == "events":
        data = encode_events(piece, settings.vocab())
        if len(data) <= 1:
            raise ValueError("no notes")
    else:
        data = piece_to_roll(piece, settings.steps_per_beat)
        if len(data) < 2 or not data.any():
            raise ValueError("no notes in the piano range")
    meta = np.array([piece.time_signature[0], piece.time_signature[1],
                     int(round(piece.tempo_bpm * 1000))], dtype=np.int64)
    return data, meta


def encode_file(path: Path, settings: Settings, name: str | None = None,
                use_cache: bool = True) -> Encoded:
    """Encode one file through the cache. Raises MidiFormatError/ValueError/OSError on bad files."""
    raw = Path(path).read_bytes()
    key = content_key(raw, settings.key())
    cached = cache_dir() / f"{key}.npz" if use_cache else None
    data = meta = None
    if cached is not None and cached.is_file():
        try:
            with np.load(cached, allow_pickle=False) as z:
                data, meta = z["data"], z["meta"]
        except Exception:  # a damaged cache entry is re-made
            data = None
    if data is None:
        data, meta = encode_bytes(raw, settings)
        if cached is not None:
            import io

            buf = io.BytesIO()
            np.savez(buf, data=data, meta=meta)
            write_entry(cached, buf.getvalue(), cache_dir())   # a read-only cache: a warning, no error
    return Encoded(name or Path(path).name, key[:16], data,
                   (int(meta[0]), int(meta[1])), float(meta[2]) / 1000)


def load_corpus(path, settings: Settings, use_cache: bool = True, quiet: bool = False):
    """Encode every MIDI file under `path`. Returns (pieces, skipped: list of "name: why").

    A single bad file given directly is a UserError; in a folder it is skipped with a warning
    on stderr and counted; a folder with no usable file is a UserError.
    """
    path = Path(path)
    files = find_midi_files(path)
    if not files:
        raise UserError(f"{path}: no .mid or .midi files found")
    pieces, skipped = [], []
    for f in files:
        name = str(f.relative_to(path)) if path.is_dir() else f.name
        try:
            pieces.append(encode_file(f, settings, name, use_cache))
        except (MidiFormatError, ValueError, OSError) as err:
            why = f"{f}: {'not a valid MIDI file (' + str(err) + ')' if isinstance(err, MidiFormatError) else err}"
            if path.is_file():
                raise UserError(why) from None
            skipped.append(why)
            if not quiet:
                warn(f"skipped {why}")
    if not pieces:
        raise UserError(f"{path}: no usable MIDI file ({len(skipped)} skipped)")
    if skipped and not quiet:
        print(f"music: {len(pieces)} files read, {len(skipped)} skipped", file=sys.stderr)
    return pieces, skipped


def split_files(pieces: list, valid_fraction: float, test_fraction: float, seed: int):
    """Split by file (never by window): (train, valid, test), reproducible for a seed.

    Duplicate files (same content) go to one split together. With fewer than 3 distinct files
    everything trains and validation uses the training files.
    """
    keys = sorted({p.key for p in pieces})
    rng = np.random.default_rng(seed)
    order = [keys[i] for i in rng.permutation(len(keys))]
    n = len(order)
    if n < 3:
        return list(pieces), list(pieces), []
    n_valid = max(1, int(round(valid_fraction * n))) if valid_fraction > 0 else 0
    n_test = max(1, int(round(test_fraction * n))) if test_fraction > 0 else 0
    if n - n_valid - n_test < 1:
        n_valid, n_test = min(n_valid, 1), min(n_test, 1)
    valid_keys = set(order[:n_valid])
    test_keys = set(order[n_valid:n_valid + n_test])
    train = [p for p in pieces if p.key not in valid_keys and p.key not in test_keys]
    valid = [p for p in pieces if p.key in valid_keys]
    test = [p for p in pieces if p.key in test_keys]
    return train, valid, (test if test else [])
