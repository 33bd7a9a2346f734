"""The CUDA path (cuDNN fused kernels, AMP, device placement); skipped without a GPU."""

import pytest
import torch
from rnnsuite.core import RecurrentStack, apply_overrides, default_config, train_run
from test_trainer import ToyDomain

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_cudnn_matches_reference_on_gpu(cell, bidirectional, monkeypatch):
    # TF32 (on by default for cuDNN) rounds products to 10 mantissa bits: compare in full fp32.
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    torch.manual_seed(0)
    stack = RecurrentStack(cell, 16, 32, num_layers=2, bidirectional=bidirectional, backend="reference").cuda()
    x = torch.randn(20, 8, 16, device="cuda", requires_grad=True)
    lengths = torch.tensor([20, 5, 13, 20, 1, 7, 20, 9])
    outs, grads = [], []
    for backend in ("reference", "fused"):
        stack.backend = backend
        for kwargs in ({}, {"lengths": lengths}):
            out, state = stack(x, **kwargs)
            g = torch.autograd.grad(out.pow(2).sum() + state[0].sum(), [x] + list(stack.parameters()))
            outs.append(out)
            grads.append(g)
    torch.testing.assert_close(outs[2], outs[0], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(outs[3], outs[1], atol=1e-4, rtol=1e-4)
    for a, b in zip(grads[2], grads[0]):
        torch.testing.assert_close(a, b, atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("amp", ["off", "auto", "fp16"])
def test_training_on_gpu_with_amp_lowers_loss_and_saves(tmp_path, amp):
    cfg = apply_overrides(default_config(ToyDomain()), ["device=cuda", f"amp={amp}", "epochs=3", "cell=lstm"])
    run = train_run(ToyDomain(), cfg, out=tmp_path / "run", show_progress=False)
    assert run.device.type == "cuda"
    assert run.summary["best"] < 1.9  # ln(7) = 1.95 is chance level
    assert (tmp_path / "run" / "model.safetensors").is_file()
