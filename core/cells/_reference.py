"""Reference cells: the textbook formulas, one time step at a time.

Every cell keeps torch's parameter layout so the fused backend can run the same tensors.
The input projection `W_ih x_t + b_ih` of all time steps is computed in one matmul before the
loop (`project_inputs`); `step` then adds the recurrent part.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from rnnsuite.core.cells import _scan
from torch import nn

__all__ = ["Cell", "ElmanCell", "LSTMCell", "GRUCell"]


class Cell(nn.Module):
    """One direction of one recurrent layer. Subclass it and implement `step`.

    Args:
        input_size: features of x_t.
        hidden_size: features of h_t.
        gates: how many H-sized blocks W_ih and W_hh have (1 Elman, 3 GRU, 4 LSTM).
        bias: whether to create `bias_ih` and `bias_hh`.

    A subclass sets `num_states` (1 for (h,), 2 for (h, c)) and, if it matches a torch fused
    kernel, `fused_mode` ("RNN_TANH", "RNN_RELU", "LSTM", "GRU").
    """

    num_states: int = 1
    fused_mode: str | None = None

    def __init__(self, input_size: int, hidden_size: int, gates: int = 1, bias: bool = True):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(gates * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(gates * hidden_size, hidden_size))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(gates * hidden_size))
            self.bias_hh = nn.Parameter(torch.empty(gates * hidden_size))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's initialisation for RNN layers: U(-1/sqrt(H), 1/sqrt(H))."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def init_state(self, batch: int, device=None, dtype=None) -> tuple:
        """Zero state: a tuple of `num_states` tensors (B, H)."""
        z = torch.zeros(batch, self.hidden_size, device=device, dtype=dtype)
        return tuple(z.clone() for _ in range(self.num_states))

    def project_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """W_ih x_t + b_ih for every t in one matmul: (T, B, I) -> (T, B, G*H)."""
        return F.linear(x, self.weight_ih, self.bias_ih)

    def recurrent(self, h: torch.Tensor, weight_hh: torch.Tensor | None = None) -> torch.Tensor:
        """W_hh h + b_hh: (B, H) -> (B, G*H). `weight_hh` overrides for DropConnect."""
        return F.linear(h, self.weight_hh if weight_hh is None else weight_hh, self.bias_hh)

    def step(self, xp: torch.Tensor, state: tuple, weight_hh=None) -> tuple[torch.Tensor, tuple]:
        """One time step. xp: (B, G*H) projected input; state: tuple of (B, H).

        Returns (h_t (B, H), new state).
        """
        raise NotImplementedError

    def scan(self, xp: torch.Tensor, state: tuple, weight_hh: torch.Tensor):
        """Optional speed-up: run all time steps at once. xp: (T, B, G*H) projected inputs.

        Return (outputs (T, B, H), final state), or None to let the stack loop over `step`
        (the default). Override it with a hand-written autograd Function when a cell's
        per-step overhead matters; it must compute exactly what the `step` loop computes. It is
        not called for padded batches (`lengths`), where the loop masks each step.
        """
        return None


class ElmanCell(Cell):
    """h_t = act(W_hh h_{t-1} + W_xh x_t + b), with b = b_ih + b_hh (torch's layout)."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh"):
        super().__init__(input_size, hidden_size, gates=1, bias=bias)
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be tanh or relu, not {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        self.fused_mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        self._act = torch.tanh if nonlinearity == "tanh" else torch.relu

    def step(self, xp, state, weight_hh=None):
        (h,) = state
        h = self._act(xp + self.recurrent(h, weight_hh))
        return h, (h,)

    def scan(self, xp, state, weight_hh):
        return _scan.elman(self, xp, state, weight_hh) if _scan.applies(self, xp, ElmanCell) else None


class ElmanReluCell(ElmanCell):
    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__(input_size, hidden_size, bias=bias, nonlinearity="relu")


class LSTMCell(Cell):
    """Gates in torch's order i, f, g, o:
    i = σ(W_ii x + b_ii + W_hi h + b_hi)    f = σ(W_if x + b_if + W_hf h + b_hf)
    g = tanh(W_ig x + b_ig + W_hg h + b_hg)  o = σ(W_io x + b_io + W_ho h + b_ho)
    c_t = f ⊙ c_{t-1} + i ⊙ g               h_t = o ⊙ tanh(c_t)
    """

    num_states = 2
    fused_mode = "LSTM"

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__(input_size, hidden_size, gates=4, bias=bias)

    def step(self, xp, state, weight_hh=None):
        h, c = state
        gates = xp + self.recurrent(h, weight_hh)  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)

    def scan(self, xp, state, weight_hh):
        return _scan.lstm(self, xp, state, weight_hh) if _scan.applies(self, xp, LSTMCell) else None


class GRUCell(Cell):
    """Gates in torch's order r, z, n:
    r = σ(W_ir x + b_ir + W_hr h + b_hr)     z = σ(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
    h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}
    """

    num_states = 1
    fused_mode = "GRU"

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__(input_size, hidden_size, gates=3, bias=bias)

    def step(self, xp, state, weight_hh=None):
        (h,) = state
        x_r, x_z, x_n = xp.chunk(3, dim=1)
        h_r, h_z, h_n = self.recurrent(h, weight_hh).chunk(3, dim=1)
        r = torch.sigmoid(x_r + h_r)
        z = torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
        h = (1 - z) * n + z * h
        return h, (h,)

    def scan(self, xp, state, weight_hh):
        return _scan.gru(self, xp, state, weight_hh) if _scan.applies(self, xp, GRUCell) else None
