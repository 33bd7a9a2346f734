"""Reading audio: any file soundfile reads (WAV, FLAC, OGG), mixed to mono, resampled to 16 kHz.

torchaudio's own load/save are never used (they moved to torchcodec); soundfile and soxr are
light, release the GIL and read the formats speech corpora ship in.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rnnsuite.core import UserError, warn

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
        data, rate, declared = _read_until_error(path)
        if data is None or data.shape[0] == 0:
            raise AudioError(f"{path}: cannot read audio ({reason})") from None
        warn(f"{path}: cut short ({reason}): the header declares {declared} samples, read the "
             f"first {data.shape[0]}")
    else:
        declared = _wav_declared_frames(path)
        if declared is not None and declared > data.shape[0] > 0:
            warn(f"{path}: the header declares {declared} samples, the file holds {data.shape[0]}; "
                 "read those")
    if data.shape[0] == 0:
        raise AudioError(f"{path}: audio is empty (0 samples)")
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.all(np.isfinite(mono)):
        raise AudioError(f"{path}: audio contains NaN or infinite samples")
    return np.ascontiguousarray(resample(mono, rate, target_rate), dtype=np.float32)


def _read_until_error(path: Path):
    """(audio, rate, declared frames) of what a damaged file yields before its error (a
    truncated FLAC loses sync part-way), or (None, 0, 0) when nothing can be read."""
    import soundfile

    blocks = []
    try:
        with soundfile.SoundFile(str(path)) as f:
            rate, declared = f.samplerate, f.frames
            try:
                for block in f.blocks(blocksize=1024, dtype="float32", always_2d=True):
                    blocks.append(block)
            except Exception:
                pass
    except Exception:
        return None, 0, 0
    return (np.concatenate(blocks) if blocks else None), rate, declared


def _wav_declared_frames(path: Path) -> int | None:
    """Frames a RIFF/WAVE header's data chunk declares (None: not a WAV, or a streamed one
    whose size is unknown)."""
    import struct

    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            block_align = None
            while True:
                chunk = f.read(8)
                if len(chunk) < 8:
                    return None
                kind, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if kind == b"fmt ":
                    fmt = f.read(size)
                    block_align = struct.unpack("<H", fmt[12:14])[0] if len(fmt) >= 14 else None
                    f.seek(size % 2, 1)
                elif kind == b"data":
                    if not block_align or size in (0, 0xFFFFFFFF):
                        return None
                    return size // block_align
                else:
                    f.seek(size + size % 2, 1)
    except OSError:
        return None


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
    import io

    import soundfile
    from rnnsuite.core import atomic_write_bytes

    path = Path(path)
    fmt, subtype = _FORMATS[path.suffix.lower()]
    buf = io.BytesIO()
    soundfile.write(buf, np.clip(audio, -1.0, 1.0), rate, subtype=subtype, format=fmt)
    atomic_write_bytes(path, buf.getvalue())
