"""The trainer on synthetic tasks: TBPTT, exact resume, early stopping, NaN steps, files."""

import csv
import json
from pathlib import Path

import pytest
import torch
from rnnsuite.core import (
    Callback,
    Domain,
    UserError,
    apply_overrides,
    default_config,
    detach_hidden,
    train_run,
)
from rnnsuite.core.bptt import batchify, tbptt_windows
from rnnsuite.core.checkpoint import load_weights, save_weights
from rnnsuite.core.trainer import lr_factor
from toytasks import CopyStreamTask


class ToyDomain(Domain):
    name = "toy"
    data_required = False

    def __init__(self, task_class=CopyStreamTask):
        self.task_class = task_class

    def config_defaults(self):
        return {"model": {"hidden_size": 8}, "train": {"epochs": 2, "batch_size": 4, "bptt": 16,
                                                       "eval_every": 10, "lr": 0.01}}

    def create_task(self, config, data, state):
        return self.task_class(config, data, state)


def toy_config(*overrides):
    return apply_overrides(default_config(ToyDomain()), list(overrides))


def test_batchify_lays_corpus_out_as_columns():
    data = torch.arange(26)
    cols = batchify(data, 4)
    assert cols.shape == (6, 4)
    assert cols[:, 0].tolist() == [0, 1, 2, 3, 4, 5]
    assert cols[:, 1].tolist() == [6, 7, 8, 9, 10, 11]


def test_tbptt_windows_cover_the_stream_with_shifted_targets():
    stream = batchify(torch.arange(40), 2)  # (20, 2)
    windows = list(tbptt_windows(stream, 6))
    assert [len(x) for x, _ in windows] == [6, 6, 6, 1]
    for x, y in windows:
        assert torch.equal(y, x + 1)


def test_detach_hidden_cuts_the_graph_but_keeps_values():
    h = torch.randn(2, 3, requires_grad=True) * 2
    state = (h, h + 1)
    detached = detach_hidden(state)
    assert all(not s.requires_grad for s in detached)
    assert torch.equal(detached[0], h.detach()) and isinstance(detached, tuple)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_training_lowers_validation_loss(cell, tmp_path):
    run = train_run(ToyDomain(), toy_config(f"cell={cell}", "epochs=6"), out=tmp_path / "run",
                    show_progress=False)
    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    valid = [float(r["value"]) for r in rows if r["split"] == "valid" and r["metric"] == "loss"]
    assert valid[-1] < valid[0] * 0.8
    assert run.summary["stop_reason"] == "epochs"
    for name in ("config.json", "model.safetensors", "trainer_state.safetensors", "plots/learning_curve.png"):
        assert (tmp_path / "run" / name).is_file()


def weights(path):
    return load_weights(path)[0]


class Crash(Exception):
    pass


class CrashAt(Callback):
    """Dies in the middle of step `step`, as a kill would: the last checkpoint is older."""

    def __init__(self, step):
        self.at = step

    def on_step_end(self, trainer, output):
        if trainer.step == self.at:
            raise Crash


@pytest.mark.parametrize("crash_at", [7, 10, 23])
def test_resume_continues_bit_exact(tmp_path, crash_at):
    cfg = toy_config("cell=lstm", "dropout=0.3", "num_layers=2", "epochs=2", "checkpoint_every=3")
    train_run(ToyDomain(), cfg, out=tmp_path / "full", show_progress=False)
    # die mid-epoch (a hidden state is being carried), then resume from the last checkpoint
    with pytest.raises(Crash):
        train_run(ToyDomain(), cfg, out=tmp_path / "split", show_progress=False, callbacks=[CrashAt(crash_at)])
    train_run(ToyDomain(), cfg, out=tmp_path / "split", resume=True, show_progress=False)
    full, split = weights(tmp_path / "full" / "model.safetensors"), weights(tmp_path / "split" / "model.safetensors")
    assert full.keys() == split.keys()
    for key in full:
        assert torch.equal(full[key], split[key]), key
    assert (tmp_path / "full" / "model.safetensors").read_bytes() == \
        (tmp_path / "split" / "model.safetensors").read_bytes()        # sha256sum agrees too
    state_full = weights(tmp_path / "full" / "trainer_state.safetensors")
    state_split = weights(tmp_path / "split" / "trainer_state.safetensors")
    for key in state_full:
        if key.startswith(("model.", "optim.")):
            assert torch.equal(state_full[key], state_split[key]), key
    rows_full = list(csv.DictReader(open(tmp_path / "full" / "metrics.csv")))
    rows_split = list(csv.DictReader(open(tmp_path / "split" / "metrics.csv")))
    pick = lambda rows: [(r["step"], r["metric"], r["value"]) for r in rows if r["split"] == "valid"]  # noqa: E731
    assert pick(rows_full) == pick(rows_split)
    # the resumed log holds each row once (no second lr row at the resume step), as the full one
    keys = lambda rows: [(r["step"], r["split"], r["metric"]) for r in rows]  # noqa: E731
    assert keys(rows_split) == keys(rows_full) and len(set(keys(rows_split))) == len(rows_split)


