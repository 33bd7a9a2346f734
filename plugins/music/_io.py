"""Content hashes for the token cache (files are written with core's atomic_write_bytes)."""

from __future__ import annotations

import hashlib

__all__ = ["content_key"]


def content_key(data: bytes, settings: str) -> str:
    """A cache key for a file's content under given tokeniser settings."""
    h = hashlib.blake2b(digest_size=16)
    h.update(settings.encode())
    h.update(b"\0")
    h.update(data)
    return h.hexdigest()
