"""`rnnsuite forecast predict`: a forecast with intervals as a table, a CSV and a plot.

click only at import time; pandas, torch and matplotlib load inside the command.
"""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["predict", "run_predict", "method_counts", "plot_forecast"]

#: `predict` without --model must answer in well under a minute on 2 CPU cores.
PREDICT_TIME_BUDGET_S = 30.0


@click.command("predict")
@click.argument("csv", type=click.Path(path_type=Path), metavar="CSV")
@click.option("--model", "run", help="A trained forecast run (folder or 'latest'); default: fit one on CSV now.")
@click.option("--horizon", type=int, help="Steps to forecast (default: the run's, or from the frequency).")
@click.option("--out", type=click.Path(path_type=Path), help="Forecast CSV to write. With neither --out nor --plot: <CSV name>-forecast.csv and .png here.")
@click.option("--plot", type=click.Path(path_type=Path), help="PNG of history, forecast and bands to write.")
@click.option("--no-files", is_flag=True, help="Only print the table; write no CSV or PNG.")
@click.option("--freq", help="Pandas frequency (D, W, MS, QS, YS...); inferred by default. Given, rows within a period are averaged.")
@click.option("--date-col", help="Time column (dates or integer steps).")
@click.option("--value-col", help="Target column(s), comma-separated.")
@click.option("--id-col", help="Series-id column of a long-format file.")
@click.option("--fill", type=click.Choice(["interpolate", "mask"]), help="Gaps: interpolate (default) or mask.")
@click.option("--cell", help="Without --model: recurrent cell (rnn, lstm, gru, ...).")
@click.option("--epochs", type=int, help="Without --model: training epochs.")
@click.option("--max-steps", type=int, help="Without --model: optimizer steps.")
@click.option("--max-time", type=float, help=f"Without --model: training seconds (default {PREDICT_TIME_BUDGET_S:g}).")
@click.option("--seed", type=int, help="Without --model: random seed.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Without --model: override a config key.")
@click.option("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--json", "as_json", is_flag=True, help="Print the forecast as one JSON document (records).")
def predict(csv, run, horizon, out, plot, no_files, freq, date_col, value_col, id_col, fill, cell,
            epochs, max_steps, max_time, seed, overrides, device, as_json):
    """Forecast every series of CSV with 80% and 95% prediction intervals.

    Writes series_id, date, mean, lo80, hi80, lo95, hi95 to --out and a plot of history,
    forecast and bands to --plot. `mean` is the point forecast (the median under the default
    quantile loss).
    """
    import json

    data_options = {"freq": freq, "date_col": date_col, "value_col": value_col, "id_col": id_col, "fill": fill}
    train_options = {"cell": cell, "epochs": epochs, "max_steps": max_steps, "max_time": max_time,
                     "seed": seed, "overrides": overrides}
    table, data = run_predict(csv, run=run, horizon=horizon, device=device, data_options=data_options,
                              train_options=train_options)
    if not no_files and out is None and plot is None:
        stem = Path(csv).stem
        out, plot = Path(f"{stem}-forecast.csv"), Path(f"{stem}-forecast.png")
    elif no_files:
        out = plot = None
    written = []
    if out:
        _write_csv(table, out)
        written.append(str(out))
    if plot:
        plot_forecast(data, table, plot)
        written.append(str(plot))
    if as_json:
        records = table.assign(date=table["date"].astype(str)).to_dict(orient="records")
        click.echo(json.dumps({"forecast": records, **method_counts(table), "files": written}))
    else:
        click.echo(format_table(table))
    if written:
        click.echo(f"Wrote {', '.join(written)}", err=True)


def method_counts(table) -> dict:
    """How many series each method forecast, and every series that fell back to a baseline with
    the reason: {"methods": {"model": n, "seasonal_naive": n, "constant": n}, "fallbacks": [...]}."""
    rows = table.attrs.get("methods", [])
    counts = {"model": 0, "seasonal_naive": 0, "constant": 0}
    for _, method, _ in rows:
        counts[method] = counts.get(method, 0) + 1
    fallbacks = [{"series_id": sid.item() if hasattr(sid, "item") else sid, "method": method, "reason": reason}
                 for sid, method, reason in rows if method != "model"]
    return {"methods": counts, "fallbacks": fallbacks}


