"""Dropout whose mask is cheaper to draw on CPU than torch's, per element or locked over time.

torch's CPU dropout draws its mask with `bernoulli_`, 3.8 ms for the 262,144 activations of one
(64, 16, 256) window on one thread; `rand_like(x) >= p` draws the same distribution in 1.2 ms.
At the NLP default's two dropouts per step that is about 3% of a training step (bench/RESULTS.md,
NLP). Elsewhere (CUDA, MPS) torch's fused dropout kernel is used as it is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["dropout", "Dropout"]

#: True: use torch's dropout everywhere (bench/dropout_cpu.py compares the two in one process)
USE_TORCH = False


def _mask(like: torch.Tensor, p: float) -> torch.Tensor:
    """0 with probability p, else 1/(1-p), shaped like `like`."""
    return torch.rand_like(like).ge_(p).mul_(1.0 / (1.0 - p))


class _CPUDropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, p: float):
        mask = _mask(x, p)  # kept for backward
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        return grad * mask, None


def dropout(x: torch.Tensor, p: float, training: bool = True, locked: bool = False) -> torch.Tensor:
    """`F.dropout(x, p, training)`: zero each element with probability p, scale the rest by 1/(1-p).

    locked: one mask for every time step of a (T, ...) tensor, drawn for x[0] and broadcast over
    the time axis (variational or "locked" dropout, Gal & Ghahramani 2016, AWD-LSTM).
    """
    if not training or p == 0.0:
        return x
    if locked and x.dim() >= 2 and p < 1.0:
        return x * _mask(x[:1], p)
    if USE_TORCH or x.device.type != "cpu" or p >= 1.0 or not x.is_floating_point():
        return F.dropout(x, p, training)
    return _CPUDropout.apply(x, float(p))


class Dropout(nn.Module):
    """`nn.Dropout` drawn with `dropout` above (no parameters, so state dicts are unchanged)."""

    def __init__(self, p: float = 0.5, locked: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.locked = locked

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training, self.locked)

    def extra_repr(self) -> str:
        return f"p={self.p}" + (", locked=True" if self.locked else "")
