"""Callbacks: code that hooks into the Trainer's loop. The Trainer's own optional features are
callbacks too, added in front of or behind the user's ones:

    GradNormDiagnostics   train.grad_norms: ‖∂L/∂h_t‖ per time step at every validation,
                          grad_norms.csv and plots/grad_norms.png
    BestWeights           train.monitor: the best validation value so far and its weights,
                          model.safetensors (and the plateau schedule's step)
    ProgressBar           the tqdm bar (loss, learning rate, items/s)
    EarlyStopping         train.patience: stop after that many validations without improvement
    LearningCurves        plots/learning_curve.png at the end
    TensorBoardLogger     train.logger=tensorboard: RUN/tensorboard/ (scalars, gradient norms by
                          time step, the task's media)

A plugin passes its own to `train_run(..., callbacks=[...])`; see docs/plugin-guide.md.
"""

from __future__ import annotations

import math
import sys

from rnnsuite.core._progress import progress, progress_wanted, stderr_is_terminal
from rnnsuite.core.checkpoint import save_weights
from rnnsuite.core.domain import StepOutput
from rnnsuite.core.errors import UserError
from rnnsuite.core.metrics_log import read_csv, write_csv

__all__ = ["Callback", "ProgressBar", "GradNormDiagnostics", "BestWeights", "EarlyStopping",
           "LearningCurves", "TensorBoardLogger"]


class Callback:
    """Hooks into the training loop. Override what you need; all are no-ops."""

    def on_train_start(self, trainer) -> None:
        """Before the first step (after a resume has restored the state)."""

    def on_step_end(self, trainer, output: StepOutput) -> None:
        """After each optimizer step (avoid `.item()` here: it syncs the device)."""

    def on_evaluate(self, trainer, metrics: dict) -> None:
        """After each validation, with the rows just logged as {"split/metric": value}."""

    def on_save(self, trainer) -> None:
        """While a checkpoint is written, before the trainer state file: write your own files
        here (they then never run ahead of the state a resume starts from)."""

    def on_checkpoint(self, trainer) -> None:
        """After a checkpoint has been written."""

    def on_resume(self, trainer) -> None:
        """After `--resume` has restored the trainer state, before on_train_start."""

    def on_train_end(self, trainer) -> None:
        """After training stops for any reason and the final weights have been evaluated and
        saved."""

    def teardown(self, trainer) -> None:
        """Always, last, also when training failed: release what you hold (bars, files)."""


