"""Acoustic features: log-mel filterbanks (torchaudio), per-utterance normalisation,
SpecAugment masking and speed perturbation.

torchaudio is imported inside the functions (never at module level) so that `rnnsuite --help`
stays fast, and a broken torchaudio install gives one clear error instead of a traceback.
"""

from __future__ import annotations

import functools

import torch
from rnnsuite.core import UserError

__all__ = ["torchaudio_module", "LogMel", "normalize_features", "spec_augment", "speed_perturb",
           "frames_for"]

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
def _mel_transform(n_mels: int, sample_rate: int):
    ta = torchaudio_module()
    return ta.transforms.MelSpectrogram(sample_rate=sample_rate, n_fft=WINDOW, win_length=WINDOW,
                                        hop_length=HOP, n_mels=n_mels, power=2.0, center=True)


class LogMel:
    """Log-mel filterbank energies, 25 ms windows every 10 ms.

    Shape: waves (B, N) float, lengths (B,) samples -> feats (B, T, n_mels), frames (B,).
    """

    def __init__(self, n_mels: int = 80, sample_rate: int = 16000):
        self.transform = _mel_transform(n_mels, sample_rate)

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


def speed_perturb(wave: torch.Tensor, factor: float) -> torch.Tensor:
    """Play `wave` `factor` times faster (tempo and pitch change together, as in Ko et al. 2015).

    Resampling by the ratio factor: 1.1 shortens the signal by 1/1.1. Shape: (N,) -> (N / factor,).
    """
    if factor == 1.0:
        return wave
    ta = torchaudio_module()
    # 0.9 -> 9/10, 1.1 -> 11/10: small integers keep the polyphase kernel short.
    num = round(factor * 10)
    return ta.functional.resample(wave, orig_freq=num, new_freq=10)
