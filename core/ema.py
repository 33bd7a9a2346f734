"""train.ema: an exponential moving average of the weights (a part of the Trainer).

Validation, the best weights and `model.safetensors` use the average; training goes on with the
model's own weights. The average lives in the trainer state for exact resume.
"""

from __future__ import annotations

import contextlib

import torch

__all__ = ["WeightAverage", "ema_decay"]


def ema_decay(decay: float, updates: int) -> float:
    """The decay of a moving average of the weights after `updates` updates: min(decay, (1 + n) /
    (10 + n)), as tf.train.ExponentialMovingAverage with num_updates, so that the average follows
    the weights closely at first instead of remembering the initialisation."""
    return min(decay, (1 + updates) / (10 + updates))


class WeightAverage:
    """The average of `model`'s floating-point weights with decay `decay` (0: off, a no-op)."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.model = model
        self.decay = decay
        self.state: dict | None = None   # {name: averaged tensor}
        self.updates = 0
        self._pairs: tuple = ([], [])    # (averages, the model's tensors) for one foreach lerp
        self.reset()

    def reset(self) -> None:
        """Start the average at the current weights."""
        self.updates = 0
        if not self.decay:
            return
        weights = {k: v for k, v in self.model.state_dict().items() if v.is_floating_point()}
        self.state = {k: v.detach().clone() for k, v in weights.items()}
        # the model's own tensors, in state's order (load_state_dict copies into them in place)
        self._pairs = (list(self.state.values()), [v.detach() for v in weights.values()])

    def update(self) -> None:
        """ema <- d * ema + (1 - d) * weights, with d = ema_decay(decay, updates so far)."""
        if self.state is None:
            return
        with torch.no_grad():
            torch._foreach_lerp_(*self._pairs, 1.0 - ema_decay(self.decay, self.updates))
        self.updates += 1

    def weights(self) -> dict:
        """The state dict that validation scores: the model's, with the average in place of its
        floating-point weights."""
        if self.state is None:
            return self.model.state_dict()
        return {**self.model.state_dict(), **self.state}

    @contextlib.contextmanager
    def applied(self):
        """Inside: the model holds the averaged weights (its own ones when off)."""
        if self.state is None:
            yield
            return
        own = {k: v.detach().clone() for k, v in self.model.state_dict().items() if k in self.state}
        self.model.load_state_dict(self.state, strict=False)
        try:
            yield
        finally:
            self.model.load_state_dict(own, strict=False)

    def load(self, averages: dict, updates: int) -> None:
        """Restore a saved average; a checkpoint from before train.ema (none saved) starts it here."""
        if self.state is None:
            return
        if not averages:
            self.reset()
            return
        for k in self.state:
            self.state[k].copy_(averages[k])
        self.updates = updates
