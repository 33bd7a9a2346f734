"""A layer-normalised LSTM cell (Ba et al. 2016), registered for every domain as `lnlstm`."""

import torch
from rnnsuite.core import Cell
from torch import nn


class LayerNormLSTMCell(Cell):
    """LSTM whose gate pre-activations and cell state are layer-normalised."""

    num_states = 2  # (h, c)

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__(input_size, hidden_size, gates=4, bias=bias)
        self.ln_gates = nn.LayerNorm(4 * hidden_size)
        self.ln_cell = nn.LayerNorm(hidden_size)

    def step(self, xp, state, weight_hh=None):
        h, c = state
        gates = self.ln_gates(xp + self.recurrent(h, weight_hh))  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(self.ln_cell(c))
        return h, (h, c)
