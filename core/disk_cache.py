"""The on-disk cache that domains keep derived data in (encoded MIDI, audio features):
$RNNSUITE_CACHE_DIR/<name>/ (default ~/.cache/rnnsuite/<name>/), one file per input, named by a
hash of the input's bytes and the settings that shaped what was derived from it, so that an
edited file or a changed setting is a miss, never a stale hit. Entries are written with
`atomic_write_bytes`; a cache that cannot be written is not an error (the caller keeps what it
derived in memory)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["cache_dir", "content_key"]


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
