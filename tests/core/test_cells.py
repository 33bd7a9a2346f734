"""Reference cells against the fused backend and against torch's own nn.RNN/LSTM/GRU."""

import pytest
import torch
from rnnsuite.core import Cell, RecurrentStack, UserError, cell_names, get_cell
from rnnsuite.core.cells import register_cell
from torch import nn

TORCH_LAYERS = {"rnn": nn.RNN, "rnn_relu": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def torch_twin(stack: RecurrentStack, cell: str) -> nn.Module:
    """torch's own layer of the same shape, loaded with the stack's parameters."""
    kwargs = {"nonlinearity": "relu"} if cell == "rnn_relu" else {}
    layer = TORCH_LAYERS[cell](stack.input_size, stack.hidden_size, num_layers=stack.num_layers,
                               bidirectional=stack.bidirectional, **kwargs).double()
    state = {}
    D = stack.num_directions
    for k, c in enumerate(stack.cells):
        suffix = f"l{k // D}" + ("_reverse" if k % D else "")
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            state[f"{name}_{suffix}"] = getattr(c, name).detach().clone()
    layer.load_state_dict(state)
    return layer


def run(stack, x, state=None, lengths=None):
    out, final = stack(x, state, lengths)
    loss = out.pow(2).sum() + sum(s.sum() for s in final)
    grads = torch.autograd.grad(loss, [x] + list(stack.parameters()))
    return out, final, grads


@pytest.mark.parametrize("cell", ["rnn", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_reference_matches_fused_and_torch(cell, bidirectional):
    torch.manual_seed(0)
    stack = RecurrentStack(cell, 5, 6, num_layers=3, bidirectional=bidirectional, backend="reference").double()
    x = torch.randn(9, 4, 5, dtype=torch.double, requires_grad=True)
    init = tuple(torch.randn(3 * stack.num_directions, 4, 6, dtype=torch.double) for _ in range(stack.num_states))
    ref_out, ref_state, ref_grads = run(stack, x, init)
    stack.backend = "fused"
    fused_out, fused_state, fused_grads = run(stack, x, init)
    torch.testing.assert_close(fused_out, ref_out, atol=1e-5, rtol=0)
    for a, b in zip(fused_state, ref_state):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    for a, b in zip(fused_grads, ref_grads):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    # and against torch's own layer, computed independently
    twin = torch_twin(stack, cell)
    hx = init if cell == "lstm" else init[0]
    twin_out, _ = twin(x, hx)
    torch.testing.assert_close(twin_out, ref_out, atol=1e-5, rtol=0)
    twin_grad_x = torch.autograd.grad(twin_out.pow(2).sum(), x)[0]
    stack.backend = "reference"
    ref_grad_x = torch.autograd.grad(stack(x, init)[0].pow(2).sum(), x)[0]
    torch.testing.assert_close(twin_grad_x, ref_grad_x, atol=1e-5, rtol=0)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_lengths_match_packed_torch(cell):
    torch.manual_seed(1)
    stack = RecurrentStack(cell, 3, 4, num_layers=2, bidirectional=True, backend="reference").double()
    x = torch.randn(7, 3, 3, dtype=torch.double)
    lengths = torch.tensor([7, 2, 5])
    ref_out, ref_state = stack(x, lengths=lengths)
    twin = torch_twin(stack, cell)
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
    twin_out, twin_state = twin(packed)
    twin_out, _ = nn.utils.rnn.pad_packed_sequence(twin_out, total_length=7)
    torch.testing.assert_close(ref_out, twin_out, atol=1e-6, rtol=0)
    twin_h = twin_state[0] if cell == "lstm" else twin_state
    torch.testing.assert_close(ref_state[0], twin_h, atol=1e-6, rtol=0)
    stack.backend = "fused"
    fused_out, _ = stack(x, lengths=lengths)
    torch.testing.assert_close(fused_out, twin_out, atol=1e-6, rtol=0)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padded_lengths_without_final_state_match_packed_torch(cell, bidirectional):
    # final_state=False runs the padded batch unpacked (each backward direction on sequences
    # reversed within their lengths): outputs and gradients must equal torch's packed run
    torch.manual_seed(2)
    stack = RecurrentStack(cell, 3, 4, num_layers=2, bidirectional=bidirectional,
                           backend="fused").double()
    x = torch.randn(7, 4, 3, dtype=torch.double, requires_grad=True)
    lengths = torch.tensor([7, 2, 5, 1])
    out, final = stack(x, lengths=lengths, final_state=False)
    assert final is None
    twin = torch_twin(stack, cell)
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
    twin_out, _ = nn.utils.rnn.pad_packed_sequence(twin(packed)[0], total_length=7)
    torch.testing.assert_close(out, twin_out, atol=1e-6, rtol=0)
    weights = torch.randn_like(out)
    ours = torch.autograd.grad((out * weights).sum(), [x] + list(stack.parameters()))
    theirs = torch.autograd.grad((twin_out * weights).sum(), [x] + list(twin.parameters()))
    torch.testing.assert_close(ours[0], theirs[0], atol=1e-6, rtol=0)
    by_name = dict(zip([n for n, _ in twin.named_parameters()], theirs[1:]))
    D = stack.num_directions
    for k, c in enumerate(stack.cells):
        suffix = f"l{k // D}" + ("_reverse" if k % D else "")
        for name, grad in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), ours[1 + 4 * k:5 + 4 * k]):
            torch.testing.assert_close(grad, by_name[f"{name}_{suffix}"], atol=1e-6, rtol=0)


def test_dropout_between_layers_only_in_training():
    stack = RecurrentStack("gru", 4, 8, num_layers=2, dropout=0.5, backend="reference")
    x = torch.randn(5, 2, 4)
    stack.eval()
    a, _ = stack(x)
    b, _ = stack(x)
    assert torch.equal(a, b)
    stack.train()
    c, _ = stack(x)
    assert not torch.allclose(a, c)


def test_weight_drop_changes_training_output_on_both_backends():
    for backend in ("reference", "fused"):
        stack = RecurrentStack("lstm", 4, 8, weight_drop=0.5, backend=backend)
        x = torch.randn(5, 2, 4)
        stack.eval()
        a, _ = stack(x)
        stack.train()
        b, _ = stack(x)
        assert not torch.allclose(a, b)


class LayerNormLSTMCell(Cell):
    num_states = 2

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__(input_size, hidden_size, gates=4, bias=bias)
        self.ln = nn.LayerNorm(4 * hidden_size)

    def step(self, xp, state, weight_hh=None):
        h, c = state
        i, f, g, o = self.ln(xp + self.recurrent(h, weight_hh)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)


def test_registered_custom_cell_builds_stacks_by_name():
    register_cell("test_lnlstm", LayerNormLSTMCell, source="tests")
    assert "test_lnlstm" in cell_names()
    stack = RecurrentStack("test_lnlstm", 3, 5, num_layers=2, bidirectional=True)
    assert stack.backend == "reference"
    out, (h, c) = stack(torch.randn(4, 2, 3))
    assert out.shape == (4, 2, 10) and h.shape == (4, 2, 5) and c.shape == (4, 2, 5)
    with pytest.raises(UserError, match="no fused kernel"):
        RecurrentStack("test_lnlstm", 3, 5, backend="fused")


def test_builtin_cell_names_cannot_be_replaced():
    with pytest.raises(ValueError, match="built in"):
        register_cell("lstm", LayerNormLSTMCell)


def test_unknown_cell_is_a_user_error_listing_known_cells():
    with pytest.raises(UserError, match="unknown cell 'nope'.*gru"):
        get_cell("nope")


def _generic_loop(stack, x, state):
    """The stack's output with every cell's hand-written `scan` disabled (plain step loop)."""
    for c in stack.cells:
        c.scan = lambda xp, state, weight_hh: None
    try:
        return stack(x, state)
    finally:
        for c in stack.cells:
            del c.scan


@pytest.mark.parametrize("cell", ["rnn", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("bias", [True, False])
def test_hand_written_scan_matches_the_step_loop(cell, bias):
    torch.manual_seed(0)
    stack = RecurrentStack(cell, 3, 5, num_layers=2, bias=bias, backend="reference").double()
    x = torch.randn(7, 4, 3, dtype=torch.double, requires_grad=True)
    state = tuple(torch.randn(2, 4, 5, dtype=torch.double, requires_grad=True)
                  for _ in range(stack.num_states))
    results = []
    for forward in (stack, lambda x, s: _generic_loop(stack, x, s)):
        out, final = forward(x, state)
        loss = out.pow(2).sum() + sum((s * s.cos()).sum() for s in final)
        grads = torch.autograd.grad(loss, [x, *state, *stack.parameters()])
        results.append([out, *final, *grads])
    for fast, slow in zip(*results):
        torch.testing.assert_close(fast, slow, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cell", ["rnn", "rnn_relu", "lstm", "gru"])
def test_hand_written_scan_passes_gradcheck(cell):
    torch.manual_seed(0)
    c = get_cell(cell)(3, 4).double()
    xp = torch.randn(5, 2, c.weight_hh.shape[0], dtype=torch.double, requires_grad=True)
    state = tuple(torch.randn(2, 4, dtype=torch.double, requires_grad=True) for _ in range(c.num_states))
    w_hh = c.weight_hh.detach().clone().requires_grad_()

    def run(xp, w_hh, *state):
        out, final = c.scan(xp, state, w_hh)
        return (out, *final)

    assert c.scan(xp, state, w_hh) is not None
    assert torch.autograd.gradcheck(run, (xp, w_hh, *state))


def test_subclass_overriding_step_does_not_get_the_parents_scan():
    class Leaky(get_cell("rnn")):
        def step(self, xp, state, weight_hh=None):
            (h,) = state
            h = 0.5 * h + 0.5 * torch.tanh(xp + self.recurrent(h, weight_hh))
            return h, (h,)

    c = Leaky(3, 4)
    xp = torch.randn(5, 2, 4)
    assert c.scan(xp, c.init_state(2), c.weight_hh) is None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert get_cell("lstm")(3, 4).scan(torch.randn(5, 2, 16), (torch.zeros(2, 4),) * 2,
                                           torch.randn(16, 4)) is None


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_fused_stack_trains_under_cpu_bf16_autocast(cell):
    # oneDNN has no bf16 LSTM on CPUs without native bf16; the stack must still run there
    torch.manual_seed(0)
    stack = RecurrentStack(cell, 4, 8, num_layers=2, backend="fused")
    head = nn.Linear(8, 3)
    x = torch.randn(6, 5, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, final = stack(x)
        loss = head(out).float().pow(2).mean()
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in stack.parameters())
    reference, _ = stack(x)
    torch.testing.assert_close(out.float(), reference, atol=0.05, rtol=0.05)


def test_cpu_dropout_zeroes_p_and_scales_the_rest_and_its_gradient():
    from rnnsuite.core.cells._dropout import dropout

    torch.manual_seed(0)
    x = (torch.rand(200, 50, 40) + 0.5).requires_grad_()
    y = dropout(x, 0.3, True)
    kept = y != 0
    assert abs(1 - kept.float().mean().item() - 0.3) < 0.005  # 400,000 draws: sd 0.0007
    torch.testing.assert_close(y[kept], x[kept] / 0.7)
    g = torch.randn_like(x)
    y.backward(g)
    torch.testing.assert_close(x.grad, torch.where(kept, g / 0.7, torch.zeros_like(g)))
    assert dropout(x, 0.3, False) is x and dropout(x, 0.0, True) is x


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_fused_training_with_dropout_runs_layer_by_layer_like_torch_layers(cell):
    """Per-layer kernels with our dropout between them = torch's one-layer modules with that mask."""
    from rnnsuite.core.cells._dropout import dropout

    torch.manual_seed(1)
    stack = RecurrentStack(cell, 5, 7, num_layers=3, dropout=0.4, backend="fused").train()
    x, state = torch.randn(6, 4, 5), stack.init_state(4)
    state = tuple(torch.randn_like(s) for s in state)
    torch.manual_seed(7)
    out, final = stack(x, state)
    # the same computation by hand, drawing the masks in the same order
    torch_class = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell]
    layers = []
    for c in stack.cells:
        m = torch_class(c.weight_ih.shape[1], 7)
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(m, f"{name}_l0").copy_(getattr(c, name))
        layers.append(m)
    torch.manual_seed(7)  # after building the layers, whose initialisation draws numbers too
    h, finals = x, []
    for layer, m in enumerate(layers):
        hx = tuple(s[layer:layer + 1] for s in state)
        h, f = m(h, hx if cell == "lstm" else hx[0])
        finals.append(f if cell == "lstm" else (f,))
        if layer < 2:
            h = dropout(h, 0.4, True)
    torch.testing.assert_close(out, h, atol=1e-6, rtol=0)
    for i in range(len(final)):
        torch.testing.assert_close(final[i], torch.cat([f[i] for f in finals], 0), atol=1e-6, rtol=0)
    out.sum().backward()  # and gradients flow through every layer
    assert all(c.weight_ih.grad is not None and c.weight_ih.grad.abs().sum() > 0 for c in stack.cells)


def test_locked_dropout_keeps_one_mask_over_time():
    from rnnsuite.core.cells._dropout import dropout

    torch.manual_seed(0)
    x = (torch.rand(30, 400, 50) + 0.5).requires_grad_()
    y = dropout(x, 0.25, True, locked=True)
    kept = y != 0
    assert (kept == kept[:1]).all()  # the same elements dropped at every step
    assert abs(1 - kept[0].float().mean().item() - 0.25) < 0.01  # 20,000 draws: sd 0.003
    torch.testing.assert_close(y[kept], x[kept] / 0.75)
    y.sum().backward()
    torch.testing.assert_close(x.grad, kept.float() / 0.75)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_locked_dropout_between_layers_same_on_both_backends(cell):
    """The fused stack's per-layer path and the reference loop draw the same locked masks."""
    torch.manual_seed(2)
    fused = RecurrentStack(cell, 5, 7, num_layers=3, dropout=0.5, backend="fused", locked_dropout=True)
    reference = RecurrentStack(cell, 5, 7, num_layers=3, dropout=0.5, backend="reference", locked_dropout=True)
    reference.load_state_dict(fused.state_dict())
    x = torch.randn(9, 4, 5)
    torch.manual_seed(3)
    out_fused, _ = fused.train()(x)
    torch.manual_seed(3)
    out_reference, _ = reference.train()(x)
    torch.testing.assert_close(out_fused, out_reference, atol=1e-5, rtol=0)
    per_element = RecurrentStack(cell, 5, 7, num_layers=3, dropout=0.5, backend="reference")
    per_element.load_state_dict(fused.state_dict())
    torch.manual_seed(3)
    out_per_element, _ = per_element.train()(x)
    assert not torch.allclose(out_fused, out_per_element)  # the flag does change the masks
