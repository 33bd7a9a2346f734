"""Scaling and windowing: from series to the model's normalised input windows.

Two levels of normalisation (the "normalise your inputs" of the seed, and the per-series
level of ES-RNN):

1. A per-series scaler, fitted on the training history and stored in the run folder:
   ``u = log(y / s)`` when every value of the file is positive (``transform = "log"``),
   else ``u = y / s``, with ``s`` the mean absolute value of the series.
2. A per-window level: the mean of ``u`` over the last season of the input window is
   subtracted from the inputs and the targets, so the network sees shapes, not levels.

Training windows are rows of one strided view (``Tensor.unfold``) over all series laid end to
end, so making them copies nothing::

    buffer   [ a0 a1 ... a_n  nan*H | b0 b1 ... b_m  nan*H | ... ]
    windows  rows of buffer.unfold(0, L + H, 1), picked by start offset
             [ input: L points | target: H points (NaN past a series' end = masked) ]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rnnsuite.plugins.forecast.data import ForecastData, Series, calendar_features

__all__ = ["Scaler", "WindowSpec", "window_features", "TrainingWindows"]


@dataclass
class Scaler:
    """Per-series scale plus an optional log transform; see the module docstring."""

    log: bool
    scales: dict

    @classmethod
    def fit(cls, data: ForecastData, transform: str = "auto", cutoff: dict | None = None) -> "Scaler":
        """Fit on each series' values before `cutoff[id]` (all of them when None)."""
        positive = all(np.nanmin(s.values) > 0 for s in data.series)
        if transform == "log" and not positive:
            raise ValueError("the log transform needs positive values")
        log = positive if transform == "auto" else transform == "log"
        scales = {}
        for s in data.series:
            end = cutoff.get(s.id, len(s)) if cutoff else len(s)
            scales[s.id] = _scale_of(s.values[: max(end, 1)])
        return cls(log=log, scales=scales)

    def state_dict(self) -> dict:
        return {"log": self.log, "scales": dict(self.scales)}

    @classmethod
    def from_state(cls, state: dict) -> "Scaler":
        return cls(log=bool(state["log"]), scales={str(k): float(v) for k, v in state["scales"].items()})

    def scale_for(self, series: Series) -> float:
        """The stored scale, or one fitted on the spot for a series the run has not seen."""
        return self.scales.get(series.id) or _scale_of(series.values)

    def forward(self, values: np.ndarray, scale: float) -> np.ndarray:
        y = np.asarray(values, dtype=np.float64) / scale
        if self.log:
            # A non-positive value in a log-scaled run (new data): clip instead of failing.
            return np.log(np.where(np.isnan(y), np.nan, np.maximum(y, 1e-6)))
        return y

    def inverse(self, u, scale):
        return (np.exp(u) if self.log else u) * scale


def _scale_of(values: np.ndarray) -> float:
    v = np.abs(values[~np.isnan(values)])
    s = float(v.mean()) if v.size else 1.0
    return s if s > 0 and np.isfinite(s) else 1.0


@dataclass
class WindowSpec:
    """Window sizes: `input_size` points in, `horizon` points out; `season` sets the level."""

    input_size: int
    horizon: int
    season: int
    anchor: str = "level"  # what the network's outputs are added to: "level" or "seasonal_naive"

    @property
    def level_size(self) -> int:
        return max(1, min(self.season, self.input_size))


def anchor_values(u, level, spec: WindowSpec):
    """What the network's outputs are offsets from, per horizon step. Shape: (B, H).

    "level": the window's level at every step. "seasonal_naive": the value one season before
    each target step (the last value when the window is shorter than a season), so an all-zero
    output is the seasonal-naive forecast, a strong start when data are few.
    """
    import torch

    B, L = u.shape
    H, m = spec.horizon, spec.season
    if spec.anchor == "level":
        return level[:, None].expand(B, H)
    if spec.anchor != "seasonal_naive":
        raise ValueError(f"unknown anchor {spec.anchor!r}")
    steps = torch.arange(H, device=u.device)
    index = L - m + steps % m if 1 <= m <= L else torch.full((H,), L - 1, device=u.device)
    base = u[:, index]
    return torch.where(torch.isnan(base), level[:, None].expand(B, H), base)


