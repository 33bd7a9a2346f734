"""RNN diagnostics: per-time-step gradient norms ‖∂L/∂h_t‖, the vanishing-gradient picture."""

from __future__ import annotations

import contextlib

import torch
from rnnsuite.core.cells import RecurrentStack

__all__ = ["per_step_grad_norms", "record_hidden_states"]


@contextlib.contextmanager
def record_hidden_states(model: torch.nn.Module):
    """Run every RecurrentStack of `model` on the reference backend and collect each layer's
    h_t tensors (direction 0) with their gradients retained. Yields {name/layer: [h_t...]}."""
    stacks = [(n, m) for n, m in model.named_modules() if isinstance(m, RecurrentStack)]
    records: dict = {}
    saved = {}

    def observer_for(name):
        def observe(layer, direction, h):
            if direction != 0:
                return
            if h.requires_grad:
                h.retain_grad()
            records.setdefault(f"{name or 'rnn'}/layer{layer}", []).append(h)
        return observe

    for name, stack in stacks:
        saved[name] = (stack.backend, stack.step_observer)
        stack.backend, stack.step_observer = "reference", observer_for(name)
    try:
        yield records
    finally:
        for name, stack in stacks:
            stack.backend, stack.step_observer = saved[name]


def per_step_grad_norms(model: torch.nn.Module, task, batch, device=None) -> dict[str, list[float]]:
    """‖∂L/∂h_t‖ (over batch and features) for every t and layer, for one batch.

    The model runs in eval mode (no dropout, so the RNG and thus exact resume are untouched)
    from a zero state; the gradients computed here are discarded.
    """
    was_training = model.training
    model.eval()
    rng = torch.get_rng_state()
    try:
        with torch.enable_grad(), record_hidden_states(model) as records:
            out = task.training_step(model, batch, None)
            loss = out.loss if hasattr(out, "loss") else (out[0] if isinstance(out, tuple) else out)
            loss.backward()
        norms = {}
        for key, hs in records.items():
            norms[key] = [float(h.grad.norm()) if h.grad is not None else 0.0 for h in hs]
        return norms
    finally:
        model.zero_grad(set_to_none=True)
        torch.set_rng_state(rng)
        model.train(was_training)
