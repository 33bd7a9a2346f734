"""Small file helpers: atomic writes and content hashes."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "content_key"]


def atomic_write(path, data: bytes) -> None:
    """Write bytes to `path` through a temporary file and a rename: a kill leaves the old file."""
    try:  # core's helper when it is there, so every run-folder file is written one way
        from rnnsuite.core import atomic_write_bytes
    except (ImportError, AttributeError):
        atomic_write_bytes = None
    path = Path(path)
    if atomic_write_bytes is not None:
        atomic_write_bytes(path, data)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def content_key(data: bytes, settings: str) -> str:
    """A cache key for a file's content under given tokeniser settings."""
    h = hashlib.blake2b(digest_size=16)
    h.update(settings.encode())
    h.update(b"\0")
    h.update(data)
    return h.hexdigest()
