"""Acoustic features: log-mel filterbanks (torchaudio), per-utterance normalisation, and the
augmentations that work on cached features: tempo, vocal-tract length and SpecAugment masking.

torchaudio is imported inside the functions (never at module level) so that `rnnsuite --help`
stays fast, and a broken torchaudio install gives one clear error instead of a traceback.
"""

from __future__ import annotations

import functools

import torch
from rnnsuite.core import UserError

__all__ = ["torchaudio_module", "LogMel", "normalize_features", "spec_augment", "frames_for",
           "stretch_time", "warp_frequency"]

HOP = 160      # 10 ms at 16 kHz
WINDOW = 400   # 25 ms at 16 kHz


def torchaudio_module():
    """Import torchaudio, turning an import failure into a UserError."""
    try:
        import torchaudio
        import torchaudio.functional  # noqa: F401
        import torchaudio.transforms  # noqa: F401
    except Exception as exc:  # ImportError, OSError from a mismatched C extension, ...
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise UserError(f"torchaudio: cannot be imported ({reason}); the speech plugin needs "
                        "a torchaudio build that matches the installed torch") from None
    return torchaudio


def frames_for(samples):
    """Number of feature frames for `samples` audio samples (centred STFT)."""
    return samples // HOP + 1


@functools.lru_cache(maxsize=4)
def _mel_transform(n_mels: int, sample_rate: int, f_max: float | None = None):
    ta = torchaudio_module()
    return ta.transforms.MelSpectrogram(sample_rate=sample_rate, n_fft=WINDOW, win_length=WINDOW,
                                        hop_length=HOP, n_mels=n_mels, power=2.0, center=True,
                                        f_min=20.0 if f_max else 0.0, f_max=f_max or None)


class LogMel:
    """Log-mel filterbank energies, 25 ms windows every 10 ms, from 0 Hz (20 Hz with `f_max`)
    up to `f_max` (default: half the sample rate). A telephone channel carries 300-3400 Hz:
    with f_max=4000 a wide-band recording and a telephone call give the same kind of features.

    Shape: waves (B, N) float, lengths (B,) samples -> feats (B, T, n_mels), frames (B,).
    """

    def __init__(self, n_mels: int = 80, sample_rate: int = 16000, f_max: float = 0.0):
        self.transform = _mel_transform(n_mels, sample_rate, float(f_max) or None)

    def __call__(self, waves: torch.Tensor, lengths: torch.Tensor):
        transform = self.transform.to(waves.device)
        mel = transform(waves)                                  # (B, n_mels, T)
        feats = torch.log(mel + 1e-6).transpose(1, 2)           # (B, T, n_mels)
        frames = torch.clamp(frames_for(lengths), max=feats.shape[1])
        return normalize_features(feats, frames), frames


def normalize_features(feats: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """Per-utterance mean/variance normalisation over the valid frames; padding becomes 0.

    Shape: feats (B, T, F), frames (B,) -> (B, T, F).
    """
    T = feats.shape[1]
    mask = (torch.arange(T, device=feats.device)[None, :] < frames[:, None].to(feats.device))
    mask = mask.unsqueeze(-1).to(feats.dtype)                   # (B, T, 1)
    count = mask.sum(1, keepdim=True).clamp(min=1.0)            # (B, 1, 1)
    mean = (feats * mask).sum(1, keepdim=True) / count          # (B, 1, F)
    var = (((feats - mean) * mask) ** 2).sum(1, keepdim=True) / count
    return (feats - mean) / torch.sqrt(var + 1e-5) * mask


def spec_augment(feats: torch.Tensor, frames: torch.Tensor, generator: torch.Generator,
                 freq_masks: int = 2, freq_width: int = 15, time_masks: int = 2,
                 time_fraction: float = 0.05, time_width: int = 40) -> torch.Tensor:
    """SpecAugment (Park et al. 2019) frequency and time masking, in place on normalised
    features (masked cells become 0, the utterance mean). Deterministic given `generator`.

    Each time mask is at most `time_width` frames and `time_fraction` of the utterance.
    Shape: feats (B, T, F), frames (B,) -> feats.
    """
    B, _, F = feats.shape
    for b in range(B):
        length = int(frames[b])
        for _ in range(freq_masks):
            width = int(torch.randint(0, freq_width + 1, (1,), generator=generator))
            start = int(torch.randint(0, max(1, F - width), (1,), generator=generator))
            feats[b, :, start:start + width] = 0.0
        max_time = min(time_width, int(time_fraction * length))
        for _ in range(time_masks if max_time > 0 else 0):
            width = int(torch.randint(0, max_time + 1, (1,), generator=generator))
            start = int(torch.randint(0, max(1, length - width), (1,), generator=generator))
            feats[b, start:start + width, :] = 0.0
    return feats


def stretch_time(feats: torch.Tensor, factor: float) -> torch.Tensor:
    """Play features `factor` times faster (tempo only): linear interpolation along time.

    Shape: (T, F) -> (round(T / factor), F).
    """
    if factor == 1.0:
        return feats
    frames = max(1, round(feats.shape[0] / factor))
    out = torch.nn.functional.interpolate(feats.T[None].float(), size=frames, mode="linear",
                                          align_corners=True)
    return out[0].T.to(feats.dtype)


def warp_frequency(feats: torch.Tensor, alpha: float) -> torch.Tensor:
    """Vocal-tract-length perturbation (Jaitly & Hinton 2013) on mel features: the spectrum is
    scaled by `alpha` along the mel axis (bins past the top repeat the last one), as a longer
    or shorter vocal tract would move the formants.

    Shape: (T, F) -> (T, F).
    """
    if alpha == 1.0:
        return feats
    F = feats.shape[1]
    source = (torch.arange(F, dtype=torch.float32) / alpha).clamp(max=F - 1)   # output bin <- input
    low = source.floor().long()
    high = (low + 1).clamp(max=F - 1)
    frac = (source - low).to(feats.dtype)
    return feats[:, low] * (1 - frac) + feats[:, high] * frac
