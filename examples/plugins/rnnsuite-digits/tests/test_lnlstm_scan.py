"""The layer-norm LSTM's hand-written `scan` computes exactly what its `step` loop computes."""

import pytest
import torch
from rnnsuite_digits import cells
from rnnsuite_digits.cells import LayerNormLSTMCell

T, B, H = 6, 2, 4


def _cell(dtype=torch.double, bias=True, affine=True):
    torch.manual_seed(0)
    cell = LayerNormLSTMCell(3, H, bias=bias).to(dtype)
    if not affine:
        cell.ln_gates = torch.nn.LayerNorm(4 * H, elementwise_affine=False, dtype=dtype)
        cell.ln_cell = torch.nn.LayerNorm(H, elementwise_affine=False, dtype=dtype)
    for p in cell.parameters():  # away from LayerNorm's identity initialisation
        torch.nn.init.normal_(p)
    return cell


def _scan_and_loop(cell, dtype=torch.double):
    """Outputs, final state and gradients (inputs, state, recurrent parameters) of `scan` and of
    the `step` loop, for the same inputs and loss."""
    xp = torch.randn(T, B, 4 * H, dtype=dtype, requires_grad=True)
    state = tuple(torch.randn(B, H, dtype=dtype, requires_grad=True) for _ in range(2))
    params = [p for name, p in cell.named_parameters() if name not in ("weight_ih", "bias_ih")]

    def loop():
        outs, s = [], state
        for x in xp.unbind(0):
            h, s = cell.step(x, s, cell.weight_hh)
            outs.append(h)
        return torch.stack(outs), s

    results = []
    for run in (lambda: cell.scan(xp, state, cell.weight_hh), loop):
        out, (h, c) = run()
        loss = out.pow(2).sum() + (h * c).sum()
        results.append([out, h, c, *torch.autograd.grad(loss, [xp, *state, *params])])
    return results


# one chunk of steps; chunks of 4 and 2 steps; one step per chunk
@pytest.mark.parametrize("chunk_elements", [1 << 18, 4 * B * 4 * H, 1])
def test_scan_matches_the_step_loop_in_values_and_gradients(monkeypatch, chunk_elements):
    monkeypatch.setattr(cells, "_CHUNK_ELEMENTS", chunk_elements)
    for fast, slow in zip(*_scan_and_loop(_cell())):
        torch.testing.assert_close(fast, slow, rtol=1e-12, atol=1e-12)


def test_scan_matches_the_step_loop_without_biases_or_affine_norms():
    for fast, slow in zip(*_scan_and_loop(_cell(bias=False, affine=False))):
        torch.testing.assert_close(fast, slow, rtol=1e-12, atol=1e-12)


def test_scan_matches_the_step_loop_in_float32():
    """The scan computes tanh as 2 sigmoid(2x) - 1: within float32 rounding of the loop's tanh."""
    for fast, slow in zip(*_scan_and_loop(_cell(torch.float32), torch.float32)):
        torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("chunk_elements", [1 << 18, 1])
def test_scan_passes_gradcheck(monkeypatch, chunk_elements):
    monkeypatch.setattr(cells, "_CHUNK_ELEMENTS", chunk_elements)
    cell = _cell()
    xp = torch.randn(4, B, 4 * H, dtype=torch.double, requires_grad=True)
    state = tuple(torch.randn(B, H, dtype=torch.double, requires_grad=True) for _ in range(2))
    w_hh = cell.weight_hh.detach().clone().requires_grad_()

    def run(xp, w_hh, *state):
        out, final = cell.scan(xp, state, w_hh)
        return (out, *final)

    assert torch.autograd.gradcheck(run, (xp, w_hh, *state))
