"""Whole-sequence forward and backward of the built-in reference cells, written out by hand.

The generic reference loop calls `cell.step` once per time step under autograd: about ten small
operations forward and twenty backward per step, each paying autograd's bookkeeping, and one
weight-gradient matmul per step. At small batch sizes that overhead, not arithmetic, is what
costs. These autograd Functions run the same formulas over the whole sequence with

- the gate math fused into a few in-place operations per step (no graph is recorded),
- everything that does not depend on the recurrence (activation derivatives, products of saved
  activations) computed once for all time steps before the backward loop,
- the recurrent weight gradient dW_hh = sum_t dG_t^T h_{t-1} done as ONE matmul after the loop,
  as cuDNN does, and the gradient of the projected inputs returned as one tensor.

The built-in cells return them from `Cell.scan` (a subclass that overrides `step` gets the
generic loop); they are not used with padding masks or under autocast. Tests check
them against the generic loop, torch's layers and finite differences (gradcheck).
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

__all__ = ["applies", "elman", "gru", "lstm"]


def _sum_bias(d):
    return d.sum((0, 1))


class _LSTMScan(torch.autograd.Function):
    """xp: (T, B, 4H) = W_ih x_t + b_ih; h0, c0: (B, H); w_hh: (4H, H); b_hh: (4H,) or None.

    Returns the outputs h_1..h_T (T, B, H) and the final (h_T, c_T).
    """

    @staticmethod
    def forward(ctx, xp, h0, c0, w_hh, b_hh):
        H = h0.shape[1]
        w_t = w_hh.t()
        h, c = h0, c0
        acts, cs, tcs, hs = [], [c0], [], []  # per step: sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)
        for xp_t in xp.unbind(0):
            pre = torch.addmm(xp_t, h, w_t)
            if b_hh is not None:
                pre.add_(b_hh)
            a = torch.sigmoid(pre)
            torch.tanh(pre[:, 2 * H:3 * H], out=a[:, 2 * H:3 * H])
            c = a[:, H:2 * H] * c
            c.addcmul_(a[:, :H], a[:, 2 * H:3 * H])
            tc = torch.tanh(c)
            h = a[:, 3 * H:] * tc
            acts.append(a)
            cs.append(c)
            tcs.append(tc)
            hs.append(h)
        out = torch.stack(hs, 0)
        ctx.save_for_backward(h0, w_hh, out, *acts, *cs, *tcs)
        ctx.has_bias = b_hh is not None
        return out, h.clone(), c.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, dh_last, dc_last):
        h0, w_hh, out, *rest = ctx.saved_tensors
        T, B, H = out.shape
        acts, cs, tcs = rest[:T], rest[T:2 * T + 1], rest[2 * T + 1:]
        ones = out.new_ones(B, H)
        dh = dh_last.clone()
        dc = dc_last.clone()
        dgates = [None] * T
        for t in range(T - 1, -1, -1):
            a, tc = acts[t], tcs[t]
            i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
            dh.add_(dout[t])
            dc.addcmul_(dh, torch.addcmul(ones, tc, tc, value=-1).mul_(o))  # through tanh(c)
            d = torch.addcmul(a, a, a, value=-1)  # sigmoid' = s (1 - s) ...
            torch.addcmul(ones, g, g, value=-1, out=d[:, 2 * H:3 * H])  # ... tanh' = 1 - tanh^2
            d[:, :H].mul_(g)
            d[:, H:2 * H].mul_(cs[t])
            d[:, 2 * H:3 * H].mul_(i)
            d[:, :3 * H].mul_(dc.repeat(1, 3))
            d[:, 3 * H:].mul_(tc).mul_(dh)
            dc.mul_(f)
            dh = torch.mm(d, w_hh)
            dgates[t] = d
        dxp = torch.stack(dgates, 0)
        dw = torch.mm(dgates[0].t(), h0)
        if T > 1:
            dw.addmm_(dxp[1:].reshape(-1, 4 * H).t(), out[:-1].reshape(-1, H))
        db = dxp.sum((0, 1)) if ctx.has_bias else None
        return dxp, dh, dc, dw, db


class _GRUScan(torch.autograd.Function):
    """xp: (T, B, 3H) = W_ih x_t + b_ih; h0: (B, H); w_hh: (3H, H); b_hh: (3H,) or None.

    r = s(x_r + h_r), z = s(x_z + h_z), n = tanh(x_n + r (W_hn h + b_hn)), h' = n + z (h - n).
    """

    @staticmethod
    def forward(ctx, xp, h0, w_hh, b_hh):
        T, B, G = xp.shape
        H = G // 3
        w_t = w_hh.t()
        rz = xp.new_empty(T, B, 2 * H)  # sigmoid(r), sigmoid(z)
        n = xp.new_empty(T, B, H)
        hn = xp.new_empty(T, B, H)  # W_hn h + b_hn
        out = xp.new_empty(T, B, H)
        rec = xp.new_empty(B, G)
        h = h0
        for t in range(T):
            if b_hh is not None:
                torch.addmm(b_hh, h, w_t, out=rec)
            else:
                torch.mm(h, w_t, out=rec)
            torch.add(xp[t, :, :2 * H], rec[:, :2 * H], out=rz[t]).sigmoid_()
            hn[t] = rec[:, 2 * H:]
            torch.addcmul(xp[t, :, 2 * H:], rz[t, :, :H], hn[t], out=n[t]).tanh_()
            h_new = out[t]
            torch.sub(h, n[t], out=h_new)
            h_new.mul_(rz[t, :, H:]).add_(n[t])
            h = h_new
        ctx.save_for_backward(h0, w_hh, rz, n, hn, out)
        ctx.has_bias = b_hh is not None
        return out, out[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, dh_last):
        h0, w_hh, rz, n, hn, out = ctx.saved_tensors
        T, B, H = n.shape
        r, z = rz.split(H, dim=2)
        h_prev = torch.cat([h0.unsqueeze(0), out[:-1]], 0)
        dn_coef = (1 - z) * (1 - n * n)  # d n_pre / d h'
        dz_coef = (h_prev - n) * (z - z * z)  # d z_pre / d h'
        dr_coef = hn * (r - r * r)  # d r_pre / d n_pre
        drec = rz.new_empty(T, B, 3 * H)  # gradient of W_hh h + b_hh
        dn_pre = n.new_empty(T, B, H)  # gradient of the input projection's n part
        dh = dh_last.clone() if dh_last is not None else n.new_zeros(B, H)
        if dout is None:
            dout = n.new_zeros(T, B, H)
        for t in range(T - 1, -1, -1):
            dh.add_(dout[t])
            d = drec[t]
            dnp = dn_pre[t]
            torch.mul(dh, dn_coef[t], out=dnp)
            torch.mul(dnp, dr_coef[t], out=d[:, :H])
            torch.mul(dh, dz_coef[t], out=d[:, H:2 * H])
            torch.mul(dnp, r[t], out=d[:, 2 * H:])
            dh = torch.addmm(dh * z[t], d, w_hh)
        dxp = torch.cat([drec[:, :, :2 * H], dn_pre], dim=2)
        dw = drec.view(T * B, 3 * H).t().mm(h_prev.view(T * B, H))
        db = _sum_bias(drec) if ctx.has_bias else None
        return dxp, dh, dw, db


class _ElmanScan(torch.autograd.Function):
    """h' = act(xp_t + W_hh h + b_hh), act tanh or relu."""

    @staticmethod
    def forward(ctx, xp, h0, w_hh, b_hh, relu):
        T, B, H = xp.shape
        xb = xp + b_hh if b_hh is not None else xp
        w_t = w_hh.t()
        out = xp.new_empty(T, B, H)
        h = h0
        for t in range(T):
            h_new = out[t]
            torch.addmm(xb[t], h, w_t, out=h_new)
            if relu:
                h_new.relu_()
            else:
                h_new.tanh_()
            h = h_new
        ctx.save_for_backward(h0, w_hh, out)
        ctx.has_bias = b_hh is not None
        ctx.relu = relu
        return out, out[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, dh_last):
        h0, w_hh, out = ctx.saved_tensors
        T, B, H = out.shape
        der = (out > 0).to(out.dtype) if ctx.relu else 1 - out * out
        dpre = torch.empty_like(out)
        dh = dh_last.clone() if dh_last is not None else out.new_zeros(B, H)
        if dout is None:
            dout = out.new_zeros(T, B, H)
        for t in range(T - 1, -1, -1):
            dh.add_(dout[t])
            torch.mul(dh, der[t], out=dpre[t])
            dh = torch.mm(dpre[t], w_hh)
        h_prev = torch.cat([h0.unsqueeze(0), out[:-1]], 0)
        dw = dpre.view(T * B, H).t().mm(h_prev.view(T * B, H))
        db = _sum_bias(dpre) if ctx.has_bias else None
        return dpre, dh, dw, db, None


def lstm(cell, xp, state, weight_hh):
    out, h, c = _LSTMScan.apply(xp, state[0], state[1], weight_hh, cell.bias_hh)
    return out, (h, c)


def gru(cell, xp, state, weight_hh):
    out, h = _GRUScan.apply(xp, state[0], weight_hh, cell.bias_hh)
    return out, (h,)


def elman(cell, xp, state, weight_hh):
    out, h = _ElmanScan.apply(xp, state[0], weight_hh, cell.bias_hh, cell.nonlinearity == "relu")
    return out, (h,)


def applies(cell, xp: torch.Tensor, owner: type) -> bool:
    """Whether `owner`'s hand-written scan may stand in for `cell`'s step loop: the cell must use
    `owner.step` unchanged (a subclass that overrides `step` has other formulas), the sequence be
    non-empty, and autocast be off (its per-operation casting would be skipped)."""
    return (type(cell).step is owner.step and xp.shape[0] > 0
            and not torch.is_autocast_enabled(xp.device.type))
