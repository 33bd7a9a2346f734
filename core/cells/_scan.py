"""Whole-sequence forward and backward of the built-in reference cells, written out by hand.

The generic reference loop calls `cell.step` once per time step under autograd: about ten small
operations forward and twenty backward per step, each paying autograd's bookkeeping, and one
weight-gradient matmul per step. At small batch sizes that overhead, not arithmetic, is what
costs. These autograd Functions run the same formulas over the whole sequence with

- the gate math fused into a few in-place operations per step (no graph is recorded), on
  step-sized tensors (whole-sequence temporaries cost more than they save: on this project's
  machines touching freshly allocated large buffers is slow, see bench/RESULTS.md),
- the recurrent weight gradient dW_hh = sum_t dG_t^T h_{t-1} done as ONE matmul after the loop,
  as cuDNN does, and the gradient of the projected inputs returned as one tensor.

The built-in cells return them from `Cell.scan` (a subclass that overrides `step` gets the
generic loop); they are not used with padding masks or under autocast. Tests check
them against the generic loop, torch's layers and finite differences (gradcheck).
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

__all__ = ["applies", "elman", "gru", "lstm", "recurrent_weight_grads"]


def recurrent_weight_grads(drec: list, h0: torch.Tensor, out: torch.Tensor, with_bias: bool):
    """Gradients of W_hh and b_hh from the per-step gradients of `W_hh h_{t-1} + b_hh`.

    drec: T tensors (B, G*H); h0: (B, H) initial state; out: (T, B, H) outputs h_1..h_T.
    Returns (drec stacked (T, B, G*H), dW_hh = sum_t drec_t^T h_{t-1} in one matmul, db_hh or None).
    """
    stacked = torch.stack(drec, 0)
    dw = torch.mm(drec[0].t(), h0)
    if len(drec) > 1:
        dw.addmm_(stacked[1:].flatten(0, 1).t(), out[:-1].flatten(0, 1))
    return stacked, dw, stacked.sum((0, 1)) if with_bias else None


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
        dxp, dw, db = recurrent_weight_grads(dgates, h0, out, ctx.has_bias)
        return dxp, dh, dc, dw, db


class _GRUScan(torch.autograd.Function):
    """xp: (T, B, 3H) = W_ih x_t + b_ih; h0: (B, H); w_hh: (3H, H); b_hh: (3H,) or None.

    r = s(x_r + h_r), z = s(x_z + h_z), n = tanh(x_n + r (W_hn h + b_hn)), h' = n + z (h - n).
    """

    @staticmethod
    def forward(ctx, xp, h0, w_hh, b_hh):
        H = h0.shape[1]
        w_t = w_hh.t()
        h = h0
        rzs, ns, recs, hs = [], [], [], []
        for xp_t in xp.unbind(0):
            rec = torch.addmm(b_hh, h, w_t) if b_hh is not None else torch.mm(h, w_t)
            rz = torch.add(xp_t[:, :2 * H], rec[:, :2 * H]).sigmoid_()
            n = torch.addcmul(xp_t[:, 2 * H:], rz[:, :H], rec[:, 2 * H:]).tanh_()
            h = torch.sub(h, n).mul_(rz[:, H:]).add_(n)
            rzs.append(rz)
            ns.append(n)
            recs.append(rec)
            hs.append(h)
        out = torch.stack(hs, 0)
        ctx.T = xp.shape[0]
        ctx.has_bias = b_hh is not None
        ctx.save_for_backward(h0, w_hh, out, *rzs, *ns, *recs)
        return out, h.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, dh_last):
        T = ctx.T
        h0, w_hh, out, *rest = ctx.saved_tensors
        rzs, ns, recs = rest[:T], rest[T:2 * T], rest[2 * T:]
        B, H = h0.shape
        ones = h0.new_ones(B, H)
        dh = dh_last.clone()
        dxps, drecs = [None] * T, [None] * T
        for t in range(T - 1, -1, -1):
            rz, n, h_prev = rzs[t], ns[t], (out[t - 1] if t else h0)
            r, z = rz[:, :H], rz[:, H:]
            dh.add_(dout[t])
            dxp = rz.new_empty(B, 3 * H)
            dnp = torch.addcmul(ones, n, n, value=-1).mul_(dh)  # (1 - n^2) dh ...
            dnp.sub_(dnp * z)  # ... (1 - z)
            dxp[:, 2 * H:] = dnp
            torch.mul(dnp, recs[t][:, 2 * H:], out=dxp[:, :H]).mul_(torch.addcmul(r, r, r, value=-1))
            torch.sub(h_prev, n, out=dxp[:, H:2 * H]).mul_(dh).mul_(torch.addcmul(z, z, z, value=-1))
            drec = dxp.clone()
            torch.mul(dnp, r, out=drec[:, 2 * H:])
            dh = torch.addmm(dh.mul_(z), drec, w_hh)
            dxps[t], drecs[t] = dxp, drec
        _, dw, db = recurrent_weight_grads(drecs, h0, out, ctx.has_bias)
        return torch.stack(dxps, 0), dh, dw, db


class _ElmanScan(torch.autograd.Function):
    """h' = act(xp_t + W_hh h + b_hh), act tanh or relu."""

    @staticmethod
    def forward(ctx, xp, h0, w_hh, b_hh, relu):
        w_t = w_hh.t()
        h = h0
        hs = []
        for xp_t in xp.unbind(0):
            h = torch.addmm(xp_t, h, w_t)
            if b_hh is not None:
                h.add_(b_hh)
            if relu:
                h.relu_()
            else:
                h.tanh_()
            hs.append(h)
        out = torch.stack(hs, 0)
        ctx.save_for_backward(h0, w_hh, out)
        ctx.has_bias = b_hh is not None
        ctx.relu = relu
        return out, h.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, dh_last):
        h0, w_hh, out = ctx.saved_tensors
        T, B, H = out.shape
        ones = h0.new_ones(B, H)
        dh = dh_last.clone()
        dpres = [None] * T
        for t in range(T - 1, -1, -1):
            dh.add_(dout[t])
            h = out[t]
            d = dh.mul_(h > 0) if ctx.relu else dh.mul_(torch.addcmul(ones, h, h, value=-1))
            dh = torch.mm(d, w_hh)
            dpres[t] = d
        dpre, dw, db = recurrent_weight_grads(dpres, h0, out, ctx.has_bias)
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
