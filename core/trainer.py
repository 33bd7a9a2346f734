"""The BPTT training loop: full or truncated BPTT, a step, validation, checkpoints, exact resume.
It knows no domain: a Task supplies batches, the loss and validation metrics.

The loop is here; each feature is a part in its own module:

    optim          the optimizer and the learning-rate schedule
    ema            train.ema, the moving average of the weights
    faults         train.on_nan: skip or roll back a non-finite step
    trainer_state  trainer_state.safetensors, everything exact resume needs
    metrics_log    metrics.csv and the running training loss
    sharding       DDP and each rank's batches under torchrun
    callbacks      progress bar, gradient diagnostics, early stopping, plots (and yours)
"""

from __future__ import annotations

import time
from itertools import islice
from pathlib import Path

import torch
from rnnsuite.core import sharding
from rnnsuite.core.bptt import detach_hidden
from rnnsuite.core.callbacks import (
    BestWeights,
    Callback,
    EarlyStopping,
    GradNormDiagnostics,
    LearningCurves,
    ProgressBar,
    TensorBoardLogger,
)
from rnnsuite.core.device import DistInfo, amp_dtype, move_to_device
from rnnsuite.core.domain import StepOutput
from rnnsuite.core.ema import WeightAverage
from rnnsuite.core.errors import UserError
from rnnsuite.core.faults import FaultGuard
from rnnsuite.core.metrics_log import LossWindow, MetricsLog
from rnnsuite.core.optim import (
    apply_gradients,
    lr_factor,
    make_optimizer,
    make_schedule,
    planned_steps,
)
from rnnsuite.core.trainer_state import restore_trainer, save_trainer

__all__ = ["Trainer", "Callback", "make_optimizer", "make_schedule", "lr_factor", "move_to_device"]

STATE_FILE = "trainer_state.safetensors"


