"""Offline probes of trained M3 runs (issue 18): what a run would score on the M3 test under
changes that need no new training, and the few that need a short one.

Each probe scores against the M3 test (`xx`) with the same sMAPE and coverage as
bench/forecast_m3.py, and against each series' hold-out (its last horizon of `x`) where that
says whether the hold-out could have chosen the change. Train the runs as a user does:

    python bench/forecast_m3_probe.py csv /tmp/m3                    # /tmp/m3/{monthly,...}.csv
    rnnsuite forecast train /tmp/m3/quarterly.csv --horizon 8 --out runs/quarterly [--set ...]
    python bench/forecast_m3_probe.py theta quarterly                 # the Theta anchor alone
    python bench/forecast_m3_probe.py groups quarterly /tmp/m3/quarterly.csv runs/quarterly
    python bench/forecast_m3_probe.py combine quarterly /tmp/m3/quarterly.csv RUN RUN ...
    python bench/forecast_m3_probe.py shift quarterly /tmp/m3/quarterly.csv RUN
    python bench/forecast_m3_probe.py stepcal quarterly /tmp/m3/quarterly.csv RUN
    python bench/forecast_m3_probe.py refit quarterly /tmp/m3/quarterly.csv RUN --steps 100,300,600

Results: bench/RESULTS.md (forecast, "Probes of trained runs").
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from forecast_m3 import FREQUENCIES, load_m3, write_long_csv  # noqa: E402


def load(frequency: str, csv: Path, run: Path) -> dict:
    """A trained run with its hold-out (as training built it) and its raw outputs on the test
    windows (each series' whole `x` as history)."""
    import torch
    from rnnsuite.core.plugins import domain_named
    from rnnsuite.core.run_lifecycle import load_run
    from rnnsuite.plugins.forecast.windows import history_window, stacked_inputs

    domain = domain_named("forecast")
    loaded = load_run(run, domain, "cpu")
    state = json.loads((Path(run) / "config.json").read_text())["task_state"]
    task = domain.create_task(loaded.config, Path(csv), state)  # rebuilds the hold-out
    series = load_m3(frequency)
    by_id = {s.id: s for s in task.data.series}
    windows = [history_window(by_id[sid], len(by_id[sid]), task.scaler, task.spec, task.freq)
               for sid, _, _ in series]
    x, base = stacked_inputs(windows, task.spec, torch.float32)
    with torch.no_grad():
        raw = loaded.model(x).float()
    return {"task": task, "model": loaded.model, "x": x, "base": base.double().numpy(), "raw": raw,
            "scale": np.array([w["scale"] for w in windows]), "actual": np.stack([xx for _, _, xx in series])}


def _original(d: dict, columns) -> np.ndarray:
    """Normalised test columns (B, H[, 5]) as offsets from the anchor -> the original scale."""
    base = d["base"] if columns.ndim == 2 else d["base"][..., None]
    scale = d["scale"][:, None] if columns.ndim == 2 else d["scale"][:, None, None]
    return d["task"].scaler.inverse(columns + base, scale)


def _holdout_point(d: dict, median) -> np.ndarray:
    return d["task"]._inverse(median + d["task"]._valid["base"].double().numpy())


def _scores(d: dict, columns) -> str:
    """sMAPE and 80% / 95% coverage on the test of normalised columns (B, H, 5)."""
    from rnnsuite.plugins.forecast.metrics import coverage, smape

    q, a = _original(d, np.asarray(columns, dtype=np.float64)), d["actual"].ravel()
    return (f"sMAPE {smape(a, q[..., 2].ravel()):.3f}, coverage 80% {coverage(a, q[..., 1].ravel(), q[..., 3].ravel()):.3f}"
            f", 95% {coverage(a, q[..., 0].ravel(), q[..., 4].ravel()):.3f}")


def _saved_columns(d: dict, x=None):
    import torch

    with torch.no_grad():
        return d["model"].columns(d["x"] if x is None else x).double().numpy()


def _classic_theta(y: np.ndarray, horizon: int) -> np.ndarray:
    """The Theta method as first published: the mean of the least-squares line extended and
    simple exponential smoothing (alpha by one-step squared error) of the theta = 2 line."""
    from scipy.signal import lfilter

    t = np.arange(len(y))
    slope, intercept = np.polyfit(t, y, 1)
    z = 2 * y - (intercept + slope * t)
    best, level = np.inf, z[-1]
    for a in np.linspace(0.05, 1.0, 20):
        lv = lfilter([a], [1.0, a - 1.0], z, zi=[(1.0 - a) * z[0]])[0]
        sse = float(np.sum((z[1:] - lv[:-1]) ** 2))
        if sse < best:
            best, level = sse, lv[-1]
    return 0.5 * (intercept + slope * (len(y) - 1 + np.arange(1, horizon + 1))) + 0.5 * level


def probe_theta(args) -> None:
    """The Theta anchor alone (the network's output 0) against the test: fitted on the log
    values (the run's space) and on the values themselves, both deseasonalised alike; and the
    Theta method as first published (`_classic_theta`) on the values, deseasonalised by
    classical multiplicative decomposition where the seasonality test passes, as in M3."""
    from rnnsuite.plugins.forecast.metrics import smape
    from rnnsuite.plugins.forecast.windows import (
        _SEASONALITY_Z,
        _autocorrelations,
        _scale_of,
        seasonal_component,
        seasonal_indices,
        theta_path,
    )

    _, horizon, season = FREQUENCIES[args.frequency]
    actual, in_log, in_levels, classic = [], [], [], []
    steps = np.arange(horizon)
    for _, x, xx in load_m3(args.frequency):
        scale = _scale_of(x)
        u = np.log(x / scale)
        seasonal = seasonal_component(seasonal_indices(u, season), 0, len(x) + horizon)
        d = u - seasonal[: len(x)]
        start, drift = theta_path(d)[-1]
        in_log.append(np.exp(start + drift * steps + seasonal[len(x):]) * scale)
        start, drift = theta_path(np.exp(d))[-1]
        in_levels.append(np.maximum(start + drift * steps, 1e-6) * np.exp(seasonal[len(x):]) * scale)
        v, indices = x / scale, np.ones(max(season, 1))
        r = _autocorrelations(v, range(1, season + 1)) if season > 1 and len(v) >= 3 * season else None
        if r is not None and abs(r[-1]) > _SEASONALITY_Z * np.sqrt((1 + 2 * np.sum(r[:-1] ** 2)) / len(v)):
            weights = np.ones(season + 1 - season % 2)
            if season % 2 == 0:
                weights[[0, -1]] = 0.5
            trend = np.convolve(v, weights / season, mode="valid")
            half = len(weights) // 2
            ratio, phase = v[half : half + len(trend)] / trend, np.arange(half, half + len(trend)) % season
            indices = np.array([ratio[phase == p].mean() for p in range(season)])
            indices /= indices.mean()
        laid = indices[np.arange(len(x) + horizon) % len(indices)]
        classic.append(np.maximum(_classic_theta(v / laid[: len(x)], horizon), 1e-6) * laid[len(x):] * scale)
        actual.append(xx)
    a = np.concatenate(actual)
    print(f"{args.frequency}: Theta anchor on the log values {smape(a, np.concatenate(in_log)):.3f}, "
          f"on the values {smape(a, np.concatenate(in_levels)):.3f}; published form on the values "
          f"{smape(a, np.concatenate(classic)):.3f}")


def probe_groups(args) -> None:
    """A mixed run's member groups on their own and averaged, with their weights as saved and
    the single weight; the groups' forecasts averaged arithmetically and geometrically."""
    import torch
    from rnnsuite.plugins.forecast.metrics import smape
    from rnnsuite.plugins.forecast.model import to_columns

    d = load(args.frequency, args.csv, args.run[0])
    m, a = d["model"], d["actual"].ravel()
    if not m.mixed:
        sys.exit(f"{args.run[0]}: not a mixed-anchor run")
    with torch.no_grad():
        offset = m.level_offset(d["x"]).double().numpy()
        theta, level = (to_columns(d["raw"][k::2], m.loss, combine=m.combine)[..., 2].double().numpy() for k in (0, 1))
        every = to_columns(d["raw"], m.loss, combine=m.combine)[..., 2].double().numpy()
    w = float(m.anchor_weight)
    g, w_theta, w_level = m.group_blend.tolist()
    print(f"{args.frequency}: saved {_scores(d, _saved_columns(d))} (weight {w:.1f}, group blend {g:.0f}, "
          f"{w_theta:.1f}, {w_level:.1f})")
    print(f"  all members, single weight {w:.1f}: {smape(a, _original(d, w * every).ravel()):.3f}")
    for wt, wl in ((1.0, 1.0), (w_theta, w_level), (w, w)):
        t, lv = _original(d, wt * theta), _original(d, offset + wl * (level - offset))
        print(f"  group weights {wt:.1f} / {wl:.1f}: Theta group {smape(a, t.ravel()):.3f}, level group "
              f"{smape(a, lv.ravel()):.3f}, their mean {smape(a, ((t + lv) / 2).ravel()):.3f}, geometric mean "
              f"{smape(a, np.sqrt(t * lv).ravel()):.3f}")


def probe_combine(args) -> None:
    """The mean (and geometric mean) of several runs' point forecasts as saved."""
    from rnnsuite.plugins.forecast.metrics import smape

    points = []
    for run in args.run:
        d = load(args.frequency, args.csv, run)
        points.append(_original(d, _saved_columns(d)[..., 2]))
        hold = _holdout_point(d, _saved_columns(d, d["task"]._valid["x"])[..., 2])
        print(f"{args.frequency} {run}: test {smape(d['actual'].ravel(), points[-1].ravel()):.3f}, hold-out "
              f"{smape(d['task']._valid['actual'].ravel(), hold.ravel()):.3f}")
    a = d["actual"].ravel()
    print(f"  mean of the runs {smape(a, np.mean(points, 0).ravel()):.3f}, geometric mean "
          f"{smape(a, np.exp(np.mean(np.log(np.maximum(points, 1e-9)), 0)).ravel()):.3f}")


def probe_shift(args) -> None:
    """The point forecast moved up: x (1 + delta), or k of the way to the 80% band's top."""
    from rnnsuite.plugins.forecast.metrics import smape

    d = load(args.frequency, args.csv, args.run[0])
    test, hold = _saved_columns(d), _saved_columns(d, d["task"]._valid["x"])
    a, ha = d["actual"].ravel(), d["task"]._valid["actual"].ravel()
    for delta in (0.0, 0.005, 0.01, 0.02, 0.05):
        print(f"{args.frequency} x (1 + {delta}): test {smape(a, (1 + delta) * _original(d, test[..., 2]).ravel()):.3f},"
              f" hold-out {smape(ha, (1 + delta) * _holdout_point(d, hold[..., 2]).ravel()):.3f}")
    for k in (0.05, 0.1, 0.2):
        t, h = (c[..., 2] + k * (c[..., 3] - c[..., 2]) for c in (test, hold))
        print(f"{args.frequency} median + {k} x (hi80 - median): test {smape(a, _original(d, t).ravel()):.3f}, "
              f"hold-out {smape(ha, _holdout_point(d, h).ravel()):.3f}")


def probe_stepcal(args) -> None:
    """Coverage per horizon step on the hold-out and the test (the bands before calibration),
    and the test coverage with one calibration per step instead of one for all."""
    import torch
    from rnnsuite.plugins.forecast.model import calibrate, stretch_bands, to_columns

    d = load(args.frequency, args.csv, args.run[0])
    m, task, v = d["model"], d["task"], d["task"]._valid

    def uncalibrated(x, raw):
        return to_columns(raw, m.loss, None, m.combine, m.anchor_weight, m.level_offset(x),
                          getattr(m, "group_blend", None)).double()

    with torch.no_grad():
        hold, test = uncalibrated(v["x"], m(v["x"]).float()), uncalibrated(d["x"], d["raw"])
    target = torch.tensor(np.stack([task.scaler.forward(y, s) for y, s in zip(d["actual"], d["scale"])])) \
        - torch.tensor(d["base"])

    def per_step(c, t, lo, hi):
        inside = ((t >= c[..., lo]) & (t <= c[..., hi])).double()
        ok = ~torch.isnan(t)
        return " ".join(f"{float(inside[:, h][ok[:, h]].mean()):.2f}" for h in range(t.shape[1]))

    for name, lo, hi in (("80%", 1, 3), ("95%", 0, 4)):
        print(f"{args.frequency} {name} band by step, hold-out: {per_step(hold, v['target'], lo, hi)}")
        print(f"{args.frequency} {name} band by step, test:     {per_step(test, target, lo, hi)}")

    one = calibrate(hold, v["target"]).double()
    steps = torch.stack([calibrate(hold[:, h : h + 1], v["target"][:, h : h + 1]) for h in range(hold.shape[1])]).double()
    print(f"{args.frequency} one calibration: {_scores(d, stretch_bands(test, one[0], one[1]).numpy())}")
    print(f"{args.frequency} one per step:    {_scores(d, stretch_bands(test, steps[:, 0], steps[:, 1]).numpy())}")


def probe_refit(args) -> None:
    """Continue training a run on windows whose targets include each series' hold-out (which
    training never saw as targets), at a small learning rate, keeping its blend and bands."""
    import torch
    from rnnsuite.plugins.forecast.model import forecast_loss
    from rnnsuite.plugins.forecast.windows import TrainingWindows

    torch.set_num_threads(1)
    d = load(args.frequency, args.csv, args.run[0])
    task = d["task"]
    print(f"{args.frequency} as trained: {_scores(d, _saved_columns(d))}")
    windows = TrainingWindows(task.data, task.scaler, task.spec, {s.id: len(s) for s in task.data.series})
    weights, generator = windows.sampling_weights(), torch.Generator().manual_seed(0)
    model = copy.deepcopy(d["model"]).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    done, t0 = 0, time.perf_counter()
    for target in (int(s) for s in args.steps.split(",")):
        while done < target:
            batch = windows.batch(torch.multinomial(weights, 256, replacement=True, generator=generator))
            loss = forecast_loss(model(batch["x"]).float(), batch["target"], model.loss)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            done += 1
        model.eval()
        print(f"{args.frequency} + {done} steps at lr {args.lr:g} ({time.perf_counter() - t0:.0f} s): "
              f"{_scores(dict(d, model=model), _saved_columns(dict(d, model=model)))}")
        model.train()


def probe_perseries(args) -> None:
    """Each series' own blend weight between the network and its anchor, chosen on its own
    hold-out (shrunk towards the run's single weight), against the run's one weight for all."""
    import torch
    from rnnsuite.plugins.forecast.metrics import smape
    from rnnsuite.plugins.forecast.model import to_columns

    d = load(args.frequency, args.csv, args.run[0])
    m, task, v = d["model"], d["task"], d["task"]._valid
    with torch.no_grad():
        hold = to_columns(m(v["x"]).float(), m.loss, combine=m.combine)[..., 2].double().numpy()
        test = to_columns(d["raw"], m.loss, combine=m.combine)[..., 2].double().numpy()
    held = [s.id for s in task.data.series if task.ends[s.id] != len(s)]
    row = {sid: i for i, sid in enumerate(held)}
    ids = [sid for sid, _, _ in load_m3(args.frequency)]
    w0 = float(m.anchor_weight)
    hold_base = v["base"].double().numpy()
    grid = np.linspace(0, 1, 11)
    for prior in (0.0, 1.0, 3.0, 10.0):
        weights = np.full(len(ids), w0)
        for j, sid in enumerate(ids):
            i = row.get(sid)
            if i is None:
                continue
            errs = [smape(v["actual"][i], task._inverse((hold_base[i] + w * hold[i])[None], np.array([i]))[0])
                    for w in grid]
            # the series' own hold-out error plus a pull towards the run's weight
            cost = np.array(errs) + prior * np.abs(grid - w0)
            weights[j] = grid[int(np.argmin(cost))]
        point = _original(d, weights[:, None] * test)
        print(f"{args.frequency} per-series weight, pull {prior}: test {smape(d['actual'].ravel(), point.ravel()):.3f}"
              f" (one weight {w0:.1f}: {smape(d['actual'].ravel(), _original(d, w0 * test).ravel()):.3f}; "
              f"mean weight {weights.mean():.2f})")


def probe_members(args) -> None:
    """The members' medians combined by their median or mean (the log space the run forecasts
    in) or by the mean of their forecasts on the original scale, each with the run's one weight (a run that took one weight per member group is scored with
    its one weight here)."""
    import torch
    from rnnsuite.plugins.forecast.metrics import smape
    from rnnsuite.plugins.forecast.model import to_columns

    d = load(args.frequency, args.csv, args.run[0])
    m, a = d["model"], d["actual"].ravel()
    w = float(m.anchor_weight)
    with torch.no_grad():
        each = torch.stack([to_columns(d["raw"][k : k + 1], m.loss)[..., 2] for k in range(len(m.members))]).double()
    # (a mixed run's level members answer in the Theta frame already: ForecastNet.forward)
    out = {"median (the default)": each.median(0).values if len(each) > 2 else each.mean(0),
           "mean": each.mean(0)}
    levels = torch.stack([torch.tensor(_original(d, (w * e).numpy())) for e in each])
    text = [f"{k} {smape(a, _original(d, (w * v).numpy()).ravel()):.3f}" for k, v in out.items()]
    text.append(f"mean on the original scale {smape(a, levels.mean(0).numpy().ravel()):.3f}")
    print(f"{args.frequency} members combined by: " + ", ".join(text))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="probe", required=True)
    sub.add_parser("csv", help="write the four M3 long CSVs").add_argument("folder", type=Path)
    sub.add_parser("theta", help="the Theta anchor alone").add_argument("frequency", choices=FREQUENCIES)
    for name, many in (("groups", False), ("combine", True), ("shift", False), ("stepcal", False), ("refit", False),
                       ("perseries", False), ("members", False)):
        summary = " ".join(globals()[f"probe_{name}"].__doc__.split()).split(". ")[0].rstrip(".")
        p = sub.add_parser(name, help=summary.replace("%", "%%"))
        p.add_argument("frequency", choices=FREQUENCIES)
        p.add_argument("csv", type=Path, help="the CSV the runs were trained on")
        p.add_argument("run", type=Path, nargs="+" if many else 1)
        if name == "refit":
            p.add_argument("--steps", default="100,300,600", help="report after these step counts")
            p.add_argument("--lr", type=float, default=3e-4)
    args = parser.parse_args(argv)
    if args.probe == "csv":
        args.folder.mkdir(parents=True, exist_ok=True)
        for frequency in FREQUENCIES:
            write_long_csv(load_m3(frequency), args.folder / f"{frequency}.csv")
        print(f"wrote {', '.join(f'{f}.csv' for f in FREQUENCIES)} to {args.folder}")
        return
    globals()[f"probe_{args.probe}"](args)


if __name__ == "__main__":
    main()
