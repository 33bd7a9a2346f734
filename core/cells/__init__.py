"""Recurrent cells and stacked recurrent layers.

Two backends hold the same parameters (torch's layout, per layer and direction:
`weight_ih (G*H, I)`, `weight_hh (G*H, H)`, `bias_ih (G*H)`, `bias_hh (G*H)`):

- `reference`: the readable step-by-step formulas in `_reference.py`, one Python loop over time;
  the built-in cells run it through hand-written whole-sequence autograd Functions
  (`_scan.py`, same formulas, one weight-gradient matmul) unless the batch is padded.
- `fused`: torch's fused kernels (the ones behind `nn.RNN/LSTM/GRU`, cuDNN on GPU), fed with the
  very same parameter tensors.

Plugins add cells with the `rnnsuite_register_cells` hook; those run on the reference backend.
"""

from rnnsuite.core.cells._reference import Cell, ElmanCell, GRUCell, LSTMCell
from rnnsuite.core.cells._registry import cell_names, get_cell, register_cell
from rnnsuite.core.cells._scan import recurrent_weight_grads
from rnnsuite.core.cells._stack import RecurrentStack

__all__ = [
    "Cell",
    "ElmanCell",
    "LSTMCell",
    "GRUCell",
    "RecurrentStack",
    "cell_names",
    "get_cell",
    "recurrent_weight_grads",
    "register_cell",
]
