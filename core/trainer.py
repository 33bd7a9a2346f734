"""The BPTT trainer: full or truncated BPTT, clipping, schedules, early stopping, checkpoints,
exact resume, metrics, progress and diagnostics. It knows no domain: a Task supplies batches,
the loss and validation metrics; per-step events go to plain Callback objects.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import time
from itertools import islice
from pathlib import Path

import torch
from rnnsuite.core import _state
from rnnsuite.core._progress import progress
from rnnsuite.core.bptt import detach_hidden
from rnnsuite.core.checkpoint import atomic_write_text, load_weights, save_weights
from rnnsuite.core.device import DistInfo, amp_dtype
from rnnsuite.core.domain import StepOutput
from rnnsuite.core.errors import UserError, warn

__all__ = ["Trainer", "Callback", "make_optimizer", "make_schedule", "move_to_device"]

METRICS_FIELDS = ["step", "epoch", "split", "metric", "value", "time"]


class Callback:
    """Hooks into the training loop. Override what you need; all are no-ops."""

    def on_train_start(self, trainer: "Trainer") -> None:
        """Before the first step (after a resume has restored the state)."""

    def on_step_end(self, trainer: "Trainer", output: StepOutput) -> None:
        """After each optimizer step (avoid `.item()` here: it syncs the device)."""

    def on_evaluate(self, trainer: "Trainer", metrics: dict) -> None:
        """After each validation, with the rows just logged as {"split/metric": value}."""

    def on_checkpoint(self, trainer: "Trainer") -> None:
        """After a checkpoint has been written."""

    def on_train_end(self, trainer: "Trainer") -> None:
        """After training stops for any reason, before the final files are written."""


def move_to_device(batch, device: torch.device):
    """Move tensors inside tuples/lists/dicts (or a dataclass-like with __dict__) to device."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(move_to_device(b, device) for b in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: move_to_device(v, device) for k, v in batch.items()}
    return batch


def make_optimizer(params, cfg: dict) -> torch.optim.Optimizer:
    name = cfg["optimizer"].lower()
    lr, wd = cfg["lr"], cfg["weight_decay"]
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg["momentum"], weight_decay=wd)
    if name in ("adam", "adamw"):
        params = list(params)
        # the fused kernel (one pass over all weights) takes 1.4 ms a step where the foreach
        # one takes 4.1 on the NLP default's 0.9M weights, one CPU thread: 2.7% of the step
        fused = bool(params) and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params) \
            and len({p.device for p in params}) == 1
        kind = torch.optim.Adam if name == "adam" else torch.optim.AdamW
        betas = cfg.get("betas", [0.9, 0.999])
        if not (isinstance(betas, (list, tuple)) and len(betas) == 2
                and all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas)):
            raise UserError(f"train.betas must be two numbers in [0, 1), e.g. [0.9, 0.99]; got {betas!r}")
        return kind(params, lr=lr, betas=tuple(float(b) for b in betas), weight_decay=wd, fused=fused or None)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=cfg["momentum"], weight_decay=wd)
    raise UserError(f"unknown optimizer {cfg['optimizer']!r}; use sgd, adam, adamw or rmsprop")


def lr_factor(step: int, cfg: dict, total_steps: int, time_fraction: float = 0.0) -> float:
    """Multiplier of the base LR after `step` optimizer steps: linear warm-up, then the schedule.

    `time_fraction` (elapsed / max_time) moves a cosine schedule on when the time budget, not
    the step budget, is what will end training.
    """
    warm = cfg["warmup_steps"]
    if warm and step < warm:
        return (step + 1) / warm
    kind = cfg["schedule"]
    if kind in ("constant", "plateau"):
        return 1.0
    if kind == "step":
        return cfg["gamma"] ** ((step - warm) // max(1, cfg["step_size"]))
    if kind == "cosine":
        span = max(1, total_steps - warm)
        # total_steps 0: no step budget (epochs unlimited), the time budget alone moves it on
        by_steps = (step - warm) / span if total_steps > 0 else 0.0
        progress_ = min(1.0, max(by_steps, time_fraction))
        floor = cfg["min_lr"]
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress_))
    raise UserError(f"unknown schedule {kind!r}; use constant, step, cosine or plateau")


