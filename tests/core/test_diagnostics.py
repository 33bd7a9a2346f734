"""Per-time-step gradient norms: the vanishing-gradient picture."""

import csv

import pytest
from rnnsuite.core import apply_overrides, default_config, train_run
from rnnsuite.core.diagnostics import per_step_grad_norms
from test_trainer import ToyDomain
from toytasks import LastStepTask


def decay(cell: str, seed: int = 0) -> float:
    """‖∂L/∂h_0‖ / ‖∂L/∂h_T‖ for an untrained model whose loss sits on the last step."""
    import torch

    torch.manual_seed(seed)
    cfg = apply_overrides(default_config(ToyDomain()), [f"cell={cell}", "hidden_size=32"])
    task = LastStepTask(cfg, length=60)
    model = task.build_model()
    norms = per_step_grad_norms(model, task, next(task.train_batches(0, None)))
    (values,) = norms.values()
    assert len(values) == 60
    return values[0] / values[-1]


def test_tanh_rnn_gradient_vanishes_much_faster_than_lstm():
    rnn = min(decay("rnn", s) for s in range(3))
    lstm = min(decay("lstm", s) for s in range(3))
    # 60 steps back, the tanh RNN keeps a vanishing fraction of the gradient; the LSTM's
    # additive cell path keeps orders of magnitude more.
    assert rnn < 1e-6
    assert lstm / rnn > 1e3


def test_grad_norms_are_written_and_plotted_during_training(tmp_path):
    cfg = apply_overrides(default_config(ToyDomain()), ["grad_norms=true", "max_steps=10", "cell=gru"])
    train_run(ToyDomain(), cfg, out=tmp_path / "run", show_progress=False)
    rows = list(csv.DictReader(open(tmp_path / "run" / "grad_norms.csv")))
    assert rows and {"step", "layer", "t", "distance", "norm"} <= set(rows[0])
    assert all(float(r["norm"]) >= 0 for r in rows)
    assert (tmp_path / "run" / "plots" / "grad_norms.png").is_file()


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_diagnostics_leave_the_backend_and_mode_as_they_were(cell):
    cfg = apply_overrides(default_config(ToyDomain()), [f"cell={cell}"])
    task = LastStepTask(cfg, length=5)
    model = task.build_model()
    model.train()
    per_step_grad_norms(model, task, next(task.train_batches(0, None)))
    assert model.training and model.rnn.backend == "fused"
    assert all(p.grad is None for p in model.parameters())
