"""A layer-normalised LSTM cell (Ba et al. 2016), registered for every domain as `lnlstm`.

`step` is the readable definition. `scan` is the optional speed-up core's Cell API offers: the
whole sequence in one autograd Function with the backward written out by hand (layer norms via
torch's own native kernels), so that small batches do not pay autograd's per-operation
bookkeeping at every time step. The plugin's tests check it against the `step` loop and with
gradcheck; bench/core_cells.py times it.
"""

import torch
from rnnsuite.core import Cell, recurrent_weight_grads
from torch import nn
from torch.autograd.function import once_differentiable


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

    def scan(self, xp, state, weight_hh):
        if (type(self).step is not LayerNormLSTMCell.step or xp.shape[0] == 0
                or torch.is_autocast_enabled(xp.device.type)):
            return None  # a subclass with other formulas, or autocast: the step loop
        out, h, c = _LayerNormLSTMScan.apply(
            xp, state[0], state[1], weight_hh, self.bias_hh, self.ln_gates.weight, self.ln_gates.bias,
            self.ln_cell.weight, self.ln_cell.bias, self.ln_gates.eps, self.ln_cell.eps)
        return out, (h, c)


class _LayerNormLSTMScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xp, h0, c0, w_hh, b_hh, g1, b1, g2, b2, eps1, eps2):
        H = h0.shape[1]
        G = 4 * H
        w_t = w_hh.t()
        h, c = h0, c0
        saved = {k: [] for k in ("pre", "m1", "r1", "a", "c", "m2", "r2", "tcn", "h")}
        for xp_t in xp.unbind(0):
            pre = torch.addmm(xp_t, h, w_t)
            if b_hh is not None:
                pre.add_(b_hh)
            y, m1, r1 = torch.native_layer_norm(pre, (G,), g1, b1, eps1)
            a = torch.sigmoid(y)
            torch.tanh(y[:, 2 * H:3 * H], out=a[:, 2 * H:3 * H])
            c = a[:, H:2 * H] * c
            c.addcmul_(a[:, :H], a[:, 2 * H:3 * H])
            cn, m2, r2 = torch.native_layer_norm(c, (H,), g2, b2, eps2)
            tcn = torch.tanh(cn)
            h = a[:, 3 * H:] * tcn
            for k, v in zip(saved, (pre, m1, r1, a, c, m2, r2, tcn, h)):
                saved[k].append(v)
        out = torch.stack(saved.pop("h"), 0)
        ctx.T = xp.shape[0]
        ctx.has_bias = b_hh is not None
        ctx.eps = (eps1, eps2)
        ctx.save_for_backward(h0, c0, w_hh, g1, b1, g2, b2, out, *[t for v in saved.values() for t in v])
        return out, h.clone(), c.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, dh_last, dc_last):
        T = ctx.T
        h0, c0, w_hh, g1, b1, g2, b2, out, *rest = ctx.saved_tensors
        pre, m1, r1, acts, cs, m2, r2, tcns = (rest[k * T:(k + 1) * T] for k in range(8))
        B, H = h0.shape
        G = 4 * H
        ones = h0.new_ones(B, H)
        mask = [True, True, True]
        dh, dc = dh_last.clone(), dc_last.clone()
        dg1, db1, dg2, db2 = torch.zeros_like(g1), torch.zeros_like(b1), torch.zeros_like(g2), torch.zeros_like(b2)
        dpres = [None] * T
        for t in range(T - 1, -1, -1):
            a, tcn = acts[t], tcns[t]
            i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
            c_prev = cs[t - 1] if t else c0
            dh.add_(dout[t])
            dcn = torch.addcmul(ones, tcn, tcn, value=-1).mul_(o).mul_(dh)  # through h = o tanh(LN(c))
            dcl, dg2_t, db2_t = torch.ops.aten.native_layer_norm_backward(
                dcn, cs[t], (H,), m2[t], r2[t], g2, b2, mask)
            dg2.add_(dg2_t)
            db2.add_(db2_t)
            dc.add_(dcl)
            d = torch.addcmul(a, a, a, value=-1)  # sigmoid' = s (1 - s) ...
            torch.addcmul(ones, g, g, value=-1, out=d[:, 2 * H:3 * H])  # ... tanh' for g
            d[:, :H].mul_(g).mul_(dc)
            d[:, H:2 * H].mul_(c_prev).mul_(dc)
            d[:, 2 * H:3 * H].mul_(i).mul_(dc)
            d[:, 3 * H:].mul_(tcn).mul_(dh)
            dc.mul_(f)
            dpre, dg1_t, db1_t = torch.ops.aten.native_layer_norm_backward(
                d, pre[t], (G,), m1[t], r1[t], g1, b1, mask)
            dg1.add_(dg1_t)
            db1.add_(db1_t)
            dh = torch.mm(dpre, w_hh)
            dpres[t] = dpre
        dxp, dw, db_hh = recurrent_weight_grads(dpres, h0, out, ctx.has_bias)
        return dxp, dh, dc, dw, db_hh, dg1, db1, dg2, db2, None, None
