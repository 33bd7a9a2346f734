"""Learning curves and gradient-norm plots (matplotlib, imported only when plotting)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

__all__ = ["plot_learning_curves", "plot_grad_norms", "grad_norms_figure", "save_figure"]


def save_figure(fig, path) -> None:
    """Save a matplotlib figure atomically as PNG."""
    import io

    from rnnsuite.core.checkpoint import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(Path(path), buf.getvalue())


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_learning_curves(rows: list[dict], path) -> None:
    """One panel per metric: train and valid values against the optimizer step."""
    series = defaultdict(lambda: ([], []))
    for r in rows:
        if r["metric"] in ("lr", "items_per_s", "skipped_steps"):
            continue
        xs, ys = series[(r["metric"], r["split"])]
        xs.append(int(r["step"]))
        ys.append(float(r["value"]))
    metrics = sorted({m for m, _ in series})
    if not metrics:
        return
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for split in ("train", "valid"):
            if (metric, split) in series:
                xs, ys = series[(metric, split)]
                ax.plot(xs, ys, marker="o", ms=3, label=split)
        ax.set_xlabel("step")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    save_figure(fig, path)
    plt.close(fig)


def plot_grad_norms(rows: list[dict], path) -> None:
    """‖∂L/∂h_t‖ against distance from the last step (log scale), latest diagnostic per layer."""
    fig = grad_norms_figure(rows)
    save_figure(fig, path)
    _pyplot().close(fig)


def grad_norms_figure(rows: list[dict]):
    """The figure of plot_grad_norms (also what TensorBoard shows)."""
    last_step = max(int(r["step"]) for r in rows)
    per_layer = defaultdict(list)
    for r in rows:
        if int(r["step"]) == last_step:
            per_layer[r["layer"]].append((int(r["distance"]), float(r["norm"])))
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for layer, points in sorted(per_layer.items()):
        points.sort()
        ax.semilogy([d for d, _ in points], [max(n, 1e-30) for _, n in points], label=layer)
    ax.set_xlabel("distance from the last time step (t_end - t)")
    ax.set_ylabel("‖∂L/∂h_t‖")
    ax.set_title(f"per-time-step gradient norms (step {last_step})")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return fig
