"""Intermittent demand: rnnsuite's bands on daily sales that are zero on most days.

Retail and spare-parts demand is mostly zeros with occasional orders (the M5 competition's
items, Croston's problem). No such real data ships in a package here, so the script makes it
with a fixed seed: 40 daily series of 400 days, each a day's chance of an order between 5% and
60% (some higher at weekends) and order sizes 1 + Poisson(mean 1-6); the last 28 days are the
test. rnnsuite runs as a user types it (`forecast train` then `predict --model`, and the quick
`predict`), against the seasonal-naive forecast (rnnsuite's baseline, with its bands), the zero
forecast and, where statsforecast is installed, AutoETS, on the same histories.

    python bench/forecast_intermittent.py [--quick] [--set KEY=VALUE ...]

Prints a markdown table: MAE, coverage of the 80% / 95% bands, scaled pinball loss (the five
quantiles, per series over its in-sample naive MAE; bench/forecast_m3.py's `score`), seconds.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from forecast_m3 import _cli, score  # bench/, this script's folder
from rnnsuite.plugins.forecast.baselines import seasonal_naive
from rnnsuite.plugins.forecast.metrics import mae

DAYS, HORIZON, SERIES = 400, 28, 40


def make_series(seed: int = 0):
    """[(id, history, test)] of intermittent daily demand, and the dates."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    dates = pd.date_range("2022-01-01", periods=DAYS, freq="D")
    weekend = np.asarray(dates.dayofweek >= 5)
    out = []
    for k in range(SERIES):
        p = rng.uniform(0.05, 0.6) * np.where(weekend, rng.uniform(1.0, 1.6), 1.0)
        sizes = 1 + rng.poisson(rng.uniform(1, 6), DAYS)
        values = np.where(rng.random(DAYS) < np.minimum(p, 0.95), sizes, 0).astype(float)
        out.append((f"sku{k:02d}", values[:-HORIZON], values[-HORIZON:]))
    return out, dates


def main(argv=None) -> None:
    import pandas as pd

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="also the quick predict (a model fitted within its time budget)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    os.environ.setdefault("RNNSUITE_PROGRESS", "0")
    series, dates = make_series()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        csv = tmp / "demand.csv"
        pd.DataFrame([(sid, d.date(), v) for sid, x, _ in series for d, v in zip(dates, x)],
                     columns=["series_id", "date", "value"]).to_csv(csv, index=False)
        extra = [f"--set={s}" for s in args.set]
        runs = [("rnnsuite train + predict", [["forecast", "train", str(csv), "--horizon", str(HORIZON),
                                               "--out", str(tmp / "run"), *extra],
                                              ["forecast", "predict", str(csv), "--model", str(tmp / "run"),
                                               "--out", str(tmp / "f.csv")]])]
        if args.quick:
            runs.append(("rnnsuite predict (quick)", [["forecast", "predict", str(csv), "--horizon", str(HORIZON),
                                                        "--out", str(tmp / "f.csv"), *extra]]))
        for name, commands in runs:
            t0 = time.perf_counter()
            for command in commands:
                _cli(command, True)
            f = pd.read_csv(tmp / "f.csv")
            forecasts = [{c: g[c].to_numpy(float) for c in ("mean", "lo80", "hi80", "lo95", "hi95")}
                         for _, g in f.groupby("series_id", sort=True)]
            rows.append((name, forecasts, time.perf_counter() - t0))
    rows.append(("seasonal naive (7)", [seasonal_naive(x, HORIZON, 7) for _, x, _ in series], 0.0))
    zero = np.zeros(HORIZON)
    rows.append(("zero", [{"mean": zero, "lo80": zero, "hi80": zero, "lo95": zero, "hi95": zero}
                          for _ in series], 0.0))
    try:
        from statsforecast.models import AutoETS

        t0 = time.perf_counter()
        ets = []
        for _, x, _ in series:
            f = AutoETS(season_length=7).forecast(y=x, h=HORIZON, level=[80, 95])
            ets.append({"mean": f["mean"], **{f"{s}{p}": np.maximum(f[f"{s}-{p}"], 0)
                                              for s in ("lo", "hi") for p in (80, 95)}})
        rows.append(("statsforecast AutoETS (bands clipped at 0)", ets, time.perf_counter() - t0))
    except ImportError:
        pass
    print(f"{SERIES} intermittent daily series, {DAYS - HORIZON} days of history, horizon {HORIZON}\n")
    print("| method | MAE | coverage 80% | coverage 95% | scaled pinball | s |\n| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, forecasts, seconds in rows:
        s = score(series, forecasts, 1)
        error = mae(np.concatenate([xx for _, _, xx in series]), np.concatenate([f["mean"] for f in forecasts]))
        print(f"| {name} | {error:.3f} | {s['coverage80']:.3f} | {s['coverage95']:.3f} | "
              f"{s['pinball']:.3f} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
