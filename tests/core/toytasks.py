"""Small synthetic tasks that exercise the trainer without any domain."""

import torch
import torch.nn.functional as F
from rnnsuite.core import SequenceModel, StepOutput, Task, batchify, tbptt_windows

#: the overrides of the torchrun tests: the worker and the one-process run they are compared with
DDP_OVERRIDES = ["max_steps=6", "cell=gru", "device=cpu"]


class CopyStreamTask(Task):
    """A token stream where each token predicts the next (a repeating pattern with noise):
    walked in truncated-BPTT windows with the hidden state carried."""

    def __init__(self, config, data=None, state=None, length=800, vocab=7):
        self.config = config
        g = torch.Generator().manual_seed(123)
        pattern = torch.arange(vocab).repeat(length // vocab + 1)[:length]
        noise = torch.randint(0, vocab, (length,), generator=g)
        keep = torch.rand(length, generator=g) < 0.9
        self.vocab = vocab
        self.stream = torch.where(keep, pattern, noise)
        self.valid = self.stream[:200]
        self.nan_at = set()

    def state_dict(self):
        return {"vocab": self.vocab}

    def build_model(self):
        m = self.config["model"]
        return SequenceModel(m["cell"], vocab_size=self.vocab, embedding_dim=8,
                             hidden_size=m["hidden_size"], num_layers=m["num_layers"],
                             output_size=self.vocab, dropout=m["dropout"], backend=m["backend"])

    def train_batches(self, epoch, generator):
        t = self.config["train"]
        data = batchify(self.stream, t["batch_size"])  # (T, B)
        yield from tbptt_windows(data, t["bptt"], generator=generator, variable=True)

    def training_step(self, model, batch, hidden):
        x, y = batch
        logits, hidden = model(x, hidden)
        loss = F.cross_entropy(logits.reshape(-1, self.vocab), y.reshape(-1))
        if getattr(self, "poison", False):
            self.poison = False
            loss = loss * float("nan")
        return StepOutput(loss, hidden, items=y.numel())

    def validate(self, model):
        device = next(model.parameters()).device
        x = self.valid[:-1].unsqueeze(1).to(device)
        y = self.valid[1:].unsqueeze(1).to(device)
        logits, _ = model(x)
        return {"loss": F.cross_entropy(logits.reshape(-1, self.vocab), y.reshape(-1)).item()}

    def evaluate(self, model, data):
        return self.validate(model)


class LastStepTask(Task):
    """Classify a long random sequence by its first element: the loss sits on the last step
    only, so ∂L/∂h_t measures how far back the gradient reaches."""

    def __init__(self, config, length=60, batch=16, features=4):
        self.config = config
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(length, batch, features, generator=g)
        self.y = (self.x[0, :, 0] > 0).long()
        self.features = features

    def build_model(self):
        m = self.config["model"]
        return SequenceModel(m["cell"], input_size=self.features, hidden_size=m["hidden_size"],
                             output_size=2, backend=m["backend"])

    def train_batches(self, epoch, generator):
        yield self.x, self.y

    def training_step(self, model, batch, hidden):
        x, y = batch
        out, _ = model(x)
        return StepOutput(F.cross_entropy(out[-1], y))


class SplittableCopyStreamTask(CopyStreamTask):
    """CopyStreamTask that declares its batch axis: torchrun ranks split its batches' columns."""

    batch_axis = 1