def run_predict(csv, run=None, horizon=None, device="auto", data_options=None, train_options=None):
    """Forecast CSV with a trained run or a model fitted now. Returns (table, ForecastData)."""
    from rnnsuite.core import UserError, load_run, train_run
    from rnnsuite.plugins.forecast.domain import ForecastDomain
    from rnnsuite.plugins.forecast.forecaster import forecast, forecast_table

    domain = ForecastDomain()
    data_options = {k: v for k, v in (data_options or {}).items() if v is not None}
    train_options = train_options or {}
    if horizon is not None and horizon < 1:
        raise UserError(f"--horizon must be at least 1, got {horizon}")
    if run is not None:
        trained = [k for k, v in train_options.items() if v not in (None, (), [])]
        if trained:
            raise UserError(f"--model {run}: {', '.join('--' + k.replace('_', '-') for k in trained)} only apply when fitting a new model")
        loaded = load_run(run, domain, device)
        loaded.config["data"].update(data_options)
        task = loaded.task
        if horizon is not None and horizon > task.spec.horizon:
            raise UserError(f"{loaded.path}: the run forecasts {task.spec.horizon} steps, --horizon {horizon} is longer; "
                            f"train with --horizon {horizon}")
    else:
        from rnnsuite.core import apply_overrides, default_config
        from rnnsuite.core.config import set_value

        config = default_config(domain)
        config["train"]["max_time"] = PREDICT_TIME_BUDGET_S
        config["train"]["device"] = device
        config = apply_overrides(config, list(train_options.get("overrides") or ()))
        for key, target in (("cell", "model.cell"), ("epochs", "train.epochs"), ("max_steps", "train.max_steps"),
                            ("max_time", "train.max_time"), ("seed", "train.seed")):
            if train_options.get(key) is not None:
                set_value(config, target, train_options[key])
        for key, value in data_options.items():
            set_value(config, f"data.{key}", value)
        if horizon is not None:
            set_value(config, "data.horizon", horizon)
        if not Path(csv).exists():
            raise UserError(f"{csv}: no such file")
        from rnnsuite.plugins.forecast.task import TooShortError

        try:
            loaded = train_run(domain, config, csv, out=None)
        except TooShortError as exc:
            return _seasonal_naive_only(csv, config, str(exc))
        task = loaded.task
    data = task.read(csv) if task.data is None or run is not None else task.data
    h = horizon or task.spec.horizon
    results = forecast(loaded.model, loaded.config["model"]["loss"], data.series, data,
                       task.scaler, task.spec, h)
    return forecast_table(data, results, h), data


def _seasonal_naive_only(csv, config, reason):
    """Every series too short for a model: seasonal-naive forecasts for all, with a warning."""
    from rnnsuite.plugins.forecast.data import load_csv
    from rnnsuite.plugins.forecast.forecaster import forecast, forecast_table
    from rnnsuite.plugins.forecast.task import choose_sizes

    d = config["data"]
    data = load_csv(csv, date_col=d["date_col"], value_col=d["value_col"], id_col=d["id_col"],
                    freq=d["freq"], fill=d["fill"], echo=False)
    spec = choose_sizes(data, d)
    data.warn(reason.split(": ", 1)[-1].split(";")[0] + "; used a seasonal-naive forecast for every series")
    results = forecast(None, "quantile", data.series, data, None, spec, spec.horizon)
    return forecast_table(data, results, spec.horizon), data


def _write_csv(table, path: Path) -> None:
    from rnnsuite.core import atomic_write_text

    path = Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    frame = table.copy()
    if hasattr(frame["date"], "dt"):
        frame["date"] = frame["date"].astype(str)
    atomic_write_text(path, frame.to_csv(index=False, float_format="%.6g"))


def format_table(table) -> str:
    """A readable table: one block per series, numbers to 4 significant digits."""
    blocks = []
    for sid, rows in table.groupby("series_id", sort=False):
        view = rows.drop(columns="series_id").copy()
        view["date"] = view["date"].astype(str).str.removesuffix(" 00:00:00")
        blocks.append(f"{sid}\n" + view.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return "\n\n".join(blocks)


def plot_forecast(data, table, path: Path, max_series: int = 12) -> None:
    """The forecast_figure as a PNG at `path`."""
    import matplotlib.pyplot as plt
    from rnnsuite.core import save_figure

    fig = forecast_figure(data, table, max_series)
    save_figure(fig, Path(path))
    plt.close(fig)


def forecast_figure(data, table, max_series: int = 12):
    """History (last few horizons), forecast line and 80%/95% bands; one panel per series."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = data.series[:max_series]
    n = len(series)
    cols = 1 if n == 1 else 2
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(7 * cols, 2.8 * rows), squeeze=False)
    for ax, s in zip(axes.ravel(), series):
        fc = table[table["series_id"] == s.id]
        keep = max(4 * len(fc), 24)
        ax.plot(s.time[-keep:], s.values[-keep:], color="black", lw=1.2, label="history")
        x = fc["date"].to_numpy()
        ax.fill_between(x, fc["lo95"], fc["hi95"], color="tab:blue", alpha=0.18, lw=0, label="95%")
        ax.fill_between(x, fc["lo80"], fc["hi80"], color="tab:blue", alpha=0.35, lw=0, label="80%")
        ax.plot(x, fc["mean"], color="tab:blue", lw=1.6, label="forecast")
        ax.set_title(str(s.id), fontsize=10)
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    axes.ravel()[0].legend(loc="upper left", fontsize=8)
    title = Path(data.path).name + (f" (first {max_series} of {len(data.series)} series)" if len(data.series) > max_series else "")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
