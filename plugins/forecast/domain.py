"""The `forecast` domain: global recurrent forecasters for CSV time series.

Imported when the CLI starts, so nothing here imports torch or pandas.
"""

from __future__ import annotations

import copy

from rnnsuite.core import Domain
from rnnsuite.core.config import at_least, between, one_of

__all__ = ["ForecastDomain", "FORECAST_DEFAULTS"]

#: Defaults on top of core's. 0 / None means "chosen from the data" (see task.py).
FORECAST_DEFAULTS = {
    "data": {
        "date_col": None,  # the time column (dates or integer steps); found by name when None
        "value_col": None,  # target column(s), comma-separated; the others become covariates
        "id_col": None,  # series-id column(s, comma-separated): the file is in long format
        "freq": None,  # pandas frequency alias (D, W, MS, QS, YS...); inferred when None
        "fill": "interpolate",  # interpolate | mask: what to do with gaps and missing values
        "horizon": 0,  # steps to forecast; 0: from the frequency (monthly 18, daily 14, ...)
        "season": 0,  # seasonal period; 0: from the frequency (monthly 12, daily 7, ...), detected for integer steps
        "input_size": 0,  # input window; 0: max(2 x season, 2 x horizon), capped by the data
        # Series shorter than the input window are forecast from windows padded in front (and
        # trained on such windows) down to this many points; shorter ones get seasonal naive.
        # 0: one season, at least 4 (never more than the window)
        "min_input": 0,
        # Series with fewer whole training windows than this also train on windows padded in
        # front (down to min_input points): 0: as many as the input window is long; 1: only
        # series without a whole window
        "pad_below": 0,
        # What the network's outputs are offsets from: theta (the Theta method's forecast from
        # the window's history: exponential smoothing with half the trend's slope as drift) |
        # mixed (theta, with every other ensemble member predicting from the level without
        # reading the Theta features) | level (with deseasonalize: level plus the series'
        # seasonal indices) | seasonal_naive | auto (seasonal naive below 2,000 training
        # windows, else level). mixed: M3 monthly sMAPE 13.20/13.26 (seeds 0/1) against 13.45
        # from the level; examples/sales.csv 8.08-8.35 against 10.85 (bench/RESULTS.md, forecast).
        "anchor": "mixed",
        # Remove each series' seasonal indices (classical decomposition, where the series passes
        # the seasonality test) from inputs and targets; with the level, theta and mixed anchors.
        "deseasonalize": True,
        # With the mixed anchor on deseasonalised data: also train model.members networks that
        # read the series with its seasonality left in (a second view, which learns the
        # seasonality from the window), combined with the others; only from 2,000 training
        # windows. M3 monthly 13.11 / 13.15 -> 13.03 / 12.98 (seeds 0 / 1; bench/RESULTS.md,
        # forecast); twice the training time.
        "raw_view": True,
        "sampling": "series",  # series (each series equally often) | windows (each window)
        "transform": "auto",  # auto (log when every value is positive) | log | none
        "validation": True,  # hold out each series' last horizon for early stopping
        # Choose on that hold-out how far the point forecast trusts the network over its anchor
        # (0..1 in steps of 0.1), see model.blend_weight; with the mixed anchor one weight per
        # member group where cross-validation on the hold-out supports it (model.choose_blend)
        "blend": True,
        # widen bands that cover less than their nominal share of that hold-out, each side on
        # its own (a floor of zeros below the median widens the lower side only)
        "calibrate": True,
        # Also fit AutoETS (statsforecast) to each series' own history and move the point
        # forecast a quarter of the way to its forecast where that hold-out says it helps (see
        # ets.py): two different kinds of model combined, the bands moving with the median.
        "ets": True,
        "history_limit": 0,  # only windows ending within this many steps of a series' end; 0: all
        "folds": 1,  # evaluate: rolling origins, each one horizon earlier
    },
    "model": {
        # The plain RNN: on M3 monthly (36-step windows) as accurate as LSTM/GRU at half the cost,
        # which buys the ensemble below (bench/RESULTS.md, forecast)
        "cell": "rnn",
        "hidden_size": 64,
        "num_layers": 1,
        "loss": "quantile",  # quantile (2.5, 10, 50, 90, 97.5 %) | gaussian
        "members": 5,  # ensemble: independent networks trained together and combined
        "combine": "median",  # median | mean of the members' forecasts (the median from 3 members)
        "skip": True,  # the head also sees the normalised input window
        # With the mixed anchor: the share of the input window the level group reads (its last
        # points; at least 8 points and one season, at most the whole window), so the groups
        # see different spans. 0.5: M3 quarterly 9.14 against 9.29 with the whole window (mean
        # of seeds 0-3), other 4.36 / 4.42 against 4.41 / 4.44 (seeds 0 / 1; bench/RESULTS.md).
        "level_window": 0.5,
        # With the raw view: the share of the input window its Theta group reads (the same
        # floors), so the two views also differ in their input length. 0.75: M3 quarterly 8.90 /
        # 8.97 / 8.92 / 8.87 against 9.00 / 9.02 / 9.03 / 9.00 with the whole window (seeds
        # 0-3), monthly 12.98 / 12.95 (12.96 / 12.97); held out, M1 and tourism within their
        # seeds' spread (bench/RESULTS.md, forecast).
        "raw_window": 0.75,
    },
    "train": {
        "epochs": 200,
        # The cosine schedule spans the first of 200 epochs and max_steps (M3: max_steps on every
        # frequency). Large data trains longer: 4,500 steps against 3,000 gave M3 monthly 12.96 /
        # 12.97 against 13.03 / 12.98 (seeds 0 / 1) and tourism monthly 17.84 against 17.93, in
        # 225 s against 170 s on 2 cores; smaller data, whose hold-out stops improving earlier,
        # lost with the longer schedule (M3 yearly 15.90 against 15.63, other 4.38 against
        # 4.17), so below task.LARGE_DATA_WINDOWS training windows (40,000) the cap is
        # small_data_steps (0: max_steps everywhere; bench/RESULTS.md, forecast).
        "max_steps": 4500,
        "small_data_steps": 3000,
        "batch_size": 256,
        "lr": 3e-3,
        "weight_decay": 0.0,
        "schedule": "cosine",
        "min_lr": 0.05,
        "patience": 20,
        "clip_grad_norm": 1.0,
        "log_every": 10,
        # torch intra-op threads while this task runs; 0 leaves torch's default. The models are
        # small, and on a busy 2-core machine two threads ran the LSTM ten times slower than one.
        "threads": 1,
    },
}


