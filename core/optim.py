"""The optimizer and the learning-rate schedule of `train` (a part of the Trainer).

    make_optimizer(params, cfg)          sgd | adam | adamw | rmsprop
    make_schedule(optimizer, cfg, ...)   per-step warm-up + constant | step | cosine, or plateau
    apply_gradients(loss, ...)           backward, clipping and the step, unless not finite
    planned_steps(cfg, per_epoch)        where the schedule ends (0: only the time budget ends it)
"""

from __future__ import annotations

import math

import torch
from rnnsuite.core.errors import UserError

__all__ = ["make_optimizer", "make_schedule", "lr_factor", "planned_steps", "apply_gradients"]


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
        return kind(params, lr=lr, betas=tuple(float(b) for b in betas), weight_decay=wd, fused=fused or None)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=cfg["momentum"], weight_decay=wd)
    raise UserError(f"unknown optimizer {cfg['optimizer']!r}; use sgd, adam, adamw or rmsprop")


def lr_factor(step: int, cfg: dict, total_steps: int, time_fraction: float = 0.0) -> float:
    """Multiplier of the base LR after `step` optimizer steps: linear warm-up, then the schedule.

    `time_fraction` (elapsed / max_time) moves a cosine schedule on when the time budget, not
    the step budget, is what will end training.
    """
    extensions = [e for e in cfg.get("extensions") or [] if step >= e["start_step"]]
    if extensions:                  # a finished run extended by `--extend-steps`
        e = extensions[-1]
        if e["schedule"] == "constant":
            return e["factor"]      # the rate the run had reached
        if e.get("seconds"):        # --extend-time: the cosine runs over the extension's seconds
            now = time_fraction * cfg["max_time"]
            progress_ = min(1.0, max(0.0, (now - e["start_elapsed"]) / e["seconds"]))
        else:
            progress_ = min(1.0, (step - e["start_step"]) / max(1, e["steps"]))
        floor = cfg["min_lr"]       # a warm restart: a new cosine from the base rate
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress_))
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


def planned_steps(cfg: dict, per_epoch: int) -> int:
    """The steps the schedule spans: epochs x steps per epoch, capped by max_steps; with no
    epoch limit max_steps, else 0 (only the time budget bounds the run)."""
    max_steps, epochs = cfg["max_steps"], cfg["epochs"]
    if epochs <= 0:
        return max_steps or 0
    total = per_epoch * epochs
    return min(total, max_steps) if max_steps else total


def apply_gradients(loss, model, optimizer, scaler, clip: float) -> str | None:
    """Backward, clip the gradient norm to `clip` (0: off) and step (through the fp16 loss
    scaler when there is one). Returns None when the step was taken, else what was not finite
    ("loss" or "gradient"): then no weight has changed. One device sync decides."""
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
    else:
        loss.backward()
    params = [p for p in model.parameters() if p.grad is not None]
    if clip:
        norm = torch.nn.utils.clip_grad_norm_(params, clip)
    else:
        norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params])) if params else torch.zeros(())
    loss_finite = bool(torch.isfinite(loss.detach()))
    if loss_finite and bool(torch.isfinite(norm)):
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        return None
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.update()
    return "gradient" if loss_finite else "loss"
