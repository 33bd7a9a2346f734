"""Features of a corpus on disk, not in memory: each recording's normalised log-mels (T, F),
float16, are cached once under $RNNSUITE_CACHE_DIR/speech/ (core.disk_cache: named by a hash of
the file's bytes and the feature settings) and read back a batch at a time. A training run holds,
per utterance, only its transcript, its length and where its speech starts and ends, so its
memory does not grow with the hours of audio; a second load of the same corpus reads no audio.
(The task holds the features in memory after all when they fit in `feature_memory_mb`.)

A cache that cannot be written is not an error: those features stay in memory (and core's
write_entry says so once, on a warning line).
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rnnsuite.core.disk_cache import cache_dir, content_key, write_entry

__all__ = ["FeatureRef", "FeatureStore", "speech_span"]

#: Bump when the features computed from the same audio and settings change.
FEATURES_VERSION = "logmel-1"


def speech_span(feats: torch.Tensor) -> tuple[int, int]:
    """(first, last + 1) frame of the speech in log-mels (T, F): the first and last frame whose
    mean over the bins rises a quarter of the way from the quietest frame's to the loudest's
    (low enough to keep weak fricatives at the edges)."""
    energy = feats.float().mean(1)
    threshold = energy.min() + 0.25 * (energy.max() - energy.min())
    loud = torch.nonzero(energy > threshold).flatten()
    if len(loud) == 0:
        return 0, len(feats)
    return int(loud[0]), int(loud[-1]) + 1


@dataclass(frozen=True)
class FeatureRef:
    """One recording's features: where they are (a cache file, or the tensor itself), their
    frame count and speech span, known without reading them."""

    source: object          # Path of the .npz, or a float16 tensor (T, F)
    frames: int
    span: tuple

    def load(self) -> torch.Tensor:
        if isinstance(self.source, torch.Tensor):
            return self.source
        with np.load(self.source, allow_pickle=False) as z:
            return torch.from_numpy(z["feats"])

    def __len__(self) -> int:
        return self.frames

    def in_memory(self) -> "FeatureRef":
        return self if isinstance(self.source, torch.Tensor) else FeatureRef(self.load(), self.frames, self.span)


class FeatureStore:
    """`cached(path)` looks a recording up (None: not cached); `make(path, wave)` computes its
    features with `compute` (float32 16 kHz wave -> float16 (T, F)) and caches them."""

    def __init__(self, settings: str, compute, use_cache: bool = True):
        self.settings = f"{FEATURES_VERSION}|{settings}"
        self.compute = compute
        self.folder = cache_dir("speech") if use_cache else None
        self._keys: dict = {}
        self.hits = self.made = 0
        self._count = threading.Lock()  # load_corpus looks recordings up from several threads

    def _file(self, path) -> Path | None:
        if self.folder is None:
            return None
        key = self._keys.get(str(path))
        if key is None:
            key = self._keys[str(path)] = content_key(Path(path).read_bytes(), self.settings)
        return self.folder / key[:2] / f"{key}.npz"

    def cached(self, path) -> tuple[FeatureRef, int] | None:
        """(features, samples) of a recording seen before with these settings, or None."""
        try:
            file = self._file(path)
        except OSError:      # unreadable: the audio reader says why
            return None
        if file is None or not file.is_file():
            return None
        try:
            with np.load(file, allow_pickle=False) as z:
                frames, samples, first, last = (int(v) for v in z["info"])
        except Exception:   # a damaged entry is made again
            return None
        with self._count:
            self.hits += 1
        return FeatureRef(file, frames, (first, last)), samples

    def make(self, path, wave: np.ndarray) -> FeatureRef:
        feats = self.compute(wave)
        span = speech_span(feats)
        with self._count:
            self.made += 1
        file = self._file(path)
        if file is not None:
            buf = io.BytesIO()
            np.savez(buf, feats=feats.numpy(), info=np.array([len(feats), len(wave), *span], dtype=np.int64))
            if write_entry(file, buf.getvalue(), self.folder):
                return FeatureRef(file, len(feats), span)
        return FeatureRef(feats, len(feats), span)   # no cache, or one that cannot be written
