"""Reading audio: any file soundfile reads (WAV, FLAC, OGG), mixed to mono, resampled to 16 kHz.

torchaudio's own load/save are never used (they moved to torchcodec); soundfile and soxr are
light, release the GIL and read the formats speech corpora ship in.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rnnsuite.core import UserError

__all__ = ["SAMPLE_RATE", "AudioError", "read_audio", "resample", "check_signal", "write_wav"]

SAMPLE_RATE = 16000
SILENCE_PEAK = 1e-3  # below this peak amplitude (about -60 dBFS) a recording counts as silent


class AudioError(UserError):
    """A recording that cannot be used; inside a corpus it is skipped and counted."""


def resample(audio: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Band-limited resampling of a mono float32 signal (soxr, high quality)."""
    if rate == target:
        return audio
    import soxr

    return soxr.resample(audio, rate, target, quality="HQ").astype(np.float32, copy=False)


def read_audio(path, target_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read `path` as mono float32 at `target_rate`.

    Raises AudioError("<path>: <what is wrong>") for missing, unreadable or empty files.
    """
    import soundfile

    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: audio file not found")
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)  # (N, channels)
    except Exception as exc:  # soundfile raises LibsndfileError, RuntimeError, TypeError, ...
        reason = " ".join(str(exc).split()) or type(exc).__name__
        # libsndfile repeats the path ("Error opening '/x.wav': Format not recognised.")
        reason = reason.split("': ", 1)[-1] if reason.startswith("Error opening '") else reason
        raise AudioError(f"{path}: cannot read audio ({reason})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: audio is empty (0 samples)")
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.all(np.isfinite(mono)):
        raise AudioError(f"{path}: audio contains NaN or infinite samples")
    return np.ascontiguousarray(resample(mono, rate, target_rate), dtype=np.float32)


def check_signal(path, audio: np.ndarray, min_seconds: float, max_seconds: float,
                 rate: int = SAMPLE_RATE) -> None:
    """Raise AudioError if the recording is silent or outside the duration limits."""
    seconds = len(audio) / rate
    if seconds < min_seconds:
        raise AudioError(f"{path}: too short ({seconds:.2f} s < {min_seconds} s)")
    if max_seconds and seconds > max_seconds:
        raise AudioError(f"{path}: too long ({seconds:.1f} s > {max_seconds} s)")
    if float(np.abs(audio).max()) < SILENCE_PEAK:
        raise AudioError(f"{path}: audio is silent (peak below -60 dBFS)")


_FORMATS = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"), ".ogg": ("OGG", "VORBIS")}


def write_wav(path, audio: np.ndarray, rate: int) -> None:
    """Write 16-bit WAV (or FLAC, or OGG Vorbis, by suffix) via a temporary file, so a killed
    run leaves no half file. audio: (N,) mono or (N, channels) float in [-1, 1]."""
    import os

    import soundfile

    path = Path(path)
    fmt, subtype = _FORMATS[path.suffix.lower()]
    tmp = path.with_name(path.name + ".tmp")
    soundfile.write(str(tmp), np.clip(audio, -1.0, 1.0), rate, subtype=subtype, format=fmt)
    os.replace(tmp, path)
