"""A layer-normalised LSTM cell (Ba et al. 2016), registered for every domain as `lnlstm`.

`step` is the readable definition. `scan` is the optional speed-up core's Cell API offers: the
whole sequence in one autograd Function with the backward written out by hand (layer norms via
torch's own native kernels), so that small batches do not pay autograd's per-operation
bookkeeping at every time step. It computes tanh as 2 sigmoid(2x) - 1 (the same function; in
float32 within 2e-7 of torch.tanh, in float64 within 1e-15). The plugin's tests check it against
the `step` loop and with gradcheck; bench/core_cells.py times it.
"""

import torch
from rnnsuite.core import Cell, recurrent_weight_grads
from torch import nn
from torch.autograd.function import once_differentiable

# The backward computes the gates' local derivatives for a chunk of steps at a time: about this
# many elements (1 MB in float32), few kernel launches at small sizes and still in cache.
_CHUNK_ELEMENTS = 1 << 18
_layer_norm_backward = torch.ops.aten.native_layer_norm_backward.default


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
    """xp: (T, B, 4H) = W_ih x_t + b_ih; h0, c0: (B, H); w_hh: (4H, H); b_hh: (4H,) or None;
    g1, b1: (4H,) and g2, b2: (H,) the two layer norms' affine parameters.

    Returns the outputs h_1..h_T (T, B, H) and the final (h_T, c_T). Per step the forward runs ten
    kernels (a matmul, two layer norms, two sigmoids) and the backward seven (a matmul, two
    layer-norm backwards, which also give that step's gamma and beta gradients). What does not
    depend on the recurrence runs on chunks of steps outside the per-step loop, and the saved
    tensors are per chunk, not whole-sequence: a buffer of tens of MB comes fresh from the OS at
    every call (its page faults cost more than the arithmetic), chunks of 1 MB are recycled.
    """

    @staticmethod
    def forward(ctx, xp, h0, c0, w_hh, b_hh, g1, b1, g2, b2, eps1, eps2):
        T, B, G = xp.shape
        H = G // 4
        w_t = w_hh.t()
        chunk = max(1, _CHUNK_ELEMENTS // (B * G))
        # tanh(y) = 2 sigmoid(2 y) - 1, and sigmoid is 3-4x cheaper than tanh on CPU: the layer norms
        # run with their affine parameters doubled where a tanh follows (exact: a power of 2), so one
        # sigmoid covers all four gates and the cell's tanh is a sigmoid too
        scale = xp.new_tensor([1.0, 1.0, 2.0, 1.0]).repeat_interleave(H)  # (4H,): 2 on the g gate
        g1x2, b1x2 = scale if g1 is None else g1 * scale, None if b1 is None else b1 * scale
        g2x2, b2x2 = xp.new_full((H,), 2.0) if g2 is None else g2 * 2, None if b2 is None else b2 * 2
        minus_one = xp.new_full((), -1.0)
        out = xp.new_empty(T, B, H)  # h_1..h_T
        pres, acts, cs, tcns, stats = [], [], [], [], []
        h, c = h0, c0
        for start in range(0, T, chunk):
            xp_c = xp[start:start + chunk]
            n = xp_c.shape[0]
            # pre_t = xp_t + b_hh + W_hh h_{t-1}: the bias for the chunk at once, the matmul in place
            pre = torch.add(xp_c, b_hh) if b_hh is not None else xp_c.clone()  # (n, B, 4H)
            a = xp.new_empty(n, B, G)  # sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)
            c_c = xp.new_empty(n, B, H)  # c_t
            tcn_c = xp.new_empty(n, B, H)  # tanh(LN(c_t))
            steps = zip(pre.unbind(0), a.unbind(0), a[..., :H].unbind(0), a[..., H:2 * H].unbind(0),
                        a[..., 2 * H:3 * H].unbind(0), a[..., 3 * H:].unbind(0), c_c.unbind(0),
                        tcn_c.unbind(0), out[start:start + n].unbind(0))
            for pre_t, a_t, a_i, a_f, a_g, a_o, c_t, tcn, h_t in steps:
                pre_t.addmm_(h, w_t)
                y2, m1, r1 = torch.native_layer_norm(pre_t, (G,), g1x2, b1x2, eps1)  # y, 2 y_g
                torch.sigmoid(y2, out=a_t)
                torch.add(minus_one, a_g, alpha=2, out=a_g)  # tanh(y_g)
                c = torch.mul(a_f, c, out=c_t).addcmul_(a_i, a_g)
                cn2, m2, r2 = torch.native_layer_norm(c, (H,), g2x2, b2x2, eps2)  # 2 LN(c)
                torch.add(minus_one, torch.sigmoid(cn2, out=tcn), alpha=2, out=tcn)  # tanh(LN(c))
                h = torch.mul(a_o, tcn, out=h_t)
                stats += (m1, r1, m2, r2)
            pres.append(pre)
            acts.append(a)
            cs.append(c_c)
            tcns.append(tcn_c)
        ctx.has_bias = b_hh is not None
        ctx.chunks = len(acts)
        ctx.save_for_backward(h0, c0, w_hh, g1, b1, g2, b2, out, *pres, *acts, *cs, *tcns, *stats)
        return out, h.clone(), c.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, dh_last, dc_last):
        n = ctx.chunks
        h0, c0, w_hh, g1, b1, g2, b2, out, *rest = ctx.saved_tensors
        pres, acts, cs, tcns = (rest[k * n:(k + 1) * n] for k in range(4))
        stats = rest[4 * n:]  # per step: mean and rstd of the gate LN, then of the cell LN
        T, B, H = out.shape
        G = 4 * H
        mask1 = [True, g1 is not None, b1 is not None]
        mask2 = [True, g2 is not None, b2 is not None]
        one = out.new_ones(())
        d = out.new_empty(B, G)  # this step's gradient of the gate LN's output, reused
        d_ig, d_o = d[:, :3 * H].view(B, 3, H), d[:, 3 * H:]
        # per-step views: f_t (for dc_{t-1} = f_t dc_t + ...), c_t, pre_t
        fs = [f for a in acts for f in a[..., H:2 * H].unbind(0)]
        c_steps = [c for c_c in cs for c in c_c.unbind(0)]
        pre_steps = [p for pre in pres for p in pre.unbind(0)]
        dpres = [None] * T
        dg1s, db1s, dg2s, db2s = [], [], [], []
        douts = dout.unbind(0)
        dh = torch.add(dh_last, douts[T - 1])
        dc = None
        t = T
        for a, tcn, c_c in zip(reversed(acts), reversed(tcns), reversed(cs)):
            start = t - a.shape[0]
            # The local derivatives that do not depend on the incoming gradient, for the chunk:
            #   dgates = p * (dc, dc, dc, dh), p = (i'(y) g, f'(y) c_{t-1}, g'(y) i, o'(y) tanh(LN(c_t)))
            #   dLN(c_t) = q * dh,  q = o (1 - tanh(LN(c_t))^2)
            i, g, o = a[..., :H], a[..., 2 * H:3 * H], a[..., 3 * H:]
            p = torch.addcmul(a, a, a, value=-1)  # sigmoid' = s (1 - s) ...
            torch.addcmul(one, g, g, value=-1, out=p[..., 2 * H:3 * H])  # ... tanh' = 1 - tanh^2
            p[..., :H].mul_(g)
            p[0, :, H:2 * H].mul_(c_steps[start - 1] if start else c0)
            p[1:, :, H:2 * H].mul_(c_c[:-1])
            p[..., 2 * H:3 * H].mul_(i)
            p[..., 3 * H:].mul_(tcn)
            q = torch.addcmul(one, tcn, tcn, value=-1).mul_(o)
            p_ig = p[..., :3 * H].unflatten(2, (3, H)).unbind(0)
            p_o, qs = p[..., 3 * H:].unbind(0), q.unbind(0)
            chunk_stats = (stats[4 * start + k:4 * t:4] for k in range(4))  # m1, r1, m2, r2 per step
            steps = zip(range(start, t), p_ig, p_o, qs, *chunk_stats)
            for t, p_ig_t, p_o_t, q, m1, r1, m2, r2 in reversed(list(steps)):
                dcl, dg2, db2 = _layer_norm_backward(q * dh, c_steps[t], (H,), m2, r2, g2, b2, mask2)
                # dc_t = dLN(c_t)/dc_t + f_{t+1} dc_{t+1}
                dc = torch.add(dc_last, dcl) if dc is None else torch.addcmul(dcl, fs[t + 1], dc)
                torch.mul(p_ig_t, dc.unsqueeze(1), out=d_ig)
                torch.mul(p_o_t, dh, out=d_o)
                dpre, dg1, db1 = _layer_norm_backward(d, pre_steps[t], (G,), m1, r1, g1, b1, mask1)
                dh = torch.addmm(douts[t - 1], dpre, w_hh) if t else torch.mm(dpre, w_hh)
                dpres[t] = dpre
                dg1s.append(dg1)
                db1s.append(db1)
                dg2s.append(dg2)
                db2s.append(db2)
            t = start
        dc = dc * fs[0]
        dxp, dw, db_hh = recurrent_weight_grads(dpres, h0, out, ctx.has_bias)
        dg1, db1, dg2, db2 = (None if v[0] is None else torch.stack(v).sum(0)
                              for v in (dg1s, db1s, dg2s, db2s))
        return dxp, dh, dc, dw, db_hh, dg1, db1, dg2, db2, None, None