def test_saved_weights_are_byte_identical_whatever_the_metadata_order(tmp_path):
    from safetensors import safe_open

    tensors = {"b": torch.arange(3.0), "a": torch.ones(2, 2)}
    metadata = {f"key{i}": i for i in range(12)}
    save_weights(tmp_path / "one.safetensors", tensors, metadata)
    save_weights(tmp_path / "two.safetensors", tensors, dict(reversed(metadata.items())))
    assert (tmp_path / "one.safetensors").read_bytes() == (tmp_path / "two.safetensors").read_bytes()
    with safe_open(str(tmp_path / "one.safetensors"), framework="pt") as f:   # still a valid file
        assert f.metadata() == {k: str(v) for k, v in metadata.items()}
        assert torch.equal(f.get_tensor("b"), tensors["b"])


def test_resume_without_checkpoint_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="nothing to resume|not a run folder"):
        train_run(ToyDomain(), toy_config(), out=tmp_path / "empty", resume=True, show_progress=False)


def test_training_into_an_existing_run_refuses_and_keeps_it(tmp_path):
    train_run(ToyDomain(), toy_config("max_steps=3"), out=tmp_path / "run", show_progress=False)
    before = (tmp_path / "run" / "model.safetensors").read_bytes()
    with pytest.raises(UserError, match="already holds a run"):
        train_run(ToyDomain(), toy_config(), out=tmp_path / "run", show_progress=False)
    assert (tmp_path / "run" / "model.safetensors").read_bytes() == before


def test_early_stopping_stops_when_validation_stops_improving(tmp_path):
    cfg = toy_config("epochs=50", "eval_every=5", "patience=2", "lr=0.0")
    run = train_run(ToyDomain(), cfg, out=tmp_path / "run", show_progress=False)
    assert run.summary["stop_reason"] == "early_stopping"
    assert run.summary["steps"] == 15  # best at 5, no improvement at 10 and 15


def test_max_steps_and_max_time_stop_cleanly_and_save(tmp_path):
    run = train_run(ToyDomain(), toy_config("max_steps=4"), out=tmp_path / "a", show_progress=False)
    assert run.summary["steps"] == 4 and run.summary["stop_reason"] == "max_steps"
    run = train_run(ToyDomain(), toy_config("max_time=0.001", "epochs=100"), out=tmp_path / "b", show_progress=False)
    assert run.summary["stop_reason"] == "max_time"
    assert (tmp_path / "b" / "model.safetensors").is_file()


def test_nan_loss_step_is_skipped_and_weights_stay_finite(tmp_path):
    class PoisonedTask(CopyStreamTask):
        def training_step(self, model, batch, hidden):
            self.calls = getattr(self, "calls", 0) + 1
            self.poison = self.calls == 3
            return super().training_step(model, batch, hidden)

    run = train_run(ToyDomain(PoisonedTask), toy_config("max_steps=6"), out=tmp_path / "run", show_progress=False)
    assert run.summary["skipped_steps"] == 1
    for t in weights(tmp_path / "run" / "model.safetensors").values():
        assert torch.isfinite(t).all()


def test_config_json_holds_domain_config_and_task_state(tmp_path):
    train_run(ToyDomain(), toy_config("max_steps=2"), out=tmp_path / "run", show_progress=False)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["domain"] == "toy"
    assert saved["task_state"] == {"vocab": 7}
    assert saved["config"]["model"]["hidden_size"] == 8
    assert saved["versions"]["torch"] == torch.__version__


def test_cosine_schedule_warms_up_then_decays_to_floor():
    cfg = {"warmup_steps": 10, "schedule": "cosine", "min_lr": 0.1}
    assert lr_factor(0, cfg, 110) == pytest.approx(0.1)
    assert lr_factor(9, cfg, 110) == pytest.approx(1.0)
    assert lr_factor(60, cfg, 110) == pytest.approx(0.1 + 0.9 * 0.5)
    assert lr_factor(110, cfg, 110) == pytest.approx(0.1)
    # no step budget (epochs unlimited, a time budget): the elapsed share alone moves it on
    assert lr_factor(10_000, cfg, 0, time_fraction=0.0) == pytest.approx(1.0)
    assert lr_factor(10_000, cfg, 0, time_fraction=0.5) == pytest.approx(0.1 + 0.9 * 0.5)


