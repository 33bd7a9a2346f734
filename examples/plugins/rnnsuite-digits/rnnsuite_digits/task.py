"""The digits task: data split, model and metrics."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from rnnsuite.core import ExportGraph, SequenceModel, StepOutput, Task, UserError
from torch import nn

IMAGE_ROWS = 8  # time steps
IMAGE_COLS = 8  # features per step
CLASSES = 10


def load_split(test_fraction: float, valid_fraction: float, seed: int):
    """Fixed split of the 1,797 images: (train, valid, test), each (x (N, 8, 8) in [0, 1], y (N,))."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target, dtype=torch.long)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_test = int(round(test_fraction * len(y)))
    n_valid = int(round(valid_fraction * len(y)))
    test, valid, train = order[:n_test], order[n_test:n_test + n_valid], order[n_test + n_valid:]
    return (x[train], y[train]), (x[valid], y[valid]), (x[test], y[test])


def random_shift(images, generator):
    """Translate each image by -1, 0 or +1 pixel in each direction, filling with background."""
    padded = F.pad(images, (1, 1, 1, 1))  # (B, 10, 10)
    dy, dx = torch.randint(0, 3, (2, len(images)), generator=generator)
    rows = (torch.arange(8).unsqueeze(0) + dy.unsqueeze(1))  # (B, 8)
    cols = (torch.arange(8).unsqueeze(0) + dx.unsqueeze(1))
    batch = torch.arange(len(images)).view(-1, 1, 1)
    return padded[batch, rows.unsqueeze(2), cols.unsqueeze(1)]


class DigitsClassifier(nn.Module):
    """Rows -> recurrent stack -> last hidden state -> 10 classes."""

    def __init__(self, cell, hidden_size, num_layers, dropout, backend):
        super().__init__()
        self.seq = SequenceModel(cell, input_size=IMAGE_COLS, hidden_size=hidden_size,
                                 num_layers=num_layers, dropout=dropout, backend=backend)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, CLASSES)

    def forward(self, images, state=None):  # images: (B, 8, 8)
        out, state = self.seq(images.transpose(0, 1), state)  # (T=8, B, H)
        return self.head(self.dropout(out[-1])), state  # (B, 10)


class LogitsOnly(nn.Module):
    """The classifier without its state output: what `rnnsuite export` writes."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, images):
        return self.model(images)[0]


class DigitsTask(Task):
    def __init__(self, config, data, state):
        if data is not None:
            raise UserError(f"{data}: the digits domain takes no DATA (its images ship with scikit-learn)")
        self.config = config
        d = config["data"]
        self.train, self.valid, self.test = load_split(d["test_fraction"], d["valid_fraction"], d["split_seed"])

    def state_dict(self):
        d = self.config["data"]
        return {"classes": CLASSES, "split_seed": d["split_seed"]}

    def build_model(self):
        m = self.config["model"]
        return DigitsClassifier(m["cell"], m["hidden_size"], m["num_layers"], m["dropout"], m["backend"])

    def steps_per_epoch(self):
        b = self.config["train"]["batch_size"]
        return (len(self.train[1]) + b - 1) // b

    def train_batches(self, epoch, generator):
        x, y = self.train
        b = self.config["train"]["batch_size"]
        order = torch.randperm(len(y), generator=generator)
        for i in range(0, len(y), b):
            idx = order[i:i + b]
            images = x[idx]
            if self.config["data"]["shift"]:
                images = random_shift(images, generator)
            yield images, y[idx]

    def training_step(self, model, batch, hidden):
        images, labels = batch
        logits, _ = model(images)
        return StepOutput(F.cross_entropy(logits, labels), items=len(labels))

    def _score(self, model, x, y):
        device = next(model.parameters()).device
        logits, _ = model(x.to(device))
        y = y.to(device)
        return {"loss": F.cross_entropy(logits, y).item(),
                "accuracy": (logits.argmax(1) == y).float().mean().item()}

    def validate(self, model):
        return self._score(model, *self.valid)

    def evaluate(self, model, data):
        metrics = self._score(model, *self.test)
        return {"accuracy": metrics["accuracy"], "loss": metrics["loss"], "samples": len(self.test[1])}

    def export_graph(self, model):
        """`rnnsuite export`: images (B, 8, 8) in [0, 1] in, class logits (B, 10) out."""
        return ExportGraph(LogitsOnly(model), {"images": self.test[0][:4]}, ("logits",),
                           {"images": {0: "batch"}, "logits": {0: "batch"}},
                           {"images": self.test[0][4:11]},
                           "images: (B, 8, 8) float32 digit images scaled to [0, 1], rows as time "
                           "steps; logits: (B, 10) class logits (argmax: the digit)")
