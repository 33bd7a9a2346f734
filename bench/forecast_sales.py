"""examples/sales.csv hold-out: rnnsuite's CLI against statsforecast on the last 18 months.

The five monthly series of `examples/sales.csv` with their last 18 months held out: rnnsuite
trains on the first rows as a user does and `evaluate` scores its forecast from there on the
full file (one origin, 90 test points); statsforecast's AutoETS and AutoTheta (where
installed, `rnnsuite[bench]`) forecast the same 18 months from the same history.

    python bench/forecast_sales.py [--seed N] [--set KEY=VALUE ...]

Prints a markdown table: sMAPE, MASE, coverage of the 80% / 95% bands, scaled pinball loss.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from forecast_m3 import _cli  # bench/, this script's folder

SALES = Path(__file__).resolve().parents[1] / "examples" / "sales.csv"
HORIZON, SEASON = 18, 12


def run_rnnsuite(args, tmp: Path) -> list[dict]:
    lines = SALES.read_text().splitlines()
    train = tmp / "sales_train.csv"
    train.write_text("\n".join(lines[: len(lines) - HORIZON]) + "\n")
    extra = [f"--set=train.seed={args.seed}"] if args.seed else []
    extra += [f"--set={s}" for s in args.set]
    t0 = time.perf_counter()
    _cli(["forecast", "train", str(train), "--out", str(tmp / "run"), *extra], quiet=True)
    train_s = time.perf_counter() - t0
    doc = json.loads(_cli(["forecast", "evaluate", str(tmp / "run"), str(SALES), "--json"], quiet=True))
    name = "rnnsuite (defaults)" + (f" {' '.join(args.set)}" if args.set else "") + (f" seed {args.seed}" if args.seed else "")
    rows = [{"method": name, **{k: doc[k] for k in ("smape", "mase", "coverage80", "coverage95", "pinball")},
             "train_s": train_s}]
    for base, scores in doc["baselines"].items():
        rows.append({"method": base.replace("_", " "), **scores})
    return rows


def run_statsforecast() -> list[dict]:
    try:
        import pandas as pd
        from statsforecast import StatsForecast
        from statsforecast.models import AutoETS, AutoTheta
    except Exception as exc:
        print(f"statsforecast unavailable ({type(exc).__name__}: {exc}): skipping", file=sys.stderr)
        return []
    from rnnsuite.plugins.forecast.metrics import summarize

    wide = pd.read_csv(SALES)
    date = wide.columns[0]
    long = wide.melt(id_vars=date, var_name="unique_id", value_name="y").rename(columns={date: "ds"})
    long["ds"] = pd.to_datetime(long["ds"])
    parts = {k: g.sort_values("ds") for k, g in long.groupby("unique_id", sort=False)}
    train = pd.concat([g.iloc[:-HORIZON] for g in parts.values()])
    rows = []
    for model in (AutoETS(season_length=SEASON), AutoTheta(season_length=SEASON)):
        t0 = time.perf_counter()
        out = StatsForecast(models=[model], freq="MS", n_jobs=1).forecast(df=train, h=HORIZON, level=[80, 95])
        if "unique_id" not in out.columns:
            out = out.reset_index()
        c = str(model)
        windows = []
        for uid, g in out.groupby("unique_id", sort=False):
            y = parts[uid]["y"].to_numpy(float)
            windows.append({"actual": y[-HORIZON:], "history": y[:-HORIZON], "mean": g[c].to_numpy(),
                            **{f"{s}{p}": g[f"{c}-{s}-{p}"].to_numpy() for s in ("lo", "hi") for p in (80, 95)}})
        rows.append({"method": f"statsforecast {c}", **summarize(windows, SEASON), "train_s": time.perf_counter() - t0})
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-peers", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        rows = run_rnnsuite(args, Path(tmp))
    if not args.no_peers:
        rows += run_statsforecast()
    print("| method | sMAPE | MASE | coverage 80% | coverage 95% | scaled pinball | train s |\n"
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        t = f"{r['train_s']:.0f}" if "train_s" in r else ""
        print(f"| {r['method']} | {r['smape']:.2f} | {r['mase']:.3f} | {r['coverage80']:.2f} | {r['coverage95']:.2f} "
              f"| {r['pinball']:.3f} | {t} |")


if __name__ == "__main__":
    main()
