"""Classical baselines with prediction intervals: naive and seasonal naive.

Intervals follow Hyndman & Athanasopoulos, *Forecasting: Principles and Practice*, 5.5: with
sigma the standard deviation of the in-sample one-step (naive) or one-season (seasonal naive)
residuals, the h-step standard deviation is sigma * sqrt(h) for naive and
sigma * sqrt(floor((h - 1) / m) + 1) for seasonal naive.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Z80", "Z95", "naive", "seasonal_naive", "interval_columns"]

Z80 = 1.2815515655446004  # standard normal 0.90 quantile
Z95 = 1.959963984540054  # standard normal 0.975 quantile


def _last_valid(history: np.ndarray) -> np.ndarray:
    """The history with NaNs replaced by the last value before them (for baselines only)."""
    h = np.asarray(history, dtype=float).copy()
    for i in range(1, len(h)):
        if np.isnan(h[i]):
            h[i] = h[i - 1]
    return h[~np.isnan(h)] if np.isnan(h[0]) else h


def interval_columns(mean: np.ndarray, sd: np.ndarray) -> dict:
    """Gaussian intervals around `mean`: the forecast columns mean, lo80, hi80, lo95, hi95."""
    return {"mean": mean, "lo80": mean - Z80 * sd, "hi80": mean + Z80 * sd,
            "lo95": mean - Z95 * sd, "hi95": mean + Z95 * sd}


def naive(history, horizon: int) -> dict:
    """Repeat the last value. Returns the forecast columns, each of shape (horizon,)."""
    h = _last_valid(history)
    mean = np.full(horizon, h[-1])
    resid = np.diff(h)
    sigma = float(np.sqrt(np.mean(resid**2))) if resid.size else 0.0
    return interval_columns(mean, sigma * np.sqrt(np.arange(1, horizon + 1)))


def seasonal_naive(history, horizon: int, season: int) -> dict:
    """Repeat the last season: f_{T+h} = y_{T+h-m*(floor((h-1)/m)+1)}.

    With m <= 1 or a history shorter than one season this is the naive forecast.
    """
    h = _last_valid(history)
    if season <= 1 or len(h) < season:
        return naive(h, horizon)
    steps = np.arange(1, horizon + 1)
    k = (steps - 1) // season + 1  # whole seasons back
    mean = h[len(h) - season + (steps - 1) % season]
    resid = h[season:] - h[:-season]
    sigma = float(np.sqrt(np.mean(resid**2))) if resid.size else 0.0
    return interval_columns(mean, sigma * np.sqrt(k))
