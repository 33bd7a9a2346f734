"""metrics.csv: one row per (step, split, metric) (a part of the Trainer), written atomically at
every checkpoint; on resume the rows after the checkpoint's last validation are dropped."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import torch
from rnnsuite.core.checkpoint import atomic_write_text
from rnnsuite.core.errors import UserError

__all__ = ["MetricsLog", "LossWindow", "read_csv", "write_csv", "FIELDS"]

FIELDS = ["step", "epoch", "split", "metric", "value", "time"]


class MetricsLog:
    """The rows of metrics.csv, in memory."""

    def __init__(self):
        self.rows: list[dict] = []

    def add(self, step: int, epoch: int, split: str, metric: str, value: float, seconds: float) -> None:
        self.rows.append({"step": step, "epoch": epoch, "split": split, "metric": metric,
                          "value": float(value), "time": round(seconds, 3)})

    def write(self, path: Path) -> None:
        write_csv(path, FIELDS, self.rows)

    def restore(self, path: Path, step: int) -> None:
        """The saved rows up to `step`, the checkpoint's last validation (a damaged log is a
        UserError)."""
        self.rows = [r for r in read_csv(path) if int(r["step"]) <= step]
        try:
            for r in self.rows:
                r["value"] = float(r["value"])
        except (KeyError, TypeError, ValueError):
            raise UserError(f"{path}: damaged run log, cannot resume from it "
                            "(a value is not a number)") from None


class LossWindow:
    """The training loss and throughput since the last validation (summed on the device: no
    sync per step)."""

    def __init__(self, device):
        self.loss_sum = torch.zeros((), device=device)
        self.count = 0
        self.items = 0
        self.start = time.monotonic()

    def add(self, loss) -> None:
        """A finite step's loss (items are counted for every step, by the trainer)."""
        self.loss_sum += loss.detach().float()
        self.count += 1

    def mean_loss(self) -> float:
        return (self.loss_sum / max(1, self.count)).item()

    def rate(self) -> float:
        return self.items / max(1e-9, time.monotonic() - self.start)

    def reset(self) -> None:
        self.loss_sum.zero_()
        self.count = 0
        self.items = 0
        self.start = time.monotonic()


def write_csv(path: Path, fields: list, rows: list) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def read_csv(path: Path) -> list[dict]:
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