class Trainer:
    """Train `model` on `task` with the `train` section of `config` (checked by `check_config`:
    `train_run` does it), writing into `run_dir`.

    Files (run_dir may be None for an in-memory fit): trainer_state.safetensors (everything for
    exact resume, one atomic file), model.safetensors (best weights on the monitored validation
    metric, else the last), metrics.csv, and what the callbacks write (plots/, grad_norms.csv).
    """

    def __init__(self, task, model: torch.nn.Module, config: dict, run_dir: Path | None,
                 device: torch.device, callbacks=(), show_progress: bool = True,
                 dist: DistInfo | None = None):
        self._start_time = time.monotonic()
        self._elapsed_before = 0.0  # training time of earlier sessions of a resumed run
        self.task = task
        self.config = config
        self.cfg = cfg = config["train"]
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.device = device
        self.dist = dist or DistInfo()
        self.model = model.to(device)
        self.train_model = sharding.wrap_model(self.model, self.dist, device, task)
        self.optimizer = make_optimizer([p for p in self.model.parameters() if p.requires_grad], cfg)
        self.amp_dtype = amp_dtype(device, cfg["amp"])
        self.scaler = torch.amp.GradScaler(device.type) if self.amp_dtype == torch.float16 else None
        self.steps_per_epoch = sharding.steps_per_epoch(task, cfg["seed"], self.dist)
        if self.steps_per_epoch == 0:
            raise UserError("the training data yields no batches (too little data for the batch size/window?)")
        self.total_steps = planned_steps(cfg, self.steps_per_epoch)
        time_fraction = (lambda: self.elapsed() / cfg["max_time"]) if cfg["max_time"] else (lambda: 0.0)
        self.scheduler, self.plateau = make_schedule(self.optimizer, cfg, self.total_steps, time_fraction)
        self.ema = WeightAverage(self.model, cfg.get("ema", 0.0))
        self.faults = FaultGuard(self.model, self.optimizer, self.scheduler, self.ema, cfg, self.is_main)
        self.log = MetricsLog()
        self.window = LossWindow(device)
        self.best_weights = BestWeights(cfg["monitor"], cfg["monitor_mode"], self.plateau)
        # the built-in parts around the caller's callbacks, in the order they are called
        diagnostics = [GradNormDiagnostics()] if cfg["grad_norms"] else []
        loggers = [TensorBoardLogger(*diagnostics)] if cfg["logger"] == "tensorboard" and self.writes_files else []
        self.callbacks = [*diagnostics, self.best_weights, *callbacks, *loggers,
                          ProgressBar(show_progress and self.is_main),
                          EarlyStopping(self.best_weights, cfg["patience"]), LearningCurves()]
        # where training stands (all saved for exact resume)
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.hidden = None
        self.last_eval_step = -1
        self.last_batch = None      # the last training batch (diagnostics)
        self.last_metrics: dict = {}   # the last validation's
        self.stop_reason = ""

    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    @property
    def writes_files(self) -> bool:
        return self.is_main and self.run_dir is not None

    def elapsed(self) -> float:
        """Seconds of training, over every resumed session."""
        return self._elapsed_before + (time.monotonic() - self._start_time)

    def request_stop(self, reason: str) -> None:
        """Stop after the current step (a callback may call this)."""
        self.stop_reason = self.stop_reason or reason

    def fit(self, resume: bool = False) -> dict:
        """Train until epochs, max_steps, max_time or early stopping; return a summary."""
        try:
            if resume:
                self._restore()
            self.faults.remember(self.step)
            self._start_time = time.monotonic()
            self._call("on_train_start")
            self.window.start = time.monotonic()   # its sums: zero, or the checkpoint's
            self._loop()
            if self.last_eval_step != self.step and self.stop_reason != "non_finite_weights":
                self._evaluate_and_checkpoint()
            self._call("on_train_end")
        finally:
            self._call("teardown")
        return {"steps": self.step, "epochs": self.epoch, "stop_reason": self.stop_reason,
                "best": self.best_weights.best, "skipped_steps": self.faults.skipped_steps,
                "rollbacks": self.faults.rollbacks, "elapsed_s": round(self.elapsed(), 2)}

    # -- the loop --------------------------------------------------------------------------------

    def _call(self, hook: str, *args) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(self, *args)

    def _time_is_up(self) -> bool:
        cfg = self.cfg
        if cfg["max_steps"] and self.step >= cfg["max_steps"]:
            self.request_stop("max_steps")
        elif cfg["max_time"] and self.elapsed() >= cfg["max_time"]:
            self.request_stop("max_time")
        if self.dist.enabled and cfg["max_time"]:    # every rank stops at the same step
            if sharding.any_rank(bool(self.stop_reason), self.dist, self.device):
                self.request_stop("max_time")
        return bool(self.stop_reason)

    def _loop(self) -> None:
        cfg = self.cfg
        self.model.train()
        if self._time_is_up():
            return
        while cfg["epochs"] <= 0 or self.epoch < cfg["epochs"]:
            generator = torch.Generator().manual_seed(cfg["seed"] * 1_000_003 + self.epoch)
            batches = sharding.rank_batches(self.task, self.task.train_batches(self.epoch, generator), self.dist)
            if self.batch_in_epoch:
                batches = islice(batches, self.batch_in_epoch, None)  # replay to the saved position
            for batch in batches:
                self._train_step(batch)
                if cfg["eval_every"] and self.step % cfg["eval_every"] == 0:
                    self._evaluate_and_checkpoint()
                elif cfg["checkpoint_every"] and self.step % cfg["checkpoint_every"] == 0:
                    self._save_checkpoint()
                if self.stop_reason or self._time_is_up():
                    return
            self.epoch += 1
            self.batch_in_epoch = 0
            self.hidden = None
            if not cfg["eval_every"]:
                self._evaluate_and_checkpoint()
                if self.stop_reason:
                    return
        self.request_stop("epochs")

    def _train_step(self, batch) -> None:
        batch = move_to_device(batch, self.device)
        self.last_batch = batch
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            out = self.task.training_step(self.train_model, batch, detach_hidden(self.hidden))
        if not isinstance(out, StepOutput):
            out = StepOutput(*out) if isinstance(out, tuple) else StepOutput(out)
        logged = sharding.step_loss(out.loss, self.task, self.dist)
        bad = apply_gradients(out.loss, self.model, self.optimizer, self.scaler, self.cfg["clip_grad_norm"])
        if bad is None:
            self.window.add(logged)
            self.hidden = out.hidden
            self.ema.update()
        else:   # skipped and counted instead of poisoning the weights
            self.hidden = None
            self.faults.step_skipped(bad, self.step + 1, loss_scaled=self.scaler is not None)
        self.scheduler.step()
        self.step += 1
        self.batch_in_epoch += 1
        self.window.items += int(out.items or 0)
        self._call("on_step_end", out)

    # -- validation and checkpoints ------------------------------------------------------------

    def _weights_usable(self) -> bool:
        rollbacks = self.faults.rollbacks
        usable = self.faults.weights_usable(self.step)
        if self.faults.rollbacks != rollbacks:
            self.hidden = None
        if not usable:
            self.stop_reason = "non_finite_weights"
        return usable

    def _log(self, split: str, metric: str, value: float) -> None:
        self.log.add(self.step, self.epoch, split, metric, value, self.elapsed())

    def _evaluate_and_checkpoint(self) -> None:
        """Validate, log, keep the best weights, checkpoint; callbacks may then stop the run."""
        self.last_eval_step = self.step
        if not self._weights_usable():
            return
        logged = {}
        if self.window.count:
            logged["train/loss"] = self.window.mean_loss()
            self._log("train", "loss", logged["train/loss"])
        self._log("train", "lr", self.optimizer.param_groups[0]["lr"])
        if self.window.items:
            self._log("train", "items_per_s", self.window.rate())
        self.window.reset()
        self.model.eval()
        with torch.no_grad(), self.ema.applied():
            metrics = self.task.validate(self.model) or {}
        self.model.train()
        self.last_metrics = metrics
        for name, value in metrics.items():
            self._log("valid", name, value)
            logged[f"valid/{name}"] = float(value)
        for name in ("skipped_steps", "rollbacks"):
            if getattr(self.faults, name):
                self._log("train", name, getattr(self.faults, name))
        self._call("on_evaluate", logged)
        self._save_checkpoint()

    def _save_checkpoint(self) -> None:
        if not self._weights_usable():
            return
        self.faults.remember(self.step)
        if not self.writes_files:
            return
        # the logs first: on resume their rows after the checkpoint's step are dropped anyway
        self.log.write(self.run_dir / "metrics.csv")
        self._call("on_save")
        save_trainer(self, self.run_dir / STATE_FILE)
        self._call("on_checkpoint")

    def _restore(self) -> None:
        meta = restore_trainer(self, self.run_dir / STATE_FILE if self.run_dir else None)
        self._elapsed_before = meta["elapsed"]
        if any(e["start_step"] == self.step for e in self.cfg["extensions"]):
            # an extension starts here: its schedule, not the finished run's last rate
            for group, base in zip(self.optimizer.param_groups, self.scheduler.base_lrs):
                group["lr"] = base * lr_factor(self.step, self.cfg, self.total_steps)
        # every row is logged by a validation: those after the checkpoint's last one are from
        # validations it does not hold (one at its own step, when a kill came between the log's
        # write and the trainer state's), and the resumed run logs them again
        self.log.restore(self.run_dir / "metrics.csv", self.last_eval_step)
        self._call("on_resume")
        self.model.train()
