"""A small additive synthesiser, enough to listen to generated notes without a MIDI player.

Each note is a few harmonics of its pitch (librosa's `midi_to_hz`) under an attack/decay/release
envelope, mixed and normalised. Drums are short bursts of filtered noise.
"""

from __future__ import annotations

import io

import numpy as np

__all__ = ["synthesize", "wav_bytes"]

HARMONICS = (1.0, 0.5, 0.25, 0.12)  # amplitudes of partials 1..4 (a soft organ-like tone)


def synthesize(notes, sample_rate: int = 22050, tail: float = 0.5, seed: int = 0) -> np.ndarray:
    """Notes `(pitch, start_s, end_s, velocity[, drum])` -> mono float32 audio in [-1, 1]."""
    import librosa

    end = max((n[2] for n in notes), default=0.0) + tail
    audio = np.zeros(int(end * sample_rate) + 1, dtype=np.float64)
    rng = np.random.default_rng(seed)
    release = 0.08
    for note in notes:
        pitch, start, stop, velocity = note[:4]
        drum = bool(note[4]) if len(note) > 4 else False
        a = int(start * sample_rate)
        dur = max(stop - start, 0.02)
        n = int((dur + release) * sample_rate)
        t = np.arange(n) / sample_rate
        gain = (velocity / 127.0) ** 1.5 * 0.3
        if drum:
            wave = rng.standard_normal(n) * np.exp(-t / 0.04)
        else:
            f0 = float(librosa.midi_to_hz(pitch))
            wave = sum(h * np.sin(2 * np.pi * f0 * (k + 1) * t)
                       for k, h in enumerate(HARMONICS) if f0 * (k + 1) < sample_rate / 2)
            attack = np.minimum(t / 0.01, 1.0)
            decay = 0.6 + 0.4 * np.exp(-t / 0.3)
            rel = np.clip((dur + release - t) / release, 0.0, 1.0)
            wave = wave * attack * decay * rel
        seg = audio[a:a + n]
        seg += gain * wave[: len(seg)]
    peak = np.abs(audio).max()
    if peak > 0.99:
        audio *= 0.99 / peak
    return audio.astype(np.float32)


def wav_bytes(audio: np.ndarray, sample_rate: int = 22050) -> bytes:
    """16-bit PCM WAV bytes."""
    import soundfile

    buf = io.BytesIO()
    soundfile.write(buf, audio, sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()
