"""Piano-roll pictures of notes (`generate --plot`)."""

from __future__ import annotations

__all__ = ["save_pianoroll", "pianoroll_figure"]


def save_pianoroll(notes, path, title: str = "") -> None:
    """A PNG of `pianoroll_figure` at `path`."""
    import matplotlib.pyplot as plt
    from rnnsuite.core import save_figure

    fig = pianoroll_figure(notes, title)
    save_figure(fig, path)
    plt.close(fig)


def pianoroll_figure(notes, title: str = ""):
    """Notes `(pitch, start_s, end_s, velocity[, drum])` -> a matplotlib figure: time across,
    pitch up, darker for louder; drums in red along their own rows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    fig, ax = plt.subplots(figsize=(10, 4), dpi=100)
    boxes, colors = [], []
    for note in notes:
        pitch, start, end, velocity = note[:4]
        drum = bool(note[4]) if len(note) > 4 else False
        boxes.append(Rectangle((start, pitch - 0.4), max(end - start, 0.01), 0.8))
        shade = 0.25 + 0.75 * velocity / 127
        colors.append((0.8, 0.1, 0.1, shade) if drum else (0.1, 0.2, 0.6, shade))
    ax.add_collection(PatchCollection(boxes, facecolors=colors, edgecolors="none"))
    if notes:
        pitches = [n[0] for n in notes]
        ax.set_xlim(0, max(n[2] for n in notes) + 0.1)
        ax.set_ylim(min(pitches) - 2, max(pitches) + 2)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("MIDI pitch")
    ax.set_title(title or f"{len(notes)} notes")
    ax.grid(True, axis="y", alpha=0.2)
    fig.tight_layout()
    return fig
