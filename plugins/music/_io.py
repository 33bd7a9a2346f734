"""Content hashes for the token cache: core's (files are written with core's atomic_write_bytes)."""

from __future__ import annotations

from rnnsuite.core.disk_cache import content_key

__all__ = ["content_key"]
