"""Helpers shared by the hardening tests (a uniquely named module, not a conftest import)."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from click.testing import CliRunner
from rnnsuite.core import Domain, SequenceModel, StepOutput, Task, batchify, tbptt_windows
from rnnsuite.core.config import apply_overrides, default_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
BAD = ROOT / "tests" / "data" / "bad"


class StreamTask(Task):
    """A noisy repeating token stream, walked in truncated-BPTT windows. `fault(step, model,
    loss)` may return a poisoned loss, or poison the weights, to simulate numerical faults."""

    def __init__(self, config, data=None, state=None, length=600, vocab=7):
        self.config = config
        g = torch.Generator().manual_seed(123)
        pattern = torch.arange(vocab).repeat(length // vocab + 1)[:length]
        noise = torch.randint(0, vocab, (length,), generator=g)
        self.stream = torch.where(torch.rand(length, generator=g) < 0.9, pattern, noise)
        self.vocab = vocab
        self.calls = 0

    def fault(self, call, model, loss):
        return loss

    def state_dict(self):
        return {"vocab": self.vocab}

    def build_model(self):
        m = self.config["model"]
        return SequenceModel(m["cell"], vocab_size=self.vocab, embedding_dim=8,
                             hidden_size=m["hidden_size"], output_size=self.vocab, backend=m["backend"])

    def train_batches(self, epoch, generator):
        t = self.config["train"]
        yield from tbptt_windows(batchify(self.stream, t["batch_size"]), t["bptt"], generator=generator)

    def training_step(self, model, batch, hidden):
        self.calls += 1
        x, y = batch
        logits, hidden = model(x, hidden)
        loss = F.cross_entropy(logits.reshape(-1, self.vocab), y.reshape(-1))
        return StepOutput(self.fault(self.calls, model, loss), hidden, items=y.numel())

    def validate(self, model):
        x, y = self.stream[:100].unsqueeze(1), self.stream[1:101].unsqueeze(1)
        logits, _ = model(x)
        return {"loss": F.cross_entropy(logits.reshape(-1, self.vocab), y.reshape(-1)).item()}

    def evaluate(self, model, data):
        return self.validate(model)


class StreamDomain(Domain):
    name = "stream"
    data_required = False

    def __init__(self, task_class=StreamTask):
        self.task_class = task_class

    def config_defaults(self):
        return {"model": {"hidden_size": 8, "cell": "gru"},
                "train": {"epochs": 1, "batch_size": 4, "bptt": 10, "eval_every": 5, "lr": 0.01,
                          "device": "cpu"}}

    def create_task(self, config, data, state):
        return self.task_class(config, data, state)


def stream_config(*overrides):
    return apply_overrides(default_config(StreamDomain()), list(overrides))


def folder_digest(folder: Path) -> dict:
    """{relative path: sha256} of every file under `folder` (the lock file aside)."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}


def invoke(*args):
    from rnnsuite.apps.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args])


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("Error:")]


def cli_env(**extra) -> dict:
    env = {**os.environ, "RNNSUITE_PROGRESS": "0", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env.update(extra)
    return env


CLI = [sys.executable, "-m", "rnnsuite.apps.cli"]
