"""Numerical faults: NaN/inf loss or gradients are skipped and reported, or rolled back to the
last good checkpoint with a lower learning rate; a non-finite model is never saved."""

import csv

import pytest
import torch
from hardening_helpers import StreamDomain, StreamTask, stream_config
from rnnsuite.core import UserError
from rnnsuite.core.checkpoint import load_weights
from rnnsuite.core.run_lifecycle import train_run
from rnnsuite.core.trainer import Callback


class InfGradient(torch.autograd.Function):
    """Identity forward, infinite gradient backward: a finite loss with a poisoned gradient."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * float("inf")


def faulty(kind, at):
    class Faulty(StreamTask):
        def fault(self, call, model, loss):
            if call not in at:
                return loss
            if kind == "nan_loss":
                return loss * float("nan")
            if kind == "inf_gradient":
                return InfGradient.apply(loss)
            if kind == "nan_weights":
                with torch.no_grad():
                    next(model.parameters()).fill_(float("nan"))
            return loss

    return Faulty


class NoValidation:
    def validate(self, model):
        return {}


def rows(run, metric):
    with open(run / "metrics.csv", newline="") as f:
        return [r for r in csv.DictReader(f) if r["metric"] == metric]


def all_finite(path):
    return all(torch.isfinite(t).all() for t in load_weights(path)[0].values() if t.is_floating_point())


@pytest.mark.parametrize("kind", ["nan_loss", "inf_gradient"])
def test_non_finite_step_is_skipped_reported_and_counted(tmp_path, capsys, kind):
    run = train_run(StreamDomain(faulty(kind, {3})), stream_config("max_steps=8"),
                    out=tmp_path / "run", show_progress=False)
    assert run.summary["skipped_steps"] == 1
    err = capsys.readouterr().err
    what = "loss" if kind == "nan_loss" else "gradient"
    assert f"Warning: non-finite {what} at step 3: step skipped" in err
    assert rows(tmp_path / "run", "skipped_steps")[-1]["value"] == "1.0"
    assert all_finite(tmp_path / "run" / "model.safetensors")
    assert all_finite(tmp_path / "run" / "trainer_state.safetensors")


def test_rollback_restores_the_last_checkpoint_and_lowers_the_lr(tmp_path, capsys):
    seen = {}

    class Watch(Callback):
        def on_checkpoint(self, trainer):
            seen[trainer.step] = {k: v.clone() for k, v in trainer.model.state_dict().items()}

        def on_step_end(self, trainer, output):
            if trainer.step == 7:  # the poisoned step: the weights are step 5's again
                seen["after"] = {k: v.clone() for k, v in trainer.model.state_dict().items()}

    cfg = stream_config("max_steps=10", "on_nan=rollback", "rollback_lr_factor=0.25", "schedule=constant")
    run = train_run(StreamDomain(faulty("nan_loss", {7})), cfg, out=tmp_path / "run",
                    show_progress=False, callbacks=[Watch()])
    assert run.summary["rollbacks"] == 1 and run.summary["skipped_steps"] == 1
    for key, value in seen[5].items():
        assert torch.equal(seen["after"][key], value), key
    lrs = [float(r["value"]) for r in rows(tmp_path / "run", "lr")]
    assert lrs[0] == pytest.approx(0.01) and lrs[-1] == pytest.approx(0.0025)
    assert "rolled back to the weights of step 5, lr x0.25" in capsys.readouterr().err
    assert rows(tmp_path / "run", "rollbacks")[-1]["value"] == "1.0"


def test_rollback_on_a_run_in_memory(tmp_path):
    cfg = stream_config("max_steps=10", "on_nan=rollback")
    run = train_run(StreamDomain(faulty("nan_weights", {6})), cfg, out=None, show_progress=False)
    assert run.summary["rollbacks"] == 1
    assert all(torch.isfinite(p).all() for p in run.model.parameters())


@pytest.mark.parametrize("validated", [True, False], ids=["with_validation", "without_validation"])
def test_non_finite_weights_are_never_saved_over_a_good_checkpoint(tmp_path, capsys, validated):
    task = faulty("nan_weights", {7})
    if not validated:  # nothing to compare against: every evaluation would save the weights
        task = type("Unvalidated", (NoValidation, task), {})
    saved = {}

    class Keep(Callback):
        def on_checkpoint(self, trainer):
            for name in ("model.safetensors", "trainer_state.safetensors"):
                saved[name] = (tmp_path / "run" / name).read_bytes()

    run = train_run(StreamDomain(task), stream_config("max_steps=15"), out=tmp_path / "run",
                    show_progress=False, callbacks=[Keep()])
    assert run.summary["stop_reason"] == "non_finite_weights" and run.summary["steps"] == 10
    for name, data in saved.items():  # still the step-5 files
        assert (tmp_path / "run" / name).read_bytes() == data
        assert all_finite(tmp_path / "run" / name)
    assert "weights became non-finite at step 10" in capsys.readouterr().err
    assert all(torch.isfinite(p).all() for p in run.model.parameters())  # the best, reloaded


def test_checkpoint_every_step_never_saves_non_finite_weights(tmp_path):
    cfg = stream_config("max_steps=12", "checkpoint_every=1", "eval_every=0")
    train_run(StreamDomain(faulty("nan_weights", {4})), cfg, out=tmp_path / "run", show_progress=False)
    state, meta = load_weights(tmp_path / "run" / "trainer_state.safetensors")
    assert all_finite(tmp_path / "run" / "trainer_state.safetensors")
    assert '"step": 3' in meta["trainer"]


def test_rollback_recovers_from_non_finite_weights(tmp_path):
    cfg = stream_config("max_steps=15", "on_nan=rollback")
    run = train_run(StreamDomain(faulty("nan_weights", {7})), cfg, out=tmp_path / "run", show_progress=False)
    assert run.summary["steps"] == 15 and run.summary["rollbacks"] >= 1
    assert all_finite(tmp_path / "run" / "model.safetensors")


@pytest.mark.parametrize("setting, needle", [("on_nan=explode", "train.on_nan"),
                                             ("rollback_lr_factor=0", "rollback_lr_factor")])
def test_bad_fault_settings_are_user_errors(tmp_path, setting, needle):
    with pytest.raises(UserError, match=needle):
        train_run(StreamDomain(), stream_config(setting), out=tmp_path / "run", show_progress=False)


def test_fp16_loss_scale_overflow_is_not_a_fault(tmp_path, capsys):
    """With fp16 AMP, GradScaler lowers its loss scale whenever the scaled gradients overflow:
    those skipped steps are normal, so they neither roll back nor warn. (A CPU GradScaler and
    an infinite gradient stand in for CUDA fp16 and an overflow here.)"""

    class Scaled(Callback):
        def on_train_start(self, trainer):
            trainer.scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)

    cfg = stream_config("max_steps=8", "on_nan=rollback")
    run = train_run(StreamDomain(faulty("inf_gradient", {3})), cfg, out=tmp_path / "run",
                    show_progress=False, callbacks=[Scaled()])
    assert run.summary["skipped_steps"] == 1 and run.summary["rollbacks"] == 0
    assert "non-finite" not in capsys.readouterr().err
    assert all_finite(tmp_path / "run" / "model.safetensors")
