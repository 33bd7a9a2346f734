"""Truncated backpropagation through time: streams, windows and detached state."""

from __future__ import annotations

import torch

__all__ = ["batchify", "tbptt_windows", "detach_hidden"]


def detach_hidden(state):
    """Cut the graph behind a carried state so backward stops at the window's start."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.detach()
    return type(state)(detach_hidden(s) for s in state)


def batchify(data: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Lay a corpus out as `batch_size` parallel streams (columns), dropping the remainder.

    With the alphabet as data and batch_size 4:
        a b c d e f g h i j k l m n o p q r s t u v w x  ->  ┌ a g m s ┐
                                                              │ b h n t │
                                                              │ c i o u │
                                                              │ d j p v │
                                                              │ e k q w │
                                                              └ f l r x ┘
    Shape: (N, *) -> (N // batch_size, batch_size, *). Each column is read top to bottom, so the
    hidden state of column b carries from one window to the next.
    """
    steps = data.shape[0] // batch_size
    if steps == 0:
        raise ValueError(f"{data.shape[0]} items are too few for {batch_size} streams")
    data = data[: steps * batch_size]
    return data.reshape(batch_size, steps, *data.shape[1:]).transpose(0, 1).contiguous()


def tbptt_windows(stream: torch.Tensor, bptt: int, generator: torch.Generator | None = None,
                  variable: bool = False, min_len: int = 5):
    """Walk a batchified stream (T, B, ...) in windows of `bptt` steps.

    Yields `(inputs, targets)` with inputs = stream[i:i+k] and targets = stream[i+1:i+1+k].
    With `variable=True` (AWD-LSTM), k is drawn around `bptt` (half the time bptt/2) so that
    window boundaries move between epochs; draws come from `generator` for exact replay.
    """
    i = 0
    T = stream.shape[0]
    while i < T - 1:
        k = bptt
        if variable:
            base = bptt if torch.rand((), generator=generator).item() < 0.95 else bptt / 2
            k = max(min_len, int(base + 5 * torch.randn((), generator=generator).item()))
        k = min(k, T - 1 - i)
        yield stream[i : i + k], stream[i + 1 : i + 1 + k]
        i += k
