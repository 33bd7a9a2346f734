"""A joint distribution over a piano-roll frame's keys: NADE conditioned on the recurrent state
(the RNN-NADE of Boulanger-Lewandowski et al. 2012).

An independent head gives each of the 88 keys its own sigmoid, so a frame's probability is the
product of 88 marginals and a chord is drawn note by note without regard to the others. NADE
writes the frame's probability exactly as a product of conditionals, keys from low to high,
each given the keys already decided:

    p(v | u) = prod_i p(v_i | v_<i, u)
    p(v_i = 1 | v_<i, u) = sigmoid(b_i(u) + V_i . h_i),    h_i = sigmoid(c(u) + sum_{j<i} v_j W_j)

u is the recurrent output of the time step before the frame; the biases b (88) and c (hidden)
are a linear function of it, W and V (88 x hidden) are shared by all time steps. The sum over
j < i is a cumulative sum, so the likelihood of a whole batch of frames costs one pass over the
keys in parallel (the shared-weight trick); sampling walks the keys one after another.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FrameNADE"]


class FrameNADE(nn.Module):
    """Recurrent output -> the NADE's parameters of the next frame, and what they give.

    forward: (..., in_features) -> params (..., keys + hidden), the per-step biases b and c.
    nll(params, frames): (..., keys + hidden), (..., keys) 0/1 -> (...,) nats per frame.
    sample(params, ...): (keys + hidden,) -> (keys,) uint8, one frame key by key.
    """

    def __init__(self, in_features: int, keys: int = 88, hidden: int = 150):
        super().__init__()
        self.keys, self.hidden = keys, hidden
        self.cond = nn.Linear(in_features, keys + hidden)
        self.W = nn.Parameter(torch.randn(keys, hidden) * 0.05)   # key j's input to the hidden
        self.V = nn.Parameter(torch.randn(keys, hidden) * 0.05)   # key i's read of the hidden

    @property
    def bias(self) -> torch.Tensor:
        """The keys' output biases at a zero recurrent output (the task starts them at the
        training set's log-odds); a view of the conditioning layer's bias."""
        return self.cond.bias[: self.keys]

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return self.cond(u)

    def logits(self, params: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """The conditional logit of every key given the keys below it in `frames`.

        Shape: params (..., keys + hidden), frames (..., keys) -> (..., keys).
        """
        b, c = params.float().split([self.keys, self.hidden], dim=-1)
        contrib = frames.float().unsqueeze(-1) * self.W                 # (..., keys, hidden)
        below = torch.cumsum(contrib, dim=-2) - contrib                 # sum over j < i
        h = torch.sigmoid(c.unsqueeze(-2) + below)                      # (..., keys, hidden)
        return b + (h * self.V).sum(-1)

    def nll(self, params: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """-log p(frame) in nats, exact. Shape: (..., keys + hidden), (..., keys) -> (...,)."""
        logits = self.logits(params, frames)
        return F.binary_cross_entropy_with_logits(logits, frames.float(), reduction="none").sum(-1)

    @torch.no_grad()
    def sample(self, params: torch.Tensor, temperature: float = 1.0, generator=None,
               max_voices: int = 0) -> torch.Tensor:
        """Draw one frame key by key, low to high, from the conditionals (each logit divided by
        `temperature`; 0: the likelier value of each key in turn). With `max_voices`, keys
        above the first `max_voices` that sound stay up.

        Shape: params (keys + hidden,) -> (keys,) uint8 on the CPU.
        """
        params = params.float().cpu()
        b, a = params.split([self.keys, self.hidden])
        W, V = self.W.detach().float().cpu(), self.V.detach().float().cpu()
        uniform = torch.rand(self.keys, generator=generator)
        frame = torch.zeros(self.keys, dtype=torch.uint8)
        a = a.clone()
        voices = 0
        for i in range(self.keys):
            logit = float(b[i] + torch.dot(V[i], torch.sigmoid(a)))
            if max_voices and voices >= max_voices:
                on = False
            elif temperature <= 0:
                on = logit > 0
            else:
                on = float(uniform[i]) < float(torch.sigmoid(torch.tensor(logit / temperature)))
            if on:
                frame[i] = 1
                voices += 1
                a += W[i]
        return frame
