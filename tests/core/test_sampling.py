"""Temperature, top-k, top-p and greedy choice of the next token."""

import math

import torch
from rnnsuite.core.sampling import filter_logits, sample_next

LOGITS = torch.log(torch.tensor([[0.05, 0.5, 0.1, 0.3, 0.05]]))


def test_temperature_zero_is_argmax():
    assert sample_next(LOGITS, temperature=0).tolist() == [1]


def test_top_k_one_is_argmax_whatever_the_seed():
    for seed in range(5):
        g = torch.Generator().manual_seed(seed)
        assert sample_next(LOGITS, temperature=1.5, top_k=1, generator=g).tolist() == [1]


def test_top_k_keeps_the_k_largest():
    kept = torch.isfinite(filter_logits(LOGITS, top_k=2))[0].tolist()
    assert kept == [False, True, False, True, False]


def test_top_p_keeps_the_smallest_nucleus():
    # sorted probabilities 0.5, 0.3, 0.1, 0.05, 0.05: 0.75 needs two tokens, 0.85 three
    kept = torch.isfinite(filter_logits(LOGITS, top_p=0.75))[0].tolist()
    assert kept == [False, True, False, True, False]
    kept = torch.isfinite(filter_logits(LOGITS, top_p=0.85))[0].tolist()
    assert kept == [False, True, True, True, False]


def test_same_seed_same_draws():
    def draws(seed):
        g = torch.Generator().manual_seed(seed)
        return [int(sample_next(LOGITS, 1.0, generator=g)) for _ in range(50)]
    assert draws(3) == draws(3)
    assert draws(3) != draws(4)


def test_sampling_follows_the_softmax_of_logits_over_temperature():
    g = torch.Generator().manual_seed(0)
    n = 20000
    counts = torch.bincount(sample_next(LOGITS.expand(n, 5), temperature=2.0, generator=g), minlength=5)
    p = torch.tensor([0.05, 0.5, 0.1, 0.3, 0.05]) ** 0.5  # p^(1/T), renormalised
    p = p / p.sum()
    assert torch.allclose(counts / n, p, atol=4 * math.sqrt(0.25 / n))
