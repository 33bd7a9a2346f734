"""RecurrentStack: layers x directions of one registered cell, on either backend."""

from __future__ import annotations

import functools

import torch
from rnnsuite.core.cells import _dropout
from rnnsuite.core.cells._registry import get_cell
from rnnsuite.core.device import cpu_has_bf16
from rnnsuite.core.errors import UserError
from torch import _VF, nn

__all__ = ["RecurrentStack"]

_FUSED_KERNELS = {"LSTM": _VF.lstm, "GRU": _VF.gru, "RNN_TANH": _VF.rnn_tanh, "RNN_RELU": _VF.rnn_relu}
BACKENDS = ("auto", "reference", "fused")


class RecurrentStack(nn.Module):
    """Stacked (optionally bidirectional) recurrent layers built from a registered cell.

    Args:
        cell: registered cell name (`rnn`, `rnn_relu`, `lstm`, `gru`, or a plugin's).
        input_size, hidden_size, num_layers, bidirectional: as in `torch.nn.LSTM`.
        dropout: dropout on the outputs of every layer but the last (as torch).
        locked_dropout: that dropout keeps one mask over the time steps of a call (variational).
        weight_drop: DropConnect on each W_hh, sampled once per forward (AWD-LSTM).
        backend: `reference` (step-by-step Python loop), `fused` (torch's kernels, cuDNN on
            GPU; built-in cells only) or `auto` (fused when the cell has a fused kernel).

    Shape:
        x: (T, B, I); lengths: optional (B,) valid lengths (padding after them is ignored).
        state: tuple of `num_states` tensors (L*D, B, H), or None for zeros.
        returns: output (T, B, D*H) and the final state in the same layout; with
            `final_state=False`, (output, None), and a padded batch with lengths runs on the
            fused backend without packing (about twice as fast on CPU; see _forward_padded).
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0, weight_drop: float = 0.0,
                 backend: str = "auto", bias: bool = True, locked_dropout: bool = False):
        super().__init__()
        cell_class = get_cell(cell)
        if backend not in BACKENDS:
            raise UserError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        self.cell_name = cell
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.num_directions = 2 if bidirectional else 1
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.locked_dropout = locked_dropout
        self.weight_drop = weight_drop
        cells = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * self.num_directions
            for _ in range(self.num_directions):
                cells.append(cell_class(layer_input, hidden_size, bias=bias))
        # cells[layer * D + direction]
        self.cells = nn.ModuleList(cells)
        self.num_states = cells[0].num_states
        fused_mode = cells[0].fused_mode
        if backend == "fused" and fused_mode is None:
            raise UserError(f"cell {cell!r} has no fused kernel; use backend=reference or auto")
        self.backend = ("fused" if fused_mode else "reference") if backend == "auto" else backend
        self.fused_mode = fused_mode
        self.has_bias = bias
        # observer(layer, direction, h_t) called at every step of the reference backend, which
        # then loops step by step (diagnostics: per-step gradient norms); None: not observed
        self.step_observer = None

    @property
    def output_size(self) -> int:
        return self.hidden_size * self.num_directions

    def init_state(self, batch: int, device=None, dtype=None) -> tuple:
        """Zero state: tuple of `num_states` tensors (L*D, B, H)."""
        p = self.cells[0].weight_hh
        shape = (self.num_layers * self.num_directions, batch, self.hidden_size)
        return tuple(torch.zeros(shape, device=device or p.device, dtype=dtype or p.dtype)
                     for _ in range(self.num_states))

    def _recurrent_weights(self) -> list:
        """W_hh of every cell, DropConnect-ed when training with weight_drop."""
        if self.weight_drop and self.training:
            return [_dropout.dropout(c.weight_hh, self.weight_drop, True) for c in self.cells]
        return [c.weight_hh for c in self.cells]

    def forward(self, x: torch.Tensor, state: tuple | None = None, lengths: torch.Tensor | None = None,
                final_state: bool = True):
        if x.dim() != 3:
            raise ValueError(f"RecurrentStack expects (T, B, I) input, got shape {tuple(x.shape)}")
        if state is None:
            state = self.init_state(x.shape[1], x.device, x.dtype)
        elif isinstance(state, torch.Tensor):
            state = (state,)
        if self.backend == "fused" and lengths is not None and not final_state:
            return self._forward_padded(x, tuple(state), lengths), None
        if self.backend == "fused":
            out = self._forward_fused(x, tuple(state), lengths)
        else:
            out = self._forward_reference(x, tuple(state), lengths)
        return out if final_state else (out[0], None)

    # -- fused -------------------------------------------------------------------------------

    def _forward_fused(self, x, state, lengths):
        if x.device.type == "cpu" and torch.is_autocast_enabled("cpu") and not cpu_has_bf16():
            # oneDNN has no bf16 RNN kernels on CPUs without native bf16: run this layer in fp32
            with torch.autocast("cpu", enabled=False):
                return self._forward_fused(x.float(), tuple(s.float() for s in state), lengths)
        weights_hh = self._recurrent_weights()
        flat = []
        for c, w_hh in zip(self.cells, weights_hh):
            flat += [c.weight_ih, w_hh] + ([c.bias_ih, c.bias_hh] if self.has_bias else [])
        kernel = _FUSED_KERNELS[self.fused_mode]
        hx = state if self.num_states == 2 else state[0]
        args = (self.has_bias, self.num_layers, float(self.dropout), self.training, self.bidirectional)
        if (lengths is None and self.dropout and self.training and self.num_layers > 1
                and (self.locked_dropout or x.device.type == "cpu" and not _dropout.USE_TORCH)):
            return self._forward_fused_by_layer(x, state, flat)
        if lengths is None:
            result = kernel(x, hx, flat, *args, False)
            out, new_state = result[0], tuple(result[1:])
            return out, new_state
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)
        sort, unsort = packed.sorted_indices, packed.unsorted_indices
        hx = tuple(s.index_select(1, sort) for s in state)
        hx = hx if self.num_states == 2 else hx[0]
        result = kernel(packed.data, packed.batch_sizes, hx, flat, *args)
        out_packed = nn.utils.rnn.PackedSequence(result[0], packed.batch_sizes, sort, unsort)
        out, _ = nn.utils.rnn.pad_packed_sequence(out_packed, total_length=x.shape[0])
        new_state = tuple(s.index_select(1, unsort) for s in result[1:])
        return out, new_state

    def _forward_fused_by_layer(self, x, state, flat):
        """Training with dropout between layers, on CPU or locked: one kernel call per layer and our
        dropout between them (torch's kernel draws per-element masks, on CPU with bernoulli_)."""
        kernel = _FUSED_KERNELS[self.fused_mode]
        D = self.num_directions
        per_layer = len(flat) // self.num_layers
        finals = [[] for _ in range(self.num_states)]
        layer_input = x
        for layer in range(self.num_layers):
            hx = tuple(s[layer * D:(layer + 1) * D] for s in state)
            result = kernel(layer_input, hx if self.num_states == 2 else hx[0],
                            flat[layer * per_layer:(layer + 1) * per_layer],
                            self.has_bias, 1, 0.0, True, self.bidirectional, False)
            layer_input = result[0]
            for i, s in enumerate(result[1:]):
                finals[i].append(s)
            if layer < self.num_layers - 1:
                layer_input = _dropout.dropout(layer_input, self.dropout, True, self.locked_dropout)
        return layer_input, tuple(torch.cat(f, 0) for f in finals)

    def _forward_padded(self, x, state, lengths):
        """The outputs of a padded batch with lengths, without packing: torch's CPU kernels run
        packed sequences about half as fast as a padded batch. Each layer runs the forward
        direction on the padded batch as it is (padding comes after every valid step, so it
        changes none of them) and the backward direction on each sequence reversed within its
        own length, then reversed back. Valid steps equal the packed run's; padded steps are
        zero, as pad_packed_sequence makes them. The final states would have run on through the
        padding: this path returns none."""
        if x.device.type == "cpu" and torch.is_autocast_enabled("cpu") and not cpu_has_bf16():
            with torch.autocast("cpu", enabled=False):
                return self._forward_padded(x.float(), tuple(s.float() for s in state), lengths)
        kernel = _FUSED_KERNELS[self.fused_mode]
        lengths = lengths.to(x.device)
        steps = torch.arange(x.shape[0], device=x.device).unsqueeze(1)      # (T, 1)
        mask = steps < lengths.unsqueeze(0)                                 # (T, B)
        reverse_index = torch.where(mask, lengths.unsqueeze(0) - 1 - steps, steps)
        weights_hh = self._recurrent_weights()
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                k = layer * self.num_directions + direction
                c = self.cells[k]
                weights = [c.weight_ih, weights_hh[k]] + ([c.bias_ih, c.bias_hh] if self.has_bias else [])
                hx = tuple(s[k:k + 1] for s in state)
                inp = layer_input if direction == 0 else _flip_time(layer_input, reverse_index)
                out = kernel(inp, hx if self.num_states == 2 else hx[0], weights,
                             self.has_bias, 1, 0.0, self.training, False, False)[0]
                outputs.append(out if direction == 0 else _flip_time(out, reverse_index))
            layer_input = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = _dropout.dropout(layer_input, self.dropout, True, self.locked_dropout)
        return layer_input * mask.unsqueeze(2).to(layer_input.dtype)

    # -- reference ---------------------------------------------------------------------------

    def _forward_reference(self, x, state, lengths):
        T = x.shape[0]
        weights_hh = self._recurrent_weights()
        mask = None
        reverse_index = None
        if lengths is not None:
            lengths = lengths.to(x.device)
            steps = torch.arange(T, device=x.device).unsqueeze(1)  # (T, 1)
            mask = steps < lengths.unsqueeze(0)  # (T, B) True where valid
            # reverse each sequence within its own length; padding stays in place
            reverse_index = torch.where(mask, lengths.unsqueeze(0) - 1 - steps, steps)
        final = [[] for _ in range(self.num_states)]
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                k = layer * self.num_directions + direction
                cell = self.cells[k]
                cell_state = tuple(s[k] for s in state)
                inp = layer_input
                if direction == 1:
                    inp = _flip_time(inp, reverse_index)
                observe = None
                if self.step_observer is not None:
                    observe = functools.partial(self.step_observer, layer, direction)
                out, cell_state = _run_cell(cell, inp, cell_state, weights_hh[k], mask, observe)
                if direction == 1:
                    out = _flip_time(out, reverse_index)
                outputs.append(out)
                for i, s in enumerate(cell_state):
                    final[i].append(s)
            layer_input = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = _dropout.dropout(layer_input, self.dropout, True, self.locked_dropout)
        return layer_input, tuple(torch.stack(f, 0) for f in final)


def _flip_time(x, reverse_index):
    """Reverse the time axis of (T, B, F); with lengths, within each sequence's length."""
    if reverse_index is None:
        return x.flip(0)
    return x.gather(0, reverse_index.unsqueeze(2).expand_as(x))


def _run_cell(cell, x, state, weight_hh, mask, observe=None):
    """Loop one cell over time. x: (T, B, I) -> out (T, B, H), final state. `observe(h_t)`, when
    given, sees every step's output (and the step loop runs instead of the cell's scan)."""
    xp = cell.project_inputs(x)  # (T, B, G*H), all steps in one matmul
    if mask is None and observe is None:
        result = cell.scan(xp, state, weight_hh)  # built-in cells: hand-written, see _scan.py
        if result is not None:
            return result
    outs = []
    # unbind, not xp[t]: indexing in the loop makes backward allocate a full-size gradient per step
    if mask is None:
        for xp_t in xp.unbind(0):
            h, state = cell.step(xp_t, state, weight_hh)
            if observe is not None:
                observe(h)
            outs.append(h)
    else:
        for xp_t, m in zip(xp.unbind(0), mask.unsqueeze(2).unbind(0)):
            h, new_state = cell.step(xp_t, state, weight_hh)
            if observe is not None:
                observe(h)
            state = tuple(torch.where(m, n, o) for n, o in zip(new_state, state))
            outs.append(h * m)
    return torch.stack(outs, 0), state
