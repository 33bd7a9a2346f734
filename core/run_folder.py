"""Run folders: `runs/<domain>/<N>` numbering, `latest`, and compatibility checks."""

from __future__ import annotations

import json
from pathlib import Path

from rnnsuite.core.errors import UserError

__all__ = ["RUNS_ROOT", "next_run_dir", "latest_run_dir", "resolve_run", "read_run_config",
           "has_checkpoint"]

RUNS_ROOT = Path("runs")
CONFIG = "config.json"
WEIGHTS = "model.safetensors"
TRAINER_STATE = "trainer_state.safetensors"


def _numbered(domain: str, root: Path) -> list[tuple[int, Path]]:
    base = root / domain
    if not base.is_dir():
        return []
    return sorted((int(p.name), p) for p in base.iterdir() if p.is_dir() and p.name.isdigit())


def next_run_dir(domain: str, root: Path | None = None) -> Path:
    """The next free `runs/<domain>/<N>` (N counts from 1)."""
    runs = _numbered(domain, root or RUNS_ROOT)
    return (root or RUNS_ROOT) / domain / str(runs[-1][0] + 1 if runs else 1)


def latest_run_dir(domain: str, root: Path | None = None) -> Path | None:
    """The newest numbered `runs/<domain>/<N>` (trained or not), or None."""
    runs = _numbered(domain, root or RUNS_ROOT)
    return runs[-1][1] if runs else None


def resolve_run(run, domain: str, root: Path | None = None) -> Path:
    """A run folder from a path or `latest` (the domain's newest numbered run with weights)."""
    if run is None or str(run) == "latest":
        candidates = [p for _, p in _numbered(domain, root or RUNS_ROOT) if (p / WEIGHTS).is_file()]
        if not candidates:
            raise UserError(f"no trained {domain} run under {(root or RUNS_ROOT) / domain}; train one first or pass a RUN folder")
        return candidates[-1]
    path = Path(run)
    if not path.exists():
        raise UserError(f"{path}: run folder not found")
    if not path.is_dir():
        raise UserError(f"{path}: not a run folder (expected a directory with config.json)")
    return path


def read_run_config(path: Path, domain: str | None = None) -> dict:
    """RUN/config.json, checked to belong to `domain`."""
    cfg_path = Path(path) / CONFIG
    if not cfg_path.is_file():
        raise UserError(f"{path}: not a run folder (no config.json)")
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{cfg_path}: corrupt config.json ({exc})") from None
    if not isinstance(cfg, dict) or "domain" not in cfg or "config" not in cfg:
        raise UserError(f"{cfg_path}: not an rnnsuite run config (missing domain/config)")
    if domain is not None and cfg["domain"] != domain:
        raise UserError(f"{path}: run folder belongs to domain {cfg['domain']!r}, not {domain!r}")
    return cfg


def has_checkpoint(path: Path) -> bool:
    return (Path(path) / TRAINER_STATE).is_file()