class ProgressBar(Callback):
    """A progress bar on stderr, updated every train.log_every steps; when stderr is not a
    terminal (a log file, CI), one line per validation instead. RNNSUITE_PROGRESS=0 hides both."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.bar = None

    def on_train_start(self, trainer) -> None:
        self.bar = progress(total=trainer.total_steps or None, initial=trainer.step, desc="train",
                            unit="step", disable=not self.enabled)

    def on_step_end(self, trainer, output) -> None:
        every = trainer.cfg["log_every"]
        if not (every and trainer.step % every == 0 and self.bar is not None):
            return
        self.bar.update(every)
        if not self.enabled:
            return
        window = trainer.window
        post = {"loss": f"{window.mean_loss():.4f}",
                "lr": f"{trainer.optimizer.param_groups[0]['lr']:.2e}"}
        rate = window.rate()
        if rate:
            post["items/s"] = f"{rate:,.0f}"
        self.bar.set_postfix(post, refresh=False)

    def on_evaluate(self, trainer, metrics) -> None:
        if not (self.enabled and progress_wanted()) or stderr_is_terminal():
            return
        shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())
        print(f"epoch {trainer.epoch} step {trainer.step} ({trainer.elapsed():.0f} s): {shown}",
              file=sys.stderr, flush=True)

    def teardown(self, trainer) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class GradNormDiagnostics(Callback):
    """‖∂L/∂h_t‖ for every t of the last training batch, per layer (reference backend), at every
    validation: grad_norms.csv and plots/grad_norms.png."""

    FIELDS = ["step", "layer", "t", "distance", "norm"]

    def __init__(self):
        self.rows: list[dict] = []

    def on_evaluate(self, trainer, metrics) -> None:
        from rnnsuite.core.diagnostics import per_step_grad_norms

        if trainer.last_batch is None:
            return
        norms = per_step_grad_norms(trainer.model, trainer.task, trainer.last_batch, device=trainer.device)
        for layer, values in norms.items():
            T = len(values)
            for t, v in enumerate(values):
                self.rows.append({"step": trainer.step, "layer": layer, "t": t,
                                  "distance": T - 1 - t, "norm": v})

    def on_save(self, trainer) -> None:
        if self.rows:
            write_csv(trainer.run_dir / "grad_norms.csv", self.FIELDS, self.rows)

    def on_resume(self, trainer) -> None:
        self.rows = [r for r in read_csv(trainer.run_dir / "grad_norms.csv")
                     if int(r["step"]) <= trainer.last_eval_step]   # as the trainer's metrics

    def on_train_end(self, trainer) -> None:
        from rnnsuite.core.plots import plot_grad_norms

        if self.rows and trainer.writes_files:
            _plot_safely(plot_grad_norms, self.rows, trainer.run_dir / "plots" / "grad_norms.png")


class BestWeights(Callback):
    """Keeps the weights of the best validation value of `monitor` (the averaged ones under
    train.ema): model.safetensors in a run folder, `state` in memory without one. A task that
    reports no metrics at all keeps the last weights."""

    def __init__(self, monitor: str, mode: str, plateau=None):
        self.monitor, self.sign, self.plateau = monitor, 1 if mode == "min" else -1, plateau
        self.best: float | None = None
        self.bad_evals = 0          # validations since the last improvement
        self.state: dict | None = None

    def on_evaluate(self, trainer, metrics) -> None:
        if self._improved(trainer.last_metrics):
            weights = trainer.ema.weights()
            if trainer.writes_files:
                save_weights(trainer.run_dir / "model.safetensors", weights,
                             {"step": trainer.step, "epoch": trainer.epoch})
            elif trainer.run_dir is None:
                self.state = {k: v.detach().clone() for k, v in weights.items()}

    def _improved(self, metrics: dict) -> bool:
        if self.monitor not in metrics:
            if metrics:
                raise UserError(f"train.monitor={self.monitor!r} is not among the validation "
                                f"metrics: {', '.join(metrics)}")
            return True
        value = float(metrics[self.monitor])
        if self.plateau is not None:
            self.plateau.step(value)
        improved = math.isfinite(value) and (self.best is None or self.sign * value < self.sign * self.best)
        if improved:
            self.best, self.bad_evals = value, 0
        else:
            self.bad_evals += 1
        return improved


class EarlyStopping(Callback):
    """Stop after `patience` validations in a row without a better train.monitor value."""

    def __init__(self, best: BestWeights, patience: int):
        self.best, self.patience = best, patience

    def on_evaluate(self, trainer, metrics) -> None:
        if self.patience and self.best.bad_evals >= self.patience:
            trainer.request_stop("early_stopping")


class LearningCurves(Callback):
    """plots/learning_curve.png: every metric of metrics.csv against the step."""

    def on_train_end(self, trainer) -> None:
        from rnnsuite.core.plots import plot_learning_curves

        if trainer.writes_files:
            _plot_safely(plot_learning_curves, trainer.log.rows, trainer.run_dir / "plots" / "learning_curve.png")


class TensorBoardLogger(Callback):
    """Event files in RUN/tensorboard/: the training loss and learning rate every
    train.log_every steps, every validation metric, ‖∂L/∂h_t‖ by time step (train.grad_norms)
    and the task's media (`Task.media`). `tensorboard --logdir runs/` shows them. A resumed run
    drops the events after its checkpoint's step and goes on from there."""

    def __init__(self, diagnostics: GradNormDiagnostics | None = None):
        self.diagnostics = diagnostics
        self.writer = None

    def on_train_start(self, trainer) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(trainer.run_dir / "tensorboard"),
                                    purge_step=trainer.step or None)

    def on_step_end(self, trainer, output) -> None:
        every = trainer.cfg["log_every"] or 20
        if trainer.step % every == 0 and trainer.window.count:
            self.writer.add_scalar("train/loss_running", trainer.window.mean_loss(), trainer.step)
            self.writer.add_scalar("train/lr", trainer.optimizer.param_groups[0]["lr"], trainer.step)

    def on_evaluate(self, trainer, metrics) -> None:
        import torch

        step = trainer.step
        for name, value in metrics.items():
            self.writer.add_scalar(name, value, step)
        self.writer.add_scalar("train/lr", trainer.optimizer.param_groups[0]["lr"], step)
        if self.diagnostics is not None:
            from rnnsuite.core.plots import grad_norms_figure

            rows = [r for r in self.diagnostics.rows if int(r["step"]) == step]
            if rows:
                self.writer.add_figure("diagnostics/grad_norm_by_time_step", grad_norms_figure(rows), step)
        trainer.model.eval()
        with torch.no_grad():
            media = trainer.task.media(trainer.model) or {}
        trainer.model.train()
        for name, value in media.items():
            if isinstance(value, str):
                self.writer.add_text(name, value, step)
            elif isinstance(value, tuple):
                wave, rate = value
                self.writer.add_audio(name, torch.as_tensor(wave, dtype=torch.float32).reshape(1, -1),
                                      step, sample_rate=int(rate))
            else:
                self.writer.add_figure(name, value, step)
        self.writer.flush()

    def teardown(self, trainer) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _plot_safely(plot, rows, path) -> None:
    try:
        plot(rows, path)
    except Exception as exc:  # a plot must never cost a trained model
        print(f"warning: could not write plots: {exc}", file=sys.stderr)
