"""Forecast accuracy: sMAPE (M3 definition), MASE, MAE, RMSE, interval coverage and the scaled
pinball loss of the quantiles the bands stand for.

Pure numpy. Missing actuals (NaN) are skipped everywhere.
"""

from __future__ import annotations

import numpy as np

__all__ = ["smape", "mase_scale", "mase", "mae", "rmse", "coverage", "pinball", "pinball_points",
           "scaled_pinball", "BAND_QUANTILES", "summarize"]

#: The quantile each forecast column stands for (the 80% and 95% central bands, the median).
BAND_QUANTILES = {"lo95": 0.025, "lo80": 0.1, "mean": 0.5, "hi80": 0.9, "hi95": 0.975}


def smape(actual, forecast) -> float:
    """Symmetric MAPE in percent, as in the M3 competition: mean of 200|y - f| / (|y| + |f|).

    A point where both are 0 counts as 0 error.
    """
    y, f = _pair(actual, forecast)
    denom = np.abs(y) + np.abs(f)
    terms = np.where(denom > 0, 200.0 * np.abs(y - f) / np.where(denom > 0, denom, 1.0), 0.0)
    return float(np.mean(terms)) if terms.size else float("nan")


def mase_scale(history, season: int = 1) -> float:
    """In-sample MAE of the seasonal-naive forecast: mean |y_t - y_{t-m}| over the history.

    Falls back to m = 1 when the history is shorter than one season plus one; NaN when no
    difference can be formed or all are zero (the series is constant).
    """
    h = np.asarray(history, dtype=float)
    m = season if season >= 1 and len(h) > season else 1
    if len(h) <= m:
        return float("nan")
    d = np.abs(h[m:] - h[:-m])
    d = d[~np.isnan(d)]
    if d.size == 0 or d.mean() == 0:
        return float("nan")
    return float(d.mean())


def mase(actual, forecast, history, season: int = 1) -> float:
    """Mean absolute scaled error: MAE of the forecast over `mase_scale(history, season)`."""
    return mae(actual, forecast) / mase_scale(history, season)


def mae(actual, forecast) -> float:
    """Mean absolute error."""
    y, f = _pair(actual, forecast)
    return float(np.mean(np.abs(y - f))) if y.size else float("nan")


def rmse(actual, forecast) -> float:
    """Root mean squared error."""
    y, f = _pair(actual, forecast)
    return float(np.sqrt(np.mean((y - f) ** 2))) if y.size else float("nan")


def coverage(actual, lower, upper) -> float:
    """Share of actuals inside [lower, upper], in [0, 1]."""
    y = np.asarray(actual, dtype=float).ravel()
    lo = np.asarray(lower, dtype=float).ravel()
    hi = np.asarray(upper, dtype=float).ravel()
    ok = ~np.isnan(y)
    if not ok.any():
        return float("nan")
    return float(np.mean((lo[ok] <= y[ok]) & (y[ok] <= hi[ok])))


def pinball_points(actual, columns: dict) -> np.ndarray:
    """The pinball (quantile) loss of each point, averaged over the five BAND_QUANTILES columns:
    an array shaped as `actual`, NaN where it is missing. `columns` maps lo95, lo80, mean, hi80,
    hi95 to forecasts shaped as `actual`; `mean` counts as the median."""
    y = np.asarray(actual, dtype=float)
    losses = []
    for name, q in BAND_QUANTILES.items():
        diff = y - np.asarray(columns[name], dtype=float).reshape(y.shape)
        losses.append(np.maximum(q * diff, (q - 1) * diff))
    return np.mean(losses, axis=0)


def pinball(actual, columns: dict) -> float:
    """Mean pinball (quantile) loss over the five BAND_QUANTILES columns and every point
    (`pinball_points` averaged). Missing actuals are skipped.
    """
    y = np.asarray(actual, dtype=float).ravel()
    per = pinball_points(y, {k: np.asarray(columns[k], dtype=float).ravel() for k in BAND_QUANTILES})
    per = per[~np.isnan(y)]
    return float(per.mean()) if per.size else float("nan")


def scaled_pinball(actual, columns: dict, history, season: int = 1) -> float:
    """`pinball` over `mase_scale(history, season)`: a scale-free score of the whole forecast
    distribution (its median part is half the MASE), comparable across series as MASE is."""
    return pinball(actual, columns) / mase_scale(history, season)


def summarize(windows: list[dict], season: int) -> dict:
    """Pool the metrics of several forecast windows (series x origins).

    Each window is a dict with `actual`, `history`, `mean`, `lo80`, `hi80`, `lo95`, `hi95`
    (arrays). sMAPE, MAE, RMSE and coverage pool every forecast point; MASE and the scaled
    pinball loss average the per-window figures, as the M4 competition does (windows of
    constant history are left out).
    """
    if not windows:
        nan = float("nan")
        return {"smape": nan, "mase": nan, "mae": nan, "rmse": nan, "coverage80": nan, "coverage95": nan,
                "pinball": nan}
    cat = {k: np.concatenate([np.asarray(w[k], dtype=float).ravel() for w in windows])
           for k in ("actual", "mean", "lo80", "hi80", "lo95", "hi95")}
    scaled = [mase(w["actual"], w["mean"], w["history"], season) for w in windows]
    scaled = [s for s in scaled if np.isfinite(s)]
    quantile = [scaled_pinball(w["actual"], w, w["history"], season) for w in windows]
    quantile = [s for s in quantile if np.isfinite(s)]
    return {
        "smape": smape(cat["actual"], cat["mean"]),
        "mase": float(np.mean(scaled)) if scaled else float("nan"),
        "mae": mae(cat["actual"], cat["mean"]),
        "rmse": rmse(cat["actual"], cat["mean"]),
        "coverage80": coverage(cat["actual"], cat["lo80"], cat["hi80"]),
        "coverage95": coverage(cat["actual"], cat["lo95"], cat["hi95"]),
        "pinball": float(np.mean(quantile)) if quantile else float("nan"),
    }


def _pair(actual, forecast):
    y = np.asarray(actual, dtype=float).ravel()
    f = np.asarray(forecast, dtype=float).ravel()
    if y.shape != f.shape:
        raise ValueError(f"actual {y.shape} and forecast {f.shape} differ in length")
    ok = ~(np.isnan(y) | np.isnan(f))
    return y[ok], f[ok]
