"""The on-disk cache that domains keep derived data in (encoded MIDI, audio features):
$RNNSUITE_CACHE_DIR/<name>/ (default ~/.cache/rnnsuite/<name>/), one file per input, named by a
hash of the input's bytes and the settings that shaped what was derived from it, so that an
edited file or a changed setting is a miss, never a stale hit. Entries are written with
`atomic_write_bytes` (`write_entry`); a cache that cannot be written is not an error: the caller
keeps what it derived in memory, and the user is told once, on one warning line, why the next run
will derive it again."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

__all__ = ["cache_dir", "content_key", "write_entry"]

_warned: set = set()    # cache folders already reported unwritable in this process
_warned_lock = threading.Lock()   # entries are written from worker threads (speech features)


def cache_dir(name: str) -> Path:
    """The cache folder of `name` (a domain), not created."""
    root = os.environ.get("RNNSUITE_CACHE_DIR") or Path.home() / ".cache" / "rnnsuite"
    return Path(root) / name


def content_key(data: bytes, settings: str) -> str:
    """A cache key for a file's content under given settings (32 hex digits)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(settings.encode())
    h.update(b"\0")
    h.update(data)
    return h.hexdigest()


def write_entry(path, data: bytes, cache=None) -> bool:
    """Write one cache entry atomically. False when it cannot be written (read-only or full disk,
    a folder that cannot be created); the first failure under each cache folder (`cache`, by
    default the entry's folder) is reported on one warning line."""
    from rnnsuite.core.checkpoint import atomic_write_bytes
    from rnnsuite.core.errors import warn

    path = Path(path)
    try:
        atomic_write_bytes(path, data)
        return True
    except OSError as exc:
        folder = Path(cache) if cache is not None else path.parent
        with _warned_lock:
            first = folder not in _warned
            _warned.add(folder)
        if first:
            reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
            warn(f"{folder}: cannot write the cache ({reason}); what it would hold stays in memory "
                 "and is derived again next time")
        return False
