"""From a trained network to forecasts and backtests.

`forecast` turns histories into the forecast columns (mean, lo80, hi80, lo95, hi95) on the
original scale, falling back to seasonal naive for series too short for the input window;
`backtest` cuts the last H points (or several origins) off every series and scores the model
and the naive and seasonal-naive baselines on exactly the same windows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from rnnsuite.plugins.forecast.baselines import naive, seasonal_naive
from rnnsuite.plugins.forecast.data import ForecastData, Series, calendar_features, future_index
from rnnsuite.plugins.forecast.metrics import summarize
from rnnsuite.plugins.forecast.windows import (
    Scaler,
    WindowSpec,
    _standardise,
    anchor_values,
    seasonal_component,
    seasonal_indices,
    window_features,
)

__all__ = ["COLUMNS", "forecast", "forecast_table", "backtest"]

COLUMNS = ("mean", "lo80", "hi80", "lo95", "hi95")


def _model_columns(model, kind, histories, data, scaler, spec, device, batch_size=2048):
    """Model forecasts (len(histories), H, 5 in COLUMNS order) for histories of >= L points."""
    import torch
    from rnnsuite.plugins.forecast.model import to_columns

    L, H = spec.input_size, spec.horizon
    us, seas, cals, covs, scales = [], [], [], [], []
    for s in histories:
        scale = scaler.scale_for(s)
        scales.append(scale)
        if spec.seasonal:  # indices from the whole history
            u = scaler.forward(s.values, scale)
            seas.append(seasonal_component(seasonal_indices(u, spec.season), len(u) - L, L + H))
        us.append(scaler.forward(s.values[-L:], scale))
        cals.append(calendar_features(s.time[-L:], data.freq))
        if s.covariates is not None:
            covs.append(_standardise(s.covariates)[-L:])
    out = []
    param = next(model.parameters())
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for i in range(0, len(us), batch_size):
            sl = slice(i, i + batch_size)
            u = torch.tensor(np.stack(us[sl]), dtype=param.dtype, device=param.device)
            cal = torch.tensor(np.stack(cals[sl]), dtype=param.dtype, device=param.device)
            cov = torch.tensor(np.stack(covs[sl]), dtype=param.dtype, device=param.device) if covs else None
            sw = torch.tensor(np.stack(seas[sl]), dtype=param.dtype, device=param.device) if seas else None
            x, level = window_features(u, cal, cov, spec.level_size, None if sw is None else sw[:, :L])
            base = anchor_values(u, level, spec, None if sw is None else sw[:, L:])
            q = to_columns(model(x), kind, getattr(model, "interval_scale", None),
                           getattr(model, "combine", "mean"), getattr(model, "anchor_weight", None)) + base[..., None]  # (B, H, 5): lo95 lo80 mean hi80 hi95
            out.append(q.double().cpu().numpy())
    model.train(was_training)
    q = np.concatenate(out) if out else np.zeros((0, spec.horizon, 5))
    q = np.stack([scaler.inverse(q[j], scales[j]) for j in range(len(q))]) if len(q) else q
    # reorder to COLUMNS: mean, lo80, hi80, lo95, hi95
    return q[..., [2, 1, 3, 0, 4]]


def forecast(model, kind: str, histories: list[Series], data: ForecastData, scaler: Scaler,
             spec: WindowSpec, horizon: int, device=None, warn: bool = True) -> list[dict]:
    """Forecast each history `horizon` steps ahead (horizon <= spec.horizon).

    Returns one dict of arrays per history: mean, lo80, hi80, lo95, hi95 (each (horizon,)),
    and `method` ("model", "seasonal_naive" for short series, "constant").
    """
    results: list[dict | None] = [None] * len(histories)
    use_model, short = [], []
    for i, s in enumerate(histories):
        finite = s.values[~np.isnan(s.values)]
        if len(finite) > 0 and np.all(finite == finite[0]):
            c = np.full(horizon, finite[0])
            results[i] = {k: c.copy() for k in COLUMNS} | {"method": "constant"}
        elif model is None or len(s) < spec.input_size or np.isnan(s.values[-spec.input_size:]).all():
            results[i] = dict(seasonal_naive(s.values, horizon, spec.season), method="seasonal_naive")
            if model is not None:
                short.append(s.id)
        else:
            use_model.append(i)
    if short and warn:
        names = ", ".join(repr(x) for x in short[:5]) + (f" and {len(short) - 5} more" if len(short) > 5 else "")
        data.warn(f"series {names} shorter than the model's input window ({spec.input_size} points); "
                  "used a seasonal-naive forecast")
    if use_model:
        q = _model_columns(model, kind, [histories[i] for i in use_model], data, scaler, spec, device)
        for j, i in enumerate(use_model):
            results[i] = {k: q[j, :horizon, c] for c, k in enumerate(COLUMNS)} | {"method": "model"}
    return results


def forecast_table(data: ForecastData, results: list[dict], horizon: int) -> pd.DataFrame:
    """The forecast as rows series_id, date, mean, lo80, hi80, lo95, hi95."""
    frames = []
    for s, r in zip(data.series, results):
        frames.append(pd.DataFrame({
            "series_id": s.id,
            "date": future_index(s, horizon, data.freq, data.step),
            **{k: r[k] for k in COLUMNS},
        }))
    return pd.concat(frames, ignore_index=True)


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