def _column(value):
    if value is not None and not isinstance(value, str):
        return "must be a column name (a string)"


_column.bad = [1]


class ForecastDomain(Domain):
    name = "forecast"
    help = "Forecast CSV time series with a global recurrent model: train, evaluate, predict."
    data_help = "a CSV file, wide (date, one column per series) or long (series_id, date, value)"

    def config_defaults(self) -> dict:
        return copy.deepcopy(FORECAST_DEFAULTS)

    def config_rules(self) -> dict:
        return {
            "data": {
                "date_col": _column,
                "value_col": _column,
                "id_col": _column,
                "fill": one_of("interpolate", "mask"),
                "horizon": at_least(0),  # 0: from the frequency
                "season": at_least(0),  # 0: from the frequency
                "input_size": at_least(0),  # 0: from the season, horizon and series lengths
                "min_input": at_least(0),  # 0: one season, at least 4
                "pad_below": at_least(0),  # 0: the input window's length
                "anchor": one_of("auto", "level", "theta", "mixed", "seasonal_naive"),
                "sampling": one_of("series", "windows"),
                "transform": one_of("auto", "log", "none"),
                "history_limit": at_least(0),  # 0: all
                "folds": at_least(1),
            },
            "model": {
                "loss": one_of("quantile", "gaussian"),
                "members": at_least(1),
                "combine": one_of("median", "mean"),
                "level_window": between(0, 1, low_open=True),
                "raw_window": between(0, 1, low_open=True),
            },
            "train": {"small_data_steps": at_least(0)},
        }

    def legacy_config(self) -> dict:
        # what runs saved before each key did: one member, mean of the quantile heads, window
        # sampling, the "auto" anchor, no deseasonalisation, no anchor blend, the level group
        # and the raw view's Theta group reading the whole window, no AutoETS, no raw view, one
        # step cap for all data
        return {"model": {"members": 1, "combine": "mean", "level_window": 1.0, "raw_window": 1.0},
                "train": {"small_data_steps": 0},
                "data": {"sampling": "windows", "anchor": "auto", "deseasonalize": False,
                         "blend": False, "ets": False, "raw_view": False}}

    def metric_names(self, config) -> tuple:
        # with data.blend, validation also chooses and reports the anchor weight
        extra = ("anchor_weight",) if config["data"]["blend"] else ()
        if extra and config["data"]["anchor"] == "mixed" and int(config["model"]["members"]) >= 2:
            extra += ("anchor_groups",)  # 1: each member group blended towards its own anchor
        return ("loss", "smape", *extra)

    def create_task(self, config, data, state):
        from rnnsuite.plugins.forecast.task import ForecastTask

        return ForecastTask(config, data, state)

    def cli_options(self, verb):
        import click

        read = [
            click.Option(["--freq"], help="Pandas frequency (D, W, MS, QS, YS...); inferred by default. Given, rows within a period are averaged."),
            click.Option(["--date-col"], help="Time column (dates or integer steps); found by name by default."),
            click.Option(["--value-col"], help="Target column(s), comma-separated; other numeric columns become covariates."),
            click.Option(["--id-col"], help="Series-id column of a long-format file; several comma-separated name a series together. Found by name, or from repeated dates."),
            click.Option(["--fill"], type=click.Choice(["interpolate", "mask"]),
                         help="Gaps: fill by interpolation (default) or mask out of the loss."),
        ]
        if verb == "train":
            return read + [
                click.Option(["--horizon"], type=int, help="Steps to forecast (default from the frequency)."),
                click.Option(["--season"], type=int, help="Seasonal period (default from the frequency; detected for integer steps)."),
            ]
        if verb == "evaluate":
            return read + [click.Option(["--folds"], type=int, help="Rolling origins, one horizon apart (default 1).")]
        return []

    def commands(self) -> list:
        from rnnsuite.plugins.forecast.commands import predict

        return [predict]
