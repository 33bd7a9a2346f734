"""Progress bars on stderr (tqdm), silenced with RNNSUITE_PROGRESS=0."""

from __future__ import annotations

import os
import sys

__all__ = ["progress"]


def progress(iterable=None, total=None, desc: str = "", unit: str = "it", leave: bool = True,
             disable: bool = False, **kwargs):
    """A tqdm bar on stderr. Disabled when RNNSUITE_PROGRESS=0."""
    from tqdm.auto import tqdm

    disable = disable or os.environ.get("RNNSUITE_PROGRESS", "1") in ("0", "false", "no")
    return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave, file=sys.stderr,
                disable=disable, dynamic_ncols=True, **kwargs)
