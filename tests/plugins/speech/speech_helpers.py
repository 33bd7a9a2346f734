"""Helpers shared by the speech tests (a uniquely named module: every test folder has a
conftest.py, so `from conftest import ...` could pick up another folder's)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "speech"

# Tiny model: seconds per training step on a loaded 2-core CPU.
TINY = ["hidden_size=8", "num_layers=1", "conv_channels=8", "batch_size=4", "n_mels=16",
        "lm_order=3", "beam=2", "valid_fraction=0.0"]


def tone(seconds=1.0, rate=16000, freq=440.0, amplitude=0.3, channels=1):
    t = np.arange(int(seconds * rate)) / rate
    wave = (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([wave] * channels, axis=1) if channels > 1 else wave


def write(path, audio, rate):
    import soundfile

    soundfile.write(str(path), audio, rate)
    return path


def needs_tts():
    missing = [b for b in ("espeak-ng",) if shutil.which(b) is None]
    return pytest.mark.skipif(bool(missing), reason=f"TTS engine not installed: {', '.join(missing)}"
                              " (apt-get install espeak-ng)")


def two_minute_recording(folder: Path):
    """A 2-minute WAV of espeak-ng sentences with pauses of 1-3 s between them: (path, the
    (start, end) seconds of each sentence)."""
    import subprocess

    from rnnsuite.plugins.speech.audio import read_audio

    sentences = ["press one for billing", "my number is five five five zero one two three",
                 "please hold", "the code is seven four two", "thank you for calling"]
    parts, truth, t = [], [], 0.0
    while t < 120.0:
        for i, text in enumerate(sentences):
            wav = folder / "sentence.wav"
            subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, capture_output=True)
            speech = read_audio(wav)
            pause = np.zeros(int((1.0 + 0.5 * i) * 16000), np.float32)
            parts += [speech, pause]
            truth.append((t, t + len(speech) / 16000))
            t += (len(speech) + len(pause)) / 16000
    return write(folder / "long.wav", np.concatenate(parts), 16000), truth
