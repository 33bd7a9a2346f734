import numpy as np
import pytest
import torch
from rnnsuite.plugins.speech.features import (
    LogMel,
    normalize_features,
    spec_augment,
    stretch_time,
    warp_frequency,
)


def _htk_mel(f):
    return 2595.0 * np.log10(1.0 + f / 700.0)


def _numpy_log_mel(wave, n_mels, rate=16000, n_fft=400, hop=160, f_min=0.0, f_max=8000.0):
    """Textbook log-mel: reflect-padded frames, periodic Hann, |FFT|^2, HTK triangles."""
    padded = np.pad(wave, n_fft // 2, mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    frames = np.stack([padded[i:i + n_fft] * window
                       for i in range(0, len(padded) - n_fft + 1, hop)])
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2                 # (T, n_fft/2+1)
    freqs = np.linspace(0, rate / 2, n_fft // 2 + 1)
    edges = 700.0 * (10 ** (np.linspace(_htk_mel(f_min), _htk_mel(f_max), n_mels + 2) / 2595.0) - 1.0)
    bank = np.zeros((n_mels, len(freqs)))
    for m in range(n_mels):
        lo, mid, hi = edges[m:m + 3]
        rising, falling = (freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)
        bank[m] = np.maximum(0.0, np.minimum(rising, falling))
    return np.log(power @ bank.T + 1e-6)                             # (T, n_mels)


@pytest.mark.parametrize("f_max", [0.0, 4000.0])
def test_log_mel_matches_an_independent_numpy_filterbank(f_max):
    rng = np.random.default_rng(0)
    wave = rng.normal(size=8000).astype(np.float32) * 0.1
    feats, frames = LogMel(n_mels=40, f_max=f_max)(torch.from_numpy(wave)[None], torch.tensor([8000]))
    band = {"f_min": 20.0, "f_max": f_max} if f_max else {}
    logmel = _numpy_log_mel(wave.astype(np.float64), 40, **band)
    expected = (logmel - logmel.mean(0)) / np.sqrt(logmel.var(0) + 1e-5)
    assert frames.item() == expected.shape[0] == 51
    np.testing.assert_allclose(feats[0].numpy(), expected, atol=2e-3)


def test_normalisation_ignores_padding():
    feats = torch.randn(2, 10, 3) * 5 + 2
    out = normalize_features(feats.clone(), torch.tensor([10, 6]))
    alone = normalize_features(feats[1:, :6].clone(), torch.tensor([6]))
    torch.testing.assert_close(out[1, :6], alone[0], atol=1e-5, rtol=1e-5)
    assert out[1, 6:].abs().max() == 0


def test_spec_augment_masks_are_deterministic_and_bounded():
    feats = torch.ones(2, 100, 20)
    frames = torch.tensor([100, 50])
    a = spec_augment(feats.clone(), frames, torch.Generator().manual_seed(3), 2, 5, 2, 0.1, 40)
    b = spec_augment(feats.clone(), frames, torch.Generator().manual_seed(3), 2, 5, 2, 0.1, 40)
    assert torch.equal(a, b)
    masked_channels = (a[0] == 0).all(0).sum()
    assert 0 < (a == 0).sum() and masked_channels <= 10
    assert ((a[1, :50] == 0).all(1).sum()) <= 2 * 5      # time masks: <= 10% of 50 frames each


def test_stretch_time_interpolates_the_frames_linearly():
    feats = torch.arange(11, dtype=torch.float32)[:, None].repeat(1, 3)   # a ramp over time
    faster = stretch_time(feats, 10 / 6)                                  # 11 frames -> 7
    assert faster.shape == (7, 3)
    torch.testing.assert_close(faster[:, 0], torch.linspace(0, 10, 7))    # the same ramp
    assert stretch_time(feats, 1.0) is feats


def test_warp_frequency_moves_a_peak_by_the_factor():
    feats = torch.zeros(2, 40)
    feats[:, 20] = 1.0
    up = warp_frequency(feats, 1.1)                # a shorter vocal tract: formants higher
    assert int(up[0].argmax()) == 22
    down = warp_frequency(feats, 0.9)
    assert int(down[0].argmax()) == 18
    torch.testing.assert_close(warp_frequency(feats, 1.0), feats)
