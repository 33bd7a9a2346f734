"""Progress bars on stderr (tqdm) when stderr is a terminal; silenced with RNNSUITE_PROGRESS=0."""

from __future__ import annotations

import os
import sys

__all__ = ["progress", "progress_wanted", "stderr_is_terminal"]


def progress_wanted() -> bool:
    """False when RNNSUITE_PROGRESS=0 (or false, no)."""
    return os.environ.get("RNNSUITE_PROGRESS", "1") not in ("0", "false", "no")


def stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def progress(iterable=None, total=None, desc: str = "", unit: str = "it", leave: bool = True,
             disable: bool = False, **kwargs):
    """A tqdm bar on stderr. Disabled when RNNSUITE_PROGRESS=0 or stderr is not a terminal (logs
    and CI output would fill with carriage-return updates)."""
    from tqdm.auto import tqdm

    disable = disable or not progress_wanted() or not stderr_is_terminal()
    return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave, file=sys.stderr,
                disable=disable, dynamic_ncols=True, **kwargs)