def make_schedule(optimizer, cfg: dict, total_steps: int, time_fraction=lambda: 0.0):
    """(per-step LambdaLR, ReduceLROnPlateau or None)."""
    lr_factor(0, cfg, total_steps)  # validates the name
    per_step = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, cfg, total_steps, time_fraction()))
    plateau = None
    if cfg["schedule"] == "plateau":
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode=cfg["monitor_mode"], factor=cfg["gamma"], patience=cfg["plateau_patience"])
    return per_step, plateau


class _DDP(torch.nn.parallel.DistributedDataParallel):
    """DDP that forwards unknown attributes (init_hidden, ...) to the wrapped model."""

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.module, name)


def ema_decay(decay: float, updates: int) -> float:
    """The decay of a moving average of the weights after `updates` updates: min(decay, (1 + n) /
    (10 + n)), as tf.train.ExponentialMovingAverage with num_updates, so that the average follows
    the weights closely at first instead of remembering the initialisation."""
    return min(decay, (1 + updates) / (10 + updates))


class Trainer:
    """Train `model` on `task` with the `train` section of `config`, writing into `run_dir`.

    Files (run_dir may be None for an in-memory fit): trainer_state.safetensors (everything for
    exact resume, one atomic file), model.safetensors (best weights on the monitored validation
    metric, else the last), metrics.csv, grad_norms.csv and plots/*.png.
    """

    def __init__(self, task, model: torch.nn.Module, config: dict, run_dir: Path | None,
                 device: torch.device, callbacks=(), show_progress: bool = True,
                 dist: DistInfo | None = None):
        self.task = task
        self.config = config
        self.cfg = config["train"]
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.device = device
        self.dist = dist or DistInfo()
        self.callbacks = list(callbacks)
        self.show_progress = show_progress and self.dist.is_main
        self.model = model.to(device)
        self.train_model = self.model
        if self.dist.enabled:
            self.train_model = _DDP(self.model, device_ids=[device.index] if device.type == "cuda" else None)
        self.optimizer = make_optimizer([p for p in self.model.parameters() if p.requires_grad], self.cfg)
        self.amp_dtype = amp_dtype(device, self.cfg["amp"])
        self.scaler = torch.amp.GradScaler(device.type) if self.amp_dtype == torch.float16 else None
        # progress through training (all saved for exact resume)
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.hidden = None
        self.best = None
        self.best_state = None  # in-memory best weights when there is no run folder
        self.bad_evals = 0
        self.skipped_steps = 0
        self.rollbacks = 0
        self._warned_nan = False
        self._good = None  # on_nan=rollback: (step, model state, optimizer state) of the last checkpoint
        self.ema_state = None  # train.ema: {name: averaged tensor} of the floating-point weights
        self.ema_updates = 0
        self._ema_pairs = None  # (averages, the model's tensors) for one foreach lerp a step
        self.total_steps = 0
        self.rows: list[dict] = []
        self.grad_rows: list[dict] = []
        self.stop_reason = ""
        self._loss_sum = torch.zeros((), device=device)
        self._loss_count = 0
        self._items = 0
        self._last_eval_step = -1
        self._last_batch = None
        self._start_time = time.monotonic()
        self._elapsed_before = 0.0

    # -- public ------------------------------------------------------------------------------

    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    def fit(self, resume: bool = False) -> dict:
        """Train until epochs, max_steps, max_time or early stopping; return a summary."""
        self.total_steps = self._estimate_total_steps()
        max_time = self.cfg["max_time"]
        time_fraction = (lambda: self._elapsed() / max_time) if max_time else (lambda: 0.0)
        self.scheduler, self.plateau = make_schedule(self.optimizer, self.cfg, self.total_steps, time_fraction)
        if self.cfg["on_nan"] not in ("skip", "rollback"):
            raise UserError(f"train.on_nan must be 'skip' or 'rollback', got {self.cfg['on_nan']!r}")
        if not 0 < self.cfg["rollback_lr_factor"] <= 1:
            raise UserError(f"train.rollback_lr_factor must be in (0, 1], got {self.cfg['rollback_lr_factor']!r}")
        if not 0 <= self.cfg.get("ema", 0.0) < 1:
            raise UserError(f"train.ema must be in [0, 1) (a decay such as 0.999; 0 is off), got {self.cfg['ema']!r}")
        self._ema_reset()
        if resume:
            self._load_checkpoint()
        self._remember_good()
        self._start_time = time.monotonic()
        for cb in self.callbacks:
            cb.on_train_start(self)
        bar = progress(total=self.total_steps or None, initial=self.step, desc="train", unit="step",
                       disable=not self.show_progress)
        try:
            self._loop(bar)
        finally:
            bar.close()
        for cb in self.callbacks:
            cb.on_train_end(self)
        if self._last_eval_step != self.step and self.stop_reason != "non_finite_weights":
            self._evaluate_and_checkpoint()
        if self.is_main and self.run_dir is not None:
            self._write_plots()
        return {"steps": self.step, "epochs": self.epoch, "stop_reason": self.stop_reason,
                "best": self.best, "skipped_steps": self.skipped_steps, "rollbacks": self.rollbacks,
                "elapsed_s": round(self._elapsed(), 2)}

    # -- loop --------------------------------------------------------------------------------

    def _elapsed(self) -> float:
        return self._elapsed_before + (time.monotonic() - self._start_time)

    def _epoch_batches(self, epoch: int):
        generator = torch.Generator().manual_seed(self.cfg["seed"] * 1_000_003 + epoch)
        batches = self.task.train_batches(epoch, generator)
        share = self._batch_share()
        if share is None:
            return batches
        world, rank = self.dist.world_size, self.dist.rank
        if share == "turns":
            return islice(batches, rank, None, world)
        # every rank walks every batch and keeps its slice of the batch axis: stream tasks then
        # carry each column's state from one window to the next on one rank
        return (_split_tree(batch, world, share)[rank] for batch in batches)

    def _batch_share(self):
        """How this rank shares the task's batches under torchrun: None when it takes them all (one
        process, or a task that shards its data itself), "turns" for whole batches in turn, else
        the task's `batch_axis`, whose slices the ranks split between them."""
        if not self.dist.enabled or getattr(self.task, "shards_itself", False):
            return None
        axis = getattr(self.task, "batch_axis", None)
        return "turns" if axis is None else axis

    def _estimate_total_steps(self) -> int:
        max_steps, epochs = self.cfg["max_steps"], self.cfg["epochs"]
        per_epoch = getattr(self.task, "steps_per_epoch", lambda: None)()
        if per_epoch is None:
            batches = self.task.train_batches(0, torch.Generator().manual_seed(self.cfg["seed"] * 1_000_003))
            per_epoch = len(batches) if hasattr(batches, "__len__") else sum(1 for _ in batches)
            if self._batch_share() == "turns":
                per_epoch = math.ceil(per_epoch / self.dist.world_size)
        if per_epoch == 0:
            raise UserError("the training data yields no batches (too little data for the batch size/window?)")
        self.steps_per_epoch = per_epoch
        if epochs <= 0:     # no epoch limit: max_steps, else only the time budget, bounds the run
            return max_steps or 0
        total = per_epoch * epochs
        return min(total, max_steps) if max_steps else total

    def _should_stop(self) -> bool:
        cfg = self.cfg
        stop = ""
        if cfg["max_steps"] and self.step >= cfg["max_steps"]:
            stop = "max_steps"
        elif cfg["max_time"] and self._elapsed() >= cfg["max_time"]:
            stop = "max_time"
        if self.dist.enabled and cfg["max_time"]:
            import torch.distributed as dist

            flag = torch.tensor([1.0 if stop else 0.0], device=self.device if self.device.type == "cuda" else "cpu")
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            if flag.item() and not stop:
                stop = "max_time"
        if stop:
            self.stop_reason = stop
        return bool(stop)

    def _loop(self, bar) -> None:
        cfg = self.cfg
        self.model.train()
        if self._should_stop():
            return
        if cfg["epochs"] <= 0 and not (cfg["max_steps"] or cfg["max_time"]):
            raise UserError("train.epochs must be positive unless max_steps or max_time is set")
        while cfg["epochs"] <= 0 or self.epoch < cfg["epochs"]:
            batches = self._epoch_batches(self.epoch)
            if self.batch_in_epoch:
                batches = islice(batches, self.batch_in_epoch, None)  # replay to the saved position
            for batch in batches:
                self._train_step(batch)
                if cfg["log_every"] and self.step % cfg["log_every"] == 0:
                    bar.update(cfg["log_every"])
                    self._show(bar)
                if cfg["eval_every"] and self.step % cfg["eval_every"] == 0:
                    if self._evaluate_and_checkpoint():
                        return
                elif cfg["checkpoint_every"] and self.step % cfg["checkpoint_every"] == 0:
                    self._save_checkpoint()
                if self._should_stop() or self.stop_reason == "non_finite_weights":
                    return
            self.epoch += 1
            self.batch_in_epoch = 0
            self.hidden = None
            if not cfg["eval_every"]:
                if self._evaluate_and_checkpoint():
                    return
        self.stop_reason = self.stop_reason or "epochs"

    def _show(self, bar) -> None:
        if not self.show_progress:
            return
        loss = (self._loss_sum / max(1, self._loss_count)).item()
        rate = self._items / max(1e-9, time.monotonic() - self._rate_start) if hasattr(self, "_rate_start") else 0
        post = {"loss": f"{loss:.4f}", "lr": f"{self.optimizer.param_groups[0]['lr']:.2e}"}
        if rate:
            post["items/s"] = f"{rate:,.0f}"
        bar.set_postfix(post, refresh=False)

    def _train_step(self, batch) -> None:
        cfg = self.cfg
        if not hasattr(self, "_rate_start"):
            self._rate_start = time.monotonic()
        batch = move_to_device(batch, self.device)
        self._last_batch = batch
        hidden = detach_hidden(self.hidden)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            out = self.task.training_step(self.train_model, batch, hidden)
        if not isinstance(out, StepOutput):
            out = StepOutput(*out) if isinstance(out, tuple) else StepOutput(out)
        loss = out.loss
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        params = [p for p in self.model.parameters() if p.grad is not None]
        if cfg["clip_grad_norm"]:
            norm = torch.nn.utils.clip_grad_norm_(params, cfg["clip_grad_norm"])
        else:
            norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params])) if params else torch.zeros(())
        # One sync per step decides whether the step is safe: a NaN/inf loss or gradient is
        # skipped and counted instead of poisoning the weights.
        finite = bool(torch.isfinite(loss.detach()) & torch.isfinite(norm))
        if finite:
            if self.scaler is not None:
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                self.optimizer.step()
            self._loss_sum += loss.detach().float()
            self._loss_count += 1
            self.hidden = out.hidden
            self._ema_update()
        else:
            self.skipped_steps += 1
            self.optimizer.zero_grad(set_to_none=True)
            self.hidden = None
            if self.scaler is not None:
                self.scaler.update()
            what = "loss" if not bool(torch.isfinite(loss.detach())) else "gradient"
            if what == "gradient" and self.scaler is not None:
                pass  # fp16 loss-scale overflow: GradScaler lowers the scale, a normal event
            elif cfg["on_nan"] == "rollback":
                self._rollback(f"non-finite {what} at step {self.step + 1}")
            elif not self._warned_nan and self.is_main:
                self._warned_nan = True
                warn(f"non-finite {what} at step {self.step + 1}: step skipped (skipped steps are "
                     "counted in metrics.csv; --set on_nan=rollback rolls back with a lower lr)")
        self.scheduler.step()
        self.step += 1
        self.batch_in_epoch += 1
        self._items += int(out.items or 0)
        for cb in self.callbacks:
            cb.on_step_end(self, out)

    # -- evaluation and checkpoints ----------------------------------------------------------

    # -- weight averaging (train.ema) ----------------------------------------------------------

    def _ema_reset(self) -> None:
        """Start the average at the current weights (or turn it off)."""
        if not self.cfg.get("ema"):
            self.ema_state, self.ema_updates = None, 0
            return
        weights = {k: v for k, v in self.model.state_dict().items() if v.is_floating_point()}
        self.ema_state = {k: v.detach().clone() for k, v in weights.items()}
        self.ema_updates = 0
        # the model's own tensors, in ema_state's order (load_state_dict copies into them in place)
        self._ema_pairs = (list(self.ema_state.values()), [v.detach() for v in weights.values()])

    def _ema_update(self) -> None:
        """ema <- d * ema + (1 - d) * weights, with d = ema_decay(train.ema, updates so far)."""
        if self.ema_state is None:
            return
        decay = ema_decay(self.cfg["ema"], self.ema_updates)
        with torch.no_grad():
            torch._foreach_lerp_(*self._ema_pairs, 1.0 - decay)
        self.ema_updates += 1

    def _validated_weights(self) -> dict:
        """The state dict that validation scores: the model's, with the average in place of its
        floating-point weights under train.ema."""
        if self.ema_state is None:
            return self.model.state_dict()
        return {**self.model.state_dict(), **self.ema_state}

    @contextlib.contextmanager
    def _averaged_weights(self):
        """Inside: the model holds the averaged weights (train.ema), else its own."""
        if self.ema_state is None:
            yield
            return
        own = {k: v.detach().clone() for k, v in self.model.state_dict().items() if k in self.ema_state}
        self.model.load_state_dict(self.ema_state, strict=False)
        try:
            yield
        finally:
            self.model.load_state_dict(own, strict=False)

    def _log(self, split: str, metric: str, value: float) -> None:
        self.rows.append({"step": self.step, "epoch": self.epoch, "split": split, "metric": metric,
                          "value": float(value), "time": round(self._elapsed(), 3)})

    # -- numerical faults ---------------------------------------------------------------------

    def _weights_finite(self) -> bool:
        """One sync: are all floating-point weights finite?"""
        flags = [torch.isfinite(t).all() for t in self.model.state_dict().values()
                 if t.is_floating_point()]
        return bool(torch.stack(flags).all()) if flags else True

    def _weights_copy(self, state: dict | None = None) -> dict:
        """A detached copy of `state`, by default the model's state dict (in-memory best weights,
        rollback point)."""
        return {k: v.detach().clone() for k, v in (state or self.model.state_dict()).items()}

    def _remember_good(self) -> None:
        """on_nan=rollback: keep the state of the last checkpoint (in memory, so a run without
        a folder can roll back too)."""
        if self.cfg["on_nan"] != "rollback":
            return
        import copy

        model = self._weights_copy()
        self._good = (self.step, model, copy.deepcopy(self.optimizer.state_dict()))

    def _rollback(self, why: str) -> None:
        """Restore the weights and optimizer state of the last good checkpoint and lower the
        learning rate; the data position moves on (the same batches would fail again)."""
        import copy

        step, model, optim = self._good
        self.model.load_state_dict(model)
        self.optimizer.load_state_dict(copy.deepcopy(optim))
        self._ema_reset()  # the average may have taken in the weights that went bad
        factor = self.cfg["rollback_lr_factor"]
        self.scheduler.base_lrs = [lr * factor for lr in self.scheduler.base_lrs]
        for group in self.optimizer.param_groups:
            group["lr"] *= factor
            if "initial_lr" in group:
                group["initial_lr"] *= factor
        # later rollbacks start from this lowered learning rate, not the checkpoint's
        self._good = (step, model, copy.deepcopy(self.optimizer.state_dict()))
        self.rollbacks += 1
        self.hidden = None
        if self.is_main:
            warn(f"{why}: rolled back to the weights of step {step}, lr x{factor} "
                 f"(now {self.scheduler.base_lrs[0]:.3g}; rollback {self.rollbacks})")

    def _guard_weights(self) -> bool:
        """False when the weights are not finite: nothing may be saved over a good checkpoint.
        Rolls back (on_nan=rollback) or stops the run."""
        if self._weights_finite():
            return True
        if self.cfg["on_nan"] == "rollback" and self._good is not None:
            self._rollback(f"non-finite weights at step {self.step}")
            return True
        self.stop_reason = "non_finite_weights"
        if self.is_main:
            warn(f"the weights became non-finite at step {self.step}; training stopped and the "
                 "last good checkpoint is kept (--set on_nan=rollback rolls back with a lower lr)")
        return False

    def _evaluate_and_checkpoint(self) -> bool:
        """Validate, log, keep the best weights, checkpoint. True when early stopping fires."""
        self._last_eval_step = self.step
        if not self._guard_weights():
            return True
        now = time.monotonic()
        logged = {}
        if self._loss_count:
            train_loss = (self._loss_sum / self._loss_count).item()
            self._log("train", "loss", train_loss)
            logged["train/loss"] = train_loss
        self._log("train", "lr", self.optimizer.param_groups[0]["lr"])
        if self._items and hasattr(self, "_rate_start"):
            rate = self._items / max(1e-9, now - self._rate_start)
            self._log("train", "items_per_s", rate)
        self._loss_sum.zero_()
        self._loss_count = 0
        self._items = 0
        self._rate_start = time.monotonic()
        self.model.eval()
        with torch.no_grad(), self._averaged_weights():
            metrics = self.task.validate(self.model) or {}
        self.model.train()
        for name, value in metrics.items():
            self._log("valid", name, value)
            logged[f"valid/{name}"] = float(value)
        if self.skipped_steps:
            self._log("train", "skipped_steps", self.skipped_steps)
        if self.rollbacks:
            self._log("train", "rollbacks", self.rollbacks)
        if self.cfg["grad_norms"] and self._last_batch is not None:
            self._grad_norm_diagnostics()
        for cb in self.callbacks:
            cb.on_evaluate(self, logged)
        monitor = self.cfg["monitor"]
        improved = True
        if monitor in metrics:
            value = float(metrics[monitor])
            if self.plateau is not None:
                self.plateau.step(value)
            sign = 1 if self.cfg["monitor_mode"] == "min" else -1
            improved = math.isfinite(value) and (self.best is None or sign * value < sign * self.best)
            if improved:
                self.best = value
                self.bad_evals = 0
            else:
                self.bad_evals += 1
        elif metrics:
            raise UserError(f"train.monitor={monitor!r} is not among the validation metrics: {', '.join(metrics)}")
        if improved and self.is_main and self.run_dir is not None:
            save_weights(self.run_dir / "model.safetensors", self._validated_weights(),
                         {"step": self.step, "epoch": self.epoch})
        elif improved and self.run_dir is None:
            self.best_state = self._weights_copy(self._validated_weights())
        self._save_checkpoint()
        if self.cfg["patience"] and self.bad_evals >= self.cfg["patience"]:
            self.stop_reason = "early_stopping"
            return True
        return False

    def _save_checkpoint(self) -> None:
        if not self._guard_weights():
            return
        self._remember_good()
        if not self.is_main or self.run_dir is None:
            return
        tensors: dict = {}
        for name, t in self.model.state_dict().items():
            tensors[f"model.{name}"] = t
        for name, t in (self.ema_state or {}).items():
            tensors[f"ema.{name}"] = t
        meta = {
            "step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
            "best": self.best, "bad_evals": self.bad_evals, "skipped_steps": self.skipped_steps,
            "rollbacks": self.rollbacks, "ema_updates": self.ema_updates,
            "elapsed": self._elapsed(), "last_eval_step": self._last_eval_step,
            "optimizer": _state.optimizer_to_flat(self.optimizer, tensors),
            "scheduler": _state.json_safe(self.scheduler.state_dict()),
            "plateau": _state.json_safe(self.plateau.state_dict()) if self.plateau else None,
            "scaler": _state.json_safe(self.scaler.state_dict()) if self.scaler else None,
            "rng": _state.rng_to_flat(tensors),
            "hidden": _state.flatten_tree(self.hidden, "hidden", tensors),
        }
        # metrics.csv first: on resume rows after the checkpoint's step are dropped anyway
        self._write_csv("metrics.csv", METRICS_FIELDS, self.rows)
        if self.grad_rows:
            self._write_csv("grad_norms.csv", ["step", "layer", "t", "distance", "norm"], self.grad_rows)
        save_weights(self.run_dir / "trainer_state.safetensors", tensors,
                     {"format": "rnnsuite-trainer-state-1", "trainer": _state.dumps(meta)})
        for cb in self.callbacks:
            cb.on_checkpoint(self)

    def _write_csv(self, name: str, fields: list, rows: list) -> None:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.run_dir / name, buf.getvalue())

    def _load_checkpoint(self) -> None:
        path = self.run_dir / "trainer_state.safetensors" if self.run_dir else None
        if path is None or not path.is_file():
            raise UserError(f"{self.run_dir}: nothing to resume (no trainer_state.safetensors)")
        tensors, meta_raw = load_weights(path)
        try:
            meta = _state.loads(meta_raw["trainer"])
            model_sd = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
            self.model.load_state_dict(model_sd)
            if self.ema_state is not None:
                ema = {k[len("ema."):]: v for k, v in tensors.items() if k.startswith("ema.")}
                if ema:  # else the checkpoint predates train.ema: the average starts here
                    for k in self.ema_state:
                        self.ema_state[k].copy_(ema[k])
                else:
                    self._ema_reset()
            _state.optimizer_from_flat(self.optimizer, meta["optimizer"], tensors)
            self.scheduler.load_state_dict(meta["scheduler"])
            if self.plateau is not None and meta["plateau"]:
                self.plateau.load_state_dict(meta["plateau"])
            if self.scaler is not None and meta["scaler"]:
                self.scaler.load_state_dict(meta["scaler"])
            _state.rng_from_flat(meta["rng"], tensors)
            self.hidden = _state.unflatten_tree(meta["hidden"], tensors, self.device)
        except (KeyError, ValueError, RuntimeError, TypeError) as exc:
            raise UserError(f"{path}: checkpoint does not match this run ({' '.join(str(exc).split())[:200]})") from None
        for key in ("step", "epoch", "batch_in_epoch", "best", "bad_evals", "skipped_steps"):
            setattr(self, key, meta[key])
        self.rollbacks = meta.get("rollbacks", 0)
        if self.ema_state is not None:
            self.ema_updates = meta.get("ema_updates", 0)
        self._elapsed_before = meta["elapsed"]
        self._last_eval_step = meta["last_eval_step"]
        self.rows = [r for r in _read_csv(self.run_dir / "metrics.csv") if int(r["step"]) <= self.step]
        try:
            for r in self.rows:
                r["value"] = float(r["value"])
        except (KeyError, TypeError, ValueError):
            raise UserError(f"{self.run_dir / 'metrics.csv'}: damaged run log, cannot resume from it "
                            "(a value is not a number)") from None
        self.grad_rows = [r for r in _read_csv(self.run_dir / "grad_norms.csv") if int(r["step"]) <= self.step]
        self.model.train()

    # -- diagnostics and plots -----------------------------------------------------------------

    def _grad_norm_diagnostics(self) -> None:
        """‖∂L/∂h_t‖ for every t of the last training batch, per layer (reference backend)."""
        from rnnsuite.core.diagnostics import per_step_grad_norms

        norms = per_step_grad_norms(self.model, self.task, self._last_batch, device=self.device)
        for layer, values in norms.items():
            T = len(values)
            for t, v in enumerate(values):
                self.grad_rows.append({"step": self.step, "layer": layer, "t": t,
                                       "distance": T - 1 - t, "norm": v})

    def _write_plots(self) -> None:
        from rnnsuite.core.plots import plot_grad_norms, plot_learning_curves

        try:
            plot_learning_curves(self.rows, self.run_dir / "plots" / "learning_curve.png")
            if self.grad_rows:
                plot_grad_norms(self.grad_rows, self.run_dir / "plots" / "grad_norms.png")
        except Exception as exc:  # a plot must never cost a trained model
            import sys

            print(f"warning: could not write plots: {exc}", file=sys.stderr)


def _read_csv(path: Path) -> list[dict]:
    """The rows of a run's log (metrics.csv, grad_norms.csv); a damaged one is a UserError."""
    if not path.is_file():
        return []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        for r in rows:
            int(r["step"])
    except (UnicodeDecodeError, csv.Error, KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{path}: damaged run log, cannot resume from it ({type(exc).__name__}: "
                        f"{' '.join(str(exc).split())[:120]})") from None
    return rows


def _split_tree(tree, n: int, axis: int) -> list:
    """n copies of a nested batch with every tensor cut into n slices along `axis`."""
    if isinstance(tree, torch.Tensor):
        return list(torch.tensor_split(tree, n, dim=axis)) if tree.dim() > axis else [tree] * n
    if isinstance(tree, dict):
        parts = {k: _split_tree(v, n, axis) for k, v in tree.items()}
        return [{k: v[i] for k, v in parts.items()} for i in range(n)]
    if isinstance(tree, (tuple, list)):
        parts = [_split_tree(v, n, axis) for v in tree]
        if hasattr(tree, "_fields"):  # namedtuple
            return [type(tree)(*(p[i] for p in parts)) for i in range(n)]
        return [type(tree)(p[i] for p in parts) for i in range(n)]
    return [tree] * n
