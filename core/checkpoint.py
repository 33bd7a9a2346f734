"""Run-folder I/O: atomic writes and safetensors weights (no pickle anywhere)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from rnnsuite.core.errors import WriteError

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_write_json", "save_weights", "load_weights"]

# A safetensors header larger than this is refused before it is read (hostile files).
MAX_HEADER_BYTES = 100 * 1024 * 1024

# Files are created with the permissions open() would give them (mkstemp's are 0600).
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path, data: bytes) -> None:
    """Write to a temporary file beside `path`, fsync, then rename over it.

    A kill at any moment leaves either the old file or the new one, never a torn one.
    A failed write (disk full, permission denied) raises WriteError, which names the file and
    says that the previous version is kept.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        if isinstance(exc, OSError) and not isinstance(exc, WriteError):
            kept = "; the previous version is kept" if path.exists() else ""
            reason = exc.strerror or str(exc)
            raise WriteError(f"{path}: cannot write ({reason}){kept}", exc.errno, reason) from None
        raise


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def save_weights(path, tensors: dict, metadata: dict | None = None) -> None:
    """Save a flat {name: tensor} dict as safetensors, atomically. Shared tensors are cloned."""
    from safetensors.torch import save

    seen = {}
    flat = {}
    for name, t in tensors.items():
        t = t.detach().cpu()
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape))
        flat[name] = t.clone() if key in seen or not t.is_contiguous() else t
        seen[key] = name
    meta = {k: str(v) for k, v in (metadata or {}).items()}
    atomic_write_bytes(path, _sorted_metadata(save(flat, metadata=meta)))


def _sorted_metadata(blob: bytes) -> bytes:
    """The same safetensors file with its metadata keys in sorted order: safetensors writes them
    in hash-map order, which differs from save to save, so equal weights gave different bytes."""
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + n])
    if "__metadata__" in header:
        header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)          # the data section stays 8-byte aligned
    return len(text).to_bytes(8, "little") + text + blob[8 + n:]


def check_safetensors_header(path) -> None:
    """Refuse a file whose declared header length is absurd or beyond the file's size."""
    from rnnsuite.core.errors import UserError

    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
    if len(head) < 8:
        raise UserError(f"{path}: truncated safetensors file")
    n = int.from_bytes(head, "little")
    if n > MAX_HEADER_BYTES or 8 + n > size:
        raise UserError(f"{path}: corrupt safetensors header (declares {n} bytes)")


def load_weights(path) -> tuple[dict, dict]:
    """Load (tensors, metadata) from a safetensors file; corrupt files are UserErrors."""
    from rnnsuite.core.errors import UserError
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    check_safetensors_header(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:
        raise UserError(f"{path}: not a readable safetensors file ({' '.join(str(exc).split())})") from None
    return tensors, meta
