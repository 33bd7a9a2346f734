"""train.on_nan: what a non-finite loss, gradient or weight does (a part of the Trainer).

    skip      the step is skipped and counted (one warning); weights that went bad stop the run
              and the last good checkpoint is kept
    rollback  the weights and optimizer state of the last checkpoint come back and the learning
              rate is multiplied by train.rollback_lr_factor
"""

from __future__ import annotations

import copy

import torch
from rnnsuite.core.errors import warn

__all__ = ["FaultGuard", "weights_finite"]


def weights_finite(model: torch.nn.Module) -> bool:
    """One sync: are all floating-point weights finite?"""
    flags = [torch.isfinite(t).all() for t in model.state_dict().values() if t.is_floating_point()]
    return bool(torch.stack(flags).all()) if flags else True


class FaultGuard:
    """Counts skipped steps and rollbacks; keeps the rollback point (in memory, so that a run
    without a folder can roll back too). `announce`: this process prints the warnings."""

    def __init__(self, model, optimizer, scheduler, ema, cfg: dict, announce: bool = True):
        self.model, self.optimizer, self.scheduler, self.ema = model, optimizer, scheduler, ema
        self.rolls_back = cfg["on_nan"] == "rollback"
        self.factor = cfg["rollback_lr_factor"]
        self.announce = announce
        self.skipped_steps = 0
        self.rollbacks = 0
        self.warned = False
        self.good: tuple | None = None   # (step, model state, optimizer state) of the last checkpoint

    def remember(self, step: int) -> None:
        """on_nan=rollback: the current state becomes the rollback point."""
        if self.rolls_back:
            weights = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            self.good = (step, weights, copy.deepcopy(self.optimizer.state_dict()))

    def step_skipped(self, what: str, step: int, loss_scaled: bool) -> None:
        """A step whose `what` ("loss" or "gradient") was not finite has been skipped."""
        self.skipped_steps += 1
        if what == "gradient" and loss_scaled:
            return  # fp16 loss-scale overflow: GradScaler lowers the scale, a normal event
        if self.rolls_back:
            self.rollback(f"non-finite {what} at step {step}")
        elif not self.warned and self.announce:
            self.warned = True
            warn(f"non-finite {what} at step {step}: step skipped (skipped steps are "
                 "counted in metrics.csv; --set on_nan=rollback rolls back with a lower lr)")

    def rollback(self, why: str) -> None:
        """Restore the weights and optimizer state of the last good checkpoint and lower the
        learning rate; the data position moves on (the same batches would fail again)."""
        step, weights, optim = self.good
        self.model.load_state_dict(weights)
        self.optimizer.load_state_dict(copy.deepcopy(optim))
        self.ema.reset()  # the average may have taken in the weights that went bad
        self.scheduler.base_lrs = [lr * self.factor for lr in self.scheduler.base_lrs]
        for group in self.optimizer.param_groups:
            group["lr"] *= self.factor
            if "initial_lr" in group:
                group["initial_lr"] *= self.factor
        # later rollbacks start from this lowered learning rate, not the checkpoint's
        self.good = (step, weights, copy.deepcopy(self.optimizer.state_dict()))
        self.rollbacks += 1
        if self.announce:
            warn(f"{why}: rolled back to the weights of step {step}, lr x{self.factor} "
                 f"(now {self.scheduler.base_lrs[0]:.3g}; rollback {self.rollbacks})")

    def weights_usable(self, step: int) -> bool:
        """False when the weights are not finite and could not be rolled back: nothing may be
        saved over a good checkpoint, and the run stops."""
        if weights_finite(self.model):
            return True
        if self.rolls_back and self.good is not None:
            self.rollback(f"non-finite weights at step {step}")
            return True
        if self.announce:
            warn(f"the weights became non-finite at step {step}; training stopped and the "
                 "last good checkpoint is kept (--set on_nan=rollback rolls back with a lower lr)")
        return False
