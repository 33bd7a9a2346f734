import numpy as np
import torch
from rnnsuite.plugins.speech.features import LogMel, normalize_features, spec_augment, speed_perturb


def _htk_mel(f):
    return 2595.0 * np.log10(1.0 + f / 700.0)


def _numpy_log_mel(wave, n_mels, rate=16000, n_fft=400, hop=160):
    """Textbook log-mel: reflect-padded frames, periodic Hann, |FFT|^2, HTK triangles."""
    padded = np.pad(wave, n_fft // 2, mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    frames = np.stack([padded[i:i + n_fft] * window
                       for i in range(0, len(padded) - n_fft + 1, hop)])
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2                 # (T, n_fft/2+1)
    freqs = np.linspace(0, rate / 2, n_fft // 2 + 1)
    edges = 700.0 * (10 ** (np.linspace(0, _htk_mel(rate / 2), n_mels + 2) / 2595.0) - 1.0)
    bank = np.zeros((n_mels, len(freqs)))
    for m in range(n_mels):
        lo, mid, hi = edges[m:m + 3]
        rising, falling = (freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)
        bank[m] = np.maximum(0.0, np.minimum(rising, falling))
    return np.log(power @ bank.T + 1e-6)                             # (T, n_mels)


def test_log_mel_matches_an_independent_numpy_filterbank():
    rng = np.random.default_rng(0)
    wave = rng.normal(size=8000).astype(np.float32) * 0.1
    feats, frames = LogMel(n_mels=40)(torch.from_numpy(wave)[None], torch.tensor([8000]))
    logmel = _numpy_log_mel(wave.astype(np.float64), 40)
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


def test_speed_perturbation_changes_duration():
    wave = torch.randn(16000)
    assert abs(len(speed_perturb(wave, 1.1)) - 16000 / 1.1) < 2
    assert abs(len(speed_perturb(wave, 0.9)) - 16000 / 0.9) < 2
    assert speed_perturb(wave, 1.0) is wave
