"""From a trained network to forecasts and backtests.

`forecast` turns histories into the forecast columns (mean, lo80, hi80, lo95, hi95) on the
original scale (a history shorter than the input window padded in front), falling back to
seasonal naive for series shorter than the model needs (`WindowSpec.shortest`);
`backtest` cuts the last H points (or several origins) off every series and scores the model
and the naive and seasonal-naive baselines on exactly the same windows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from rnnsuite.plugins.forecast.baselines import naive, seasonal_naive
from rnnsuite.plugins.forecast.data import ForecastData, Series, future_index
from rnnsuite.plugins.forecast.metrics import summarize
from rnnsuite.plugins.forecast.windows import Scaler, WindowSpec, history_window, stacked_inputs

__all__ = ["COLUMNS", "forecast", "forecast_table", "backtest"]

COLUMNS = ("mean", "lo80", "hi80", "lo95", "hi95")   # forecast tables (the head's: model.HEAD_COLUMNS)


def _model_columns(model, kind, histories, data, scaler, spec, device, batch_size=2048):
    """Model forecasts (len(histories), H, 5 in COLUMNS order) for histories of >= L points."""
    import torch
    from rnnsuite.plugins.forecast.model import HEAD_COLUMNS, to_columns

    windows = [history_window(s, len(s), scaler, spec, data.freq) for s in histories]
    out = []
    param = next(model.parameters())
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for i in range(0, len(windows), batch_size):
            x, base = stacked_inputs(windows[i:i + batch_size], spec, param.dtype, param.device)
            if hasattr(model, "columns"):  # a ForecastNet: everything it holds applied
                q = model.columns(x) + base[..., None]
            else:
                q = to_columns(model(x), kind, getattr(model, "interval_scale", None),
                               getattr(model, "combine", "mean"), getattr(model, "anchor_weight", None)) + base[..., None]
            out.append(q.double().cpu().numpy())               # (B, H, 5) in HEAD_COLUMNS order
    model.train(was_training)
    q = np.concatenate(out) if out else np.zeros((0, spec.horizon, 5))
    q = np.stack([scaler.inverse(q[j], windows[j]["scale"]) for j in range(len(q))]) if len(q) else q
    return q[..., [HEAD_COLUMNS.index(name) for name in COLUMNS]]


def _with_ets(q, histories, weight: float, bands: float, log: bool, spec: WindowSpec):
    """Model columns (N, H, 5 in COLUMNS order) combined with each history's AutoETS forecast
    (ets.py): the point forecast moved `weight` of the way to AutoETS's, the bands moving with it
    (scaled by the same ratio in a log-scaled run, shifted by the same amount otherwise, as the
    run's calibration saw them on its hold-out); then the band edges averaged with AutoETS's,
    its share `bands`."""
    from rnnsuite.plugins.forecast.ets import blend_bands, blend_points, ets_forecasts

    ets = ets_forecasts(histories, spec.horizon, spec.season)
    if weight > 0:
        point = q[..., 0]
        moved = blend_points(point, ets[..., 0], weight)
        if log:
            ratio = np.where(point > 0, np.maximum(moved, 1e-6 * point) / np.where(point > 0, point, 1.0), 1.0)
            q = q * ratio[..., None]
        else:
            q = q + (moved - point)[..., None]
    return blend_bands(q, ets, bands)


def forecast(model, kind: str, histories: list[Series], data: ForecastData, scaler: Scaler,
             spec: WindowSpec, horizon: int, device=None, warn: bool = True) -> list[dict]:
    """Forecast each history `horizon` steps ahead (horizon <= spec.horizon).

    A history with no negative value (counts, sales, energy) gets no forecast or band edge below
    zero. Returns one dict of arrays per history: mean, lo80, hi80, lo95, hi95 (each (horizon,)),
    `method` ("model", "seasonal_naive" for short series, "constant") and, for the two
    fallbacks, `reason` (a phrase).
    """
    results: list[dict | None] = [None] * len(histories)
    use_model, short = [], []
    for i, s in enumerate(histories):
        finite = s.values[~np.isnan(s.values)]
        if len(finite) > 0 and np.all(finite == finite[0]):
            c = np.full(horizon, finite[0])
            results[i] = {k: c.copy() for k in COLUMNS} | {"method": "constant", "reason": "constant history"}
        elif model is None or len(s) < spec.shortest or np.isnan(s.values[-spec.input_size:]).all():
            reason = ("no model could be trained" if model is None else
                      f"shorter than the model needs ({len(s)} < {spec.shortest} points)"
                      if len(s) < spec.shortest else "input window all missing")
            results[i] = dict(seasonal_naive(s.values, horizon, spec.season), method="seasonal_naive",
                              reason=reason)
            if model is not None:
                short.append(s.id)
        else:
            use_model.append(i)
    if short and warn:
        names = ", ".join(repr(x) for x in short[:5]) + (f" and {len(short) - 5} more" if len(short) > 5 else "")
        data.warn(f"series {names} shorter than the model needs ({spec.shortest} points); "
                  "used a seasonal-naive forecast")
    if use_model:
        q = _model_columns(model, kind, [histories[i] for i in use_model], data, scaler, spec, device)
        weight = float(getattr(model, "ets_weight", 0.0) or 0.0)
        bands = float(getattr(model, "ets_bands", 0.0) or 0.0)
        if weight > 0 or bands > 0:   # the run combines its forecasts with AutoETS's (data.ets)
            q = _with_ets(q, [histories[i].values for i in use_model], weight, bands, scaler.log, spec)
        for j, i in enumerate(use_model):
            results[i] = {k: q[j, :horizon, c] for c, k in enumerate(COLUMNS)} | {"method": "model"}
    for s, r in zip(histories, results):
        seen = s.values[np.isfinite(s.values)]
        if seen.size and seen.min() >= 0:   # counts, sales, energy: never forecast below zero
            for k in COLUMNS:
                r[k] = np.maximum(r[k], 0.0)
    return results


def forecast_table(data: ForecastData, results: list[dict], horizon: int) -> pd.DataFrame:
    """The forecast as rows series_id, date, mean, lo80, hi80, lo95, hi95; `attrs["methods"]`
    holds how each series was forecast: [(series_id, method, reason or None)]."""
    frames = []
    for s, r in zip(data.series, results):
        frames.append(pd.DataFrame({
            "series_id": s.id,
            "date": future_index(s, horizon, data.freq, data.step),
            **{k: r[k] for k in COLUMNS},
        }))
    table = pd.concat(frames, ignore_index=True)
    table.attrs["methods"] = [(s.id, r.get("method", "model"), r.get("reason")) for s, r in zip(data.series, results)]
    return table


def _cut(s: Series, end: int) -> Series:
    return Series(s.id, s.time[:end], s.values[:end], None if s.covariates is None else s.covariates[:end])


def backtest(model, kind: str, data: ForecastData, scaler: Scaler, spec: WindowSpec,
             horizon: int, folds: int = 1, device=None) -> dict:
    """Rolling-origin evaluation of the model and the baselines on the same windows.

    Fold f (1..folds) forecasts from origin n - f*H for every series long enough to leave two
    points of history. Returns the model's metrics plus `baselines` -> naive, seasonal_naive,
    and `windows` (the number of series x origins scored).
    """
    histories, actuals = [], []
    for f in range(1, folds + 1):
        for s in data.series:
            origin = len(s) - f * horizon
            if origin < 2:
                continue
            histories.append(_cut(s, origin))
            actuals.append(s.values[origin : origin + horizon])
    model_fc = forecast(model, kind, histories, data, scaler, spec, horizon, device, warn=False)
    scored = {"model": [], "naive": [], "seasonal_naive": []}
    for hist, actual, fc in zip(histories, actuals, model_fc):
        base = {"naive": naive(hist.values, horizon),
                "seasonal_naive": seasonal_naive(hist.values, horizon, spec.season)}
        for name, cols in [("model", fc), *base.items()]:
            scored[name].append({"actual": actual, "history": hist.values, **{k: cols[k] for k in COLUMNS}})
    result = summarize(scored["model"], spec.season)
    result["baselines"] = {
        "naive": summarize(scored["naive"], spec.season),
        "seasonal_naive": summarize(scored["seasonal_naive"], spec.season),
    }
    result["windows"] = len(histories)
    result["horizon"] = horizon
    result["folds"] = folds
    return result
