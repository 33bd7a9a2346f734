"""The layer-norm LSTM's hand-written `scan` computes exactly what its `step` loop computes."""

import torch
from rnnsuite_digits.cells import LayerNormLSTMCell


def _cell():
    torch.manual_seed(0)
    cell = LayerNormLSTMCell(3, 4).double()
    for p in cell.parameters():  # away from LayerNorm's identity initialisation
        torch.nn.init.normal_(p)
    return cell


def test_scan_matches_the_step_loop_in_values_and_gradients():
    cell = _cell()
    xp = torch.randn(6, 2, 16, dtype=torch.double, requires_grad=True)
    state = tuple(torch.randn(2, 4, dtype=torch.double, requires_grad=True) for _ in range(2))
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
    for fast, slow in zip(*results):
        torch.testing.assert_close(fast, slow, rtol=1e-10, atol=1e-10)


def test_scan_passes_gradcheck():
    cell = _cell()
    xp = torch.randn(4, 2, 16, dtype=torch.double, requires_grad=True)
    state = tuple(torch.randn(2, 4, dtype=torch.double, requires_grad=True) for _ in range(2))
    w_hh = cell.weight_hh.detach().clone().requires_grad_()

    def run(xp, w_hh, *state):
        out, final = cell.scan(xp, state, w_hh)
        return (out, *final)

    assert torch.autograd.gradcheck(run, (xp, w_hh, *state))