def window_features(u, calendar=None, covariates=None, level_size: int = 1):
    """Normalised model inputs for a batch of windows.

    Args:
        u: (B, L) scaled values, NaN where missing (torch tensor).
        calendar: (B, L, k) calendar features or None.
        covariates: (B, L, C) scaled covariates or None.
    Returns:
        x: (L, B, F) inputs: value minus level (0 where missing), missing flag, calendar, covariates.
        level: (B,) the level that was subtracted.
    """
    import torch

    missing = torch.isnan(u)
    tail = u[:, -level_size:]
    tail_ok = ~torch.isnan(tail)
    level = torch.where(tail_ok, tail, torch.zeros_like(tail)).sum(1) / tail_ok.sum(1).clamp(min=1)
    # No value in the last season: fall back to the whole window, then to 0.
    all_ok = ~missing
    whole = torch.where(all_ok, u, torch.zeros_like(u)).sum(1) / all_ok.sum(1).clamp(min=1)
    level = torch.where(tail_ok.any(1), level, whole)
    centred = torch.where(missing, torch.zeros_like(u), u - level[:, None])
    parts = [centred[..., None], missing.to(u.dtype)[..., None]]  # (B, L, 1) each
    if calendar is not None and calendar.shape[-1]:
        parts.append(calendar.to(u.dtype))
    if covariates is not None and covariates.shape[-1]:
        parts.append(covariates.to(u.dtype))
    x = torch.cat(parts, dim=-1)  # (B, L, F)
    return x.transpose(0, 1).contiguous(), level  # (L, B, F), (B,)


class TrainingWindows:
    """All (input, target) windows of a set of series, as views into one buffer.

    `ends[id]` is where each series' training part ends (validation points after it are never
    targets). A window needs its whole input inside the training part and at least one target
    point in it; target points past the end are NaN and masked out of the loss.
    """

    def __init__(self, data: ForecastData, scaler: Scaler, spec: WindowSpec, ends: dict,
                 history_limit: int | None = None):
        import torch

        L, H = spec.input_size, spec.horizon
        self.spec = spec
        values, cal, cov, starts = [], [], [], []
        offset = 0
        for s in data.series:
            end = ends.get(s.id, len(s))
            u = scaler.forward(s.values[:end], scaler.scale_for(s))
            n = len(u)
            values.append(np.concatenate([u, np.full(H, np.nan)]))
            c = calendar_features(s.time[:end], data.freq) if n else np.zeros((0, 0))
            cal.append(np.concatenate([c, np.zeros((H, c.shape[1]))]) if n else c)
            if s.covariates is not None:
                z = _standardise(s.covariates[:end])
                cov.append(np.concatenate([z, np.zeros((H, z.shape[1]))]))
            first = 0 if history_limit is None else max(0, n - L - history_limit)
            if n >= L + 1:
                starts.append(offset + np.arange(first, n - L))
            offset += n + H
        self.values = torch.tensor(np.concatenate(values) if values else np.zeros(0), dtype=torch.float32)
        k = cal[0].shape[1] if cal else 0
        self.calendar = torch.tensor(np.concatenate(cal) if k else np.zeros((len(self.values), 0)), dtype=torch.float32)
        self.covariates = torch.tensor(np.concatenate(cov), dtype=torch.float32) if cov else None
        self.starts = torch.tensor(np.concatenate(starts) if starts else np.zeros(0, dtype=np.int64), dtype=torch.long)
        # (num_positions, L + H) view, no copy
        self._value_windows = self.values.unfold(0, L + H, 1) if len(self.values) >= L + H else self.values[:0, None]
        self._cal_windows = self.calendar.unfold(0, L, 1) if len(self.values) >= L else None  # (N, k, L)
        self._cov_windows = self.covariates.unfold(0, L, 1) if self.covariates is not None else None

    def __len__(self) -> int:
        return len(self.starts)

    def batch(self, index):
        """The windows starting at `self.starts[index]`: dict of x (L,B,F), target (B,H), level (B,)."""
        L = self.spec.input_size
        start = self.starts[index]
        w = self._value_windows[start]  # (B, L + H), gathered: the only copy
        cal = self._cal_windows[start].transpose(1, 2) if self._cal_windows is not None else None
        cov = self._cov_windows[start].transpose(1, 2) if self._cov_windows is not None else None
        x, level = window_features(w[:, :L], cal, cov, self.spec.level_size)
        return {"x": x, "target": w[:, L:] - anchor_values(w[:, :L], level, self.spec)}


def _standardise(cov: np.ndarray) -> np.ndarray:
    mean = np.nanmean(cov, axis=0) if len(cov) else 0.0
    std = np.nanstd(cov, axis=0) if len(cov) else 1.0
    std = np.where(std > 0, std, 1.0)
    return np.nan_to_num((cov - mean) / std)