def test_step_schedule_multiplies_by_gamma_every_step_size():
    cfg = {"warmup_steps": 0, "schedule": "step", "gamma": 0.5, "step_size": 10}
    assert [lr_factor(s, cfg, 100) for s in (0, 9, 10, 25)] == [1.0, 1.0, 0.5, 0.25]


@pytest.mark.parametrize("optimizer,schedule", [("sgd", "step"), ("adam", "plateau"), ("adamw", "cosine"),
                                                ("rmsprop", "constant")])
def test_every_optimizer_and_schedule_resumes(tmp_path, optimizer, schedule):
    cfg = toy_config(f"optimizer={optimizer}", f"schedule={schedule}", "max_steps=12", "eval_every=4", "lr=0.005")
    train_run(ToyDomain(), cfg, out=tmp_path / "full", show_progress=False)
    with pytest.raises(Crash):
        train_run(ToyDomain(), cfg, out=tmp_path / "split", show_progress=False, callbacks=[CrashAt(10)])
    train_run(ToyDomain(), cfg, out=tmp_path / "split", resume=True, show_progress=False)
    a, b = weights(tmp_path / "full" / "model.safetensors"), weights(tmp_path / "split" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_fit_without_a_run_folder_trains_in_memory_and_writes_nothing(in_tmp):
    import tempfile

    before = set(Path(tempfile.gettempdir()).iterdir())
    run = train_run(ToyDomain(), toy_config("epochs=2"), out=None, show_progress=False)
    assert run.path is None and run.summary["best"] is not None
    assert list(in_tmp.iterdir()) == []
    assert not [p for p in set(Path(tempfile.gettempdir()).iterdir()) - before if "rnnsuite" in p.name]
    # the returned model holds the best weights: validating it reproduces the best loss
    run.model.eval()
    with torch.no_grad():
        assert run.task.validate(run.model)["loss"] == pytest.approx(run.summary["best"], rel=1e-6)


def test_task_state_learned_during_training_is_saved_again(tmp_path):
    class Calibrating(CopyStreamTask):
        def state_dict(self):
            return {"vocab": self.vocab, "calibration": getattr(self, "calibration", None)}

        def validate(self, model):
            self.calibration = 1.5
            return super().validate(model)

    train_run(ToyDomain(Calibrating), toy_config("max_steps=3"), out=tmp_path / "run", show_progress=False)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["task_state"]["calibration"] == 1.5


def test_cosine_follows_the_time_budget_when_time_ends_training():
    cfg = {"warmup_steps": 0, "schedule": "cosine", "min_lr": 0.0}
    assert lr_factor(10, cfg, 10_000, time_fraction=0.5) == pytest.approx(0.5)
    assert lr_factor(10, cfg, 10_000, time_fraction=1.0) == pytest.approx(0.0)
    assert lr_factor(5_000, cfg, 10_000, time_fraction=0.1) == pytest.approx(0.5)



class RecordWeights(Callback):
    """The model's floating-point weights at the start and after every optimizer step."""

    def on_train_start(self, trainer):
        self.start = self._copy(trainer)
        self.after_step = []

    def on_step_end(self, trainer, output):
        self.after_step.append(self._copy(trainer))

    @staticmethod
    def _copy(trainer):
        return {k: v.detach().clone() for k, v in trainer.model.state_dict().items() if v.is_floating_point()}


def test_ema_averages_the_weights_and_validates_and_saves_the_average(tmp_path):
    decay = 0.9
    record = RecordWeights()
    run = train_run(ToyDomain(), toy_config("max_steps=25", "eval_every=25", "dropout=0.0", f"ema={decay}"),
                    out=tmp_path / "run", show_progress=False, callbacks=[record])
    expected = {k: v.double() for k, v in record.start.items()}
    for n, w in enumerate(record.after_step):  # by hand, with the decay's warm-up
        d = min(decay, (1 + n) / (10 + n))
        expected = {k: d * expected[k] + (1 - d) * w[k].double() for k in expected}
    state = weights(tmp_path / "run" / "trainer_state.safetensors")
    best = weights(tmp_path / "run" / "model.safetensors")
    for k in expected:
        torch.testing.assert_close(state[f"ema.{k}"].double(), expected[k], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(best[k], state[f"ema.{k}"], rtol=0, atol=0)  # the average is saved
        assert torch.equal(state[f"model.{k}"], record.after_step[-1][k])  # training goes on from its own
    assert not torch.equal(best["head.weight"], record.after_step[-1]["head.weight"])
    # the logged validation loss is the average's, and the loaded run holds the average
    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    logged = [float(r["value"]) for r in rows if r["split"] == "valid" and r["metric"] == "loss"][-1]
    run.model.eval()
    with torch.no_grad():
        assert run.task.validate(run.model)["loss"] == pytest.approx(logged, rel=1e-6)


def test_ema_resumes_bit_exact(tmp_path):
    cfg = toy_config("cell=lstm", "epochs=2", "checkpoint_every=3", "ema=0.95")
    train_run(ToyDomain(), cfg, out=tmp_path / "full", show_progress=False)
    with pytest.raises(Crash):
        train_run(ToyDomain(), cfg, out=tmp_path / "split", show_progress=False, callbacks=[CrashAt(10)])
    train_run(ToyDomain(), cfg, out=tmp_path / "split", resume=True, show_progress=False)
    full = weights(tmp_path / "full" / "trainer_state.safetensors")
    split = weights(tmp_path / "split" / "trainer_state.safetensors")
    ema_keys = [k for k in full if k.startswith("ema.")]
    assert ema_keys
    for key in ema_keys + [k for k in full if k.startswith("model.")]:
        assert torch.equal(full[key], split[key]), key


def test_ema_out_of_range_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="train.ema must be in"):
        train_run(ToyDomain(), toy_config("ema=1.0"), out=tmp_path / "run", show_progress=False)


def test_betas_reach_the_optimizer_and_bad_ones_are_user_errors():
    from rnnsuite.core.trainer import make_optimizer

    params = [torch.nn.Parameter(torch.zeros(3))]
    cfg = toy_config("betas=[0.8, 0.95]")["train"]
    assert make_optimizer(params, cfg).param_groups[0]["betas"] == (0.8, 0.95)
    from rnnsuite.core.config import check_config

    for bad in ("betas=[0.9]", "betas=[0.9, 1.0]", "betas=[\"a\", 0.9]"):
        with pytest.raises(UserError, match="train.betas"):
            check_config(toy_config(bad))


def test_a_finished_run_is_extended_explicitly_and_resumes_exactly_inside_the_extension(tmp_path):
    """`--resume` after the planned end does nothing; `extend` adds N steps on a stated schedule
    (restart: a new cosine from the base rate; constant: the rate reached), recorded in the
    run's config, and a kill inside the extension resumes bit for bit."""
    import json

    cfg = toy_config("max_steps=6", "epochs=0", "checkpoint_every=2", "schedule=cosine")
    for name in ("full", "split"):
        train_run(ToyDomain(), cfg, out=tmp_path / name, show_progress=False)
    again = train_run(ToyDomain(), cfg, out=tmp_path / "full", resume=True, show_progress=False)
    assert again.summary["steps"] == 6                      # the planned end: nothing more
    lrs = {}

    class Rates(Callback):
        def on_step_end(self, trainer, output):
            lrs[trainer.step] = trainer.optimizer.param_groups[0]["lr"]

    extend = {"steps": 4, "schedule": "restart"}
    run = train_run(ToyDomain(), cfg, out=tmp_path / "full", resume=True, show_progress=False,
                    extend=extend, callbacks=[Rates()])
    assert run.summary["steps"] == 10
    base = cfg["train"]["lr"]
    assert lrs[7] == pytest.approx(base * lr_factor(7, {**cfg["train"], "extensions": [
        {"start_step": 6, "steps": 4, "schedule": "restart", "factor": 0.0}]}, 10))
    assert lrs[7] > 0.5 * base and lrs[10] < 0.1 * base    # restarted, then decayed again
    saved = json.loads((tmp_path / "full" / "config.json").read_text())["config"]["train"]
    assert saved["extensions"][0]["start_step"] == 6 and saved["max_steps"] == 10
    with pytest.raises(Crash):
        train_run(ToyDomain(), cfg, out=tmp_path / "split", resume=True, show_progress=False,
                  extend=extend, callbacks=[CrashAt(9)])
    train_run(ToyDomain(), cfg, out=tmp_path / "split", resume=True, show_progress=False)
    assert (tmp_path / "full" / "model.safetensors").read_bytes() == \
        (tmp_path / "split" / "model.safetensors").read_bytes()


def test_constant_extension_keeps_the_rate_the_run_reached(tmp_path):
    cfg = toy_config("max_steps=4", "epochs=0", "schedule=step", "step_size=2", "gamma=0.5")
    train_run(ToyDomain(), cfg, out=tmp_path / "run", show_progress=False)
    lrs = []

    class Rates(Callback):
        def on_step_end(self, trainer, output):
            lrs.append(trainer.optimizer.param_groups[0]["lr"])

    train_run(ToyDomain(), cfg, out=tmp_path / "run", resume=True, show_progress=False,
              extend={"steps": 3, "schedule": "constant"}, callbacks=[Rates()])
    reached = cfg["train"]["lr"] * 0.25
    assert lrs == pytest.approx([reached] * 3)
