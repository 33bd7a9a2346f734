"""ForecastTask: what core's trainer needs to fit one global forecaster.

The run's transform state (frequency, window sizes, per-series scaler) is fitted on the
training CSV and saved in RUN/config.json, so a run forecasts new CSVs exactly as it was
trained.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from rnnsuite.core import StepOutput, Task, UserError
from rnnsuite.plugins.forecast.data import (
    ForecastData,
    horizon_for_freq,
    load_csv,
    normalize_freq,
    season_for_freq,
)
from rnnsuite.plugins.forecast.windows import Scaler, TrainingWindows, WindowSpec, detect_season

__all__ = ["ForecastTask", "TooShortError", "choose_sizes"]


class TooShortError(UserError):
    """No series is long enough to train on (predict falls back to seasonal naive)."""


#: Below this many training windows, data.anchor=auto anchors on the seasonal-naive forecast.
SMALL_DATA_WINDOWS = 2000

#: From this many training windows a run may train for train.max_steps; below it the cap is
#: train.small_data_steps (see the forecast defaults: a longer schedule gained on M3 and tourism
#: monthly, 74,000-80,000 windows, and lost on M3 yearly and other, 8,000).
LARGE_DATA_WINDOWS = 40_000


def choose_sizes(data: ForecastData, cfg: dict) -> WindowSpec:
    """Window sizes from the config, or from the data where the config says 0."""
    season = int(cfg.get("season") or 0)
    if not season:  # from the frequency; integer steps: detected from the data, or 1
        season = season_for_freq(data.freq) if data.freq is not None else detect_season(
            [s.values for s in data.series])
    horizon = int(cfg.get("horizon") or horizon_for_freq(data.freq))
    if horizon < 1:
        raise UserError(f"--horizon must be at least 1, got {horizon}")
    if season < 1:
        raise UserError(f"--season must be at least 1, got {season}")
    input_size = int(cfg.get("input_size") or 0)
    if not input_size:
        lengths = sorted(len(s) for s in data.series)
        median = lengths[len(lengths) // 2]
        # Two seasons and two horizons of context, but no more than half the typical series.
        input_size = max(min(max(2 * season, 2 * horizon, 8), median // 2), min(4, median))
    anchor = cfg["anchor"]
    if anchor not in ("auto", "level", "theta", "mixed", "seasonal_naive"):
        raise UserError(f"data.anchor must be auto, level, theta, mixed or seasonal_naive, not {anchor!r}")
    windows = sum(max(0, len(s) - horizon - input_size) for s in data.series)
    if anchor == "auto":
        # Few training windows: start from the seasonal-naive forecast (on examples/sales.csv,
        # 5 series, held-out sMAPE 12.2 against 13.5 from the level); many: from the level
        # (M3 monthly, 1,428 series: 13.9 against 14.2). See bench/RESULTS.md (forecast).
        anchor = "seasonal_naive" if windows < SMALL_DATA_WINDOWS else "level"
    # Series shorter than the window train and forecast on padded windows of at least this many
    # points (WindowSpec.shortest adds the floor of one season and the window's cap) instead of
    # falling back to seasonal naive: M1 has 26 of 203 quarterly series shorter than its
    # 16-point window (bench/RESULTS.md, forecast).
    # Series with fewer whole training windows than the window is long also train on padded
    # windows that start before them: M3 sMAPE over four seeds monthly 13.25 -> 13.20, quarterly
    # 9.05 -> 9.01, yearly 15.82 -> 15.64 (bench/RESULTS.md, forecast).
    input_size = max(1, input_size)
    return WindowSpec(input_size=input_size, horizon=horizon, season=season, anchor=anchor,
                      deseasonalize=bool(cfg["deseasonalize"]), min_input=int(cfg.get("min_input") or 0) or 4,
                      pad_below=int(cfg.get("pad_below") or 0) or input_size,
                      # the raw view learns the seasonality from the windows: only where there are
                      # many (examples/sales.csv, 400 windows: 8.44 -> 10.27 with it)
                      raw_view=bool(cfg.get("raw_view")) and season <= input_size and windows >= SMALL_DATA_WINDOWS)


class ForecastTask(Task):
    """A global model over every series of one CSV; see docs/plugin-guide.md for the contract."""

    def __init__(self, config: dict, data: Path | None, state: dict | None):
        self.config = config
        self.data = None
        self.windows = None
        threads = int(config["train"].get("threads") or 0)
        if threads > 0:
            import torch

            torch.set_num_threads(threads)
        dcfg = config["data"]
        if state:  # a trained run: restore its transform
            self.freq = state["freq"]
            self.step = int(state.get("step", 1))
            self.spec = WindowSpec(**state["spec"])
            self.scaler = Scaler.from_state(state["scaler"])
            self.num_calendar = int(state["num_calendar"])
            self.covariate_names = list(state.get("covariate_names", []))
            if data is not None:  # resuming a training: same transform, same windows
                self.data = self.read(data)
                self._prepare_training(data)
            return
        if data is None:
            raise UserError("forecast: DATA (a CSV file) is required")
        self.data = self.read(data)
        self.freq, self.step = self.data.freq, self.data.step
        self.spec = choose_sizes(self.data, dcfg)
        self.covariate_names = list(self.data.covariate_names)
        from rnnsuite.plugins.forecast.data import calendar_features

        self.num_calendar = calendar_features(self.data.series[0].time[:1], self.freq).shape[1]
        transform = dcfg["transform"]
        if transform not in ("auto", "log", "none"):
            raise UserError(f"data.transform must be auto, log or none, not {transform!r}")
        try:
            self.scaler = Scaler.fit(self.data, transform, cutoff=self._training_ends())
        except ValueError:
            raise UserError(f"{data}: data.transform=log needs positive values; use auto or none") from None
        self._prepare_training(data)
        self._cap_small_data_steps()

    def _cap_small_data_steps(self) -> None:
        """Below LARGE_DATA_WINDOWS training windows, lower train.max_steps to
        train.small_data_steps (a fresh training only: the run's saved config then holds the
        cap it trained under, which a resume keeps). A cap of 0 (none) stays."""
        train = self.config["train"]
        small, cap = int(train.get("small_data_steps") or 0), int(train["max_steps"])
        if small and len(self.windows) < LARGE_DATA_WINDOWS and cap > small:
            train["max_steps"] = small

    def _training_ends(self) -> dict:
        """Where each series' training part ends: before its last H points, where enough is
        left to train on (those H points validate), else at its end."""
        L, H = self.spec.input_size, self.spec.horizon
        hold = self.config["data"]["validation"]
        return {s.id: len(s) - H if hold and len(s) - H >= L + 1 else len(s) for s in self.data.series}

    def _prepare_training(self, data) -> None:
        dcfg = self.config["data"]
        self.ends = self._training_ends()
        self.windows = TrainingWindows(self.data, self.scaler, self.spec, self.ends,
                                       history_limit=int(dcfg.get("history_limit") or 0) or None)
        if len(self.windows) == 0:
            raise TooShortError(f"{data}: no series is long enough to train on ({self.spec.shortest} + 1 "
                            f"points needed; longest has {max(len(s) for s in self.data.series)}); "
                            "lower --set input_size=N or --horizon")
        self._valid = self._validation_batch()

    # -- data --------------------------------------------------------------------------------

    def read(self, path) -> ForecastData:
        d = self.config["data"]
        freq = d.get("freq")
        data = load_csv(path, date_col=d.get("date_col"), value_col=d.get("value_col"),
                        id_col=d.get("id_col"), freq=freq, fill=d["fill"])
        run_freq = getattr(self, "freq", "unset")
        if run_freq != "unset" and (data.freq is None) != (run_freq is None):
            raise UserError(f"{path}: the run was trained on {'integer steps' if run_freq is None else run_freq + ' dates'}, "
                            f"this file has {'integer steps' if data.freq is None else data.freq + ' dates'}")
        if run_freq not in ("unset", None) and data.freq is not None and normalize_freq(data.freq) != normalize_freq(run_freq):
            data.warn(f"frequency {data.freq} differs from the run's {run_freq}")
        if run_freq != "unset":
            covs = getattr(self, "covariate_names", [])
            if list(data.covariate_names) != list(covs):
                raise UserError(f"{path}: covariate columns {data.covariate_names or 'none'} differ from the run's "
                                f"{covs or 'none'}")
        return data

    def state_dict(self) -> dict:
        return {
            "freq": self.freq,
            "step": self.step,
            "spec": {"input_size": self.spec.input_size, "horizon": self.spec.horizon,
                     "season": self.spec.season, "anchor": self.spec.anchor,
                     "deseasonalize": self.spec.deseasonalize, "min_input": self.spec.min_input,
                     "pad_below": self.spec.pad_below, "raw_view": self.spec.raw_view},
            "scaler": self.scaler.state_dict(),
            "num_calendar": self.num_calendar,
            "covariate_names": self.covariate_names,
        }

    # -- model -------------------------------------------------------------------------------

    @property
    def num_features(self) -> int:
        return (2 + int(self.spec.seasonal) + 2 * int(self.spec.theta) + 2 * int(self.spec.raw) + self.num_calendar
                + len(self.covariate_names))

    def build_model(self):
        from rnnsuite.plugins.forecast.model import ForecastNet

        m = self.config["model"]
        # the Theta features follow the value, missing flag and seasonal component; the raw
        # view's follow them (windows.window_features)
        theta_frame = 2 + int(self.spec.seasonal)
        return ForecastNet(
            cell=m["cell"], input_size=self.num_features, hidden_size=int(m["hidden_size"]),
            num_layers=int(m["num_layers"]), input_len=self.spec.input_size,
            horizon=self.spec.horizon, loss=m["loss"], dropout=float(m["dropout"]),
            backend=m["backend"], members=int(m["members"]), skip=bool(m["skip"]),
            combine=m["combine"],
            level_frame=theta_frame if self.spec.anchor == "mixed" else None,
            level_input_len=self.member_span(float(m["level_window"])),
            raw_members=int(m["members"]) if self.spec.raw else 0,
            raw_frame=theta_frame + 2 if self.spec.raw else None, season=self.spec.season,
            raw_input_len=self.member_span(float(m["raw_window"])),
        )

    def member_span(self, share: float) -> int:
        """The input span of a member group that reads the window's last part (the mixed
        anchor's level group, the raw view's Theta group): `share` of the input window, at
        least 8 points (choose_sizes' shortest window) and one season, at most the whole window."""
        L = self.spec.input_size
        return min(L, max(round(share * L), 8, self.spec.season))

    # -- training ----------------------------------------------------------------------------

    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.windows) / int(self.config["train"]["batch_size"]))

    def train_batches(self, epoch: int, generator):
        import torch

        if self.config["data"]["sampling"] == "series":
            # Every series equally often, whatever its length (N-BEATS / ES-RNN practice).
            order = torch.multinomial(self.windows.sampling_weights(), len(self.windows),
                                      replacement=True, generator=generator)
        else:
            order = torch.randperm(len(self.windows), generator=generator)
        size = int(self.config["train"]["batch_size"])
        for i in range(0, len(order), size):
            yield self.windows.batch(order[i : i + size])

    #: Several processes (train.processes, or torchrun) split the ensemble's members, not the
    #: batches: each trains its share of them, of about equal cost (ForecastNet.share), on every
    #: batch (the members are independent networks, so one process's loss holds the whole
    #: gradient of its members), e.g. both cores of a laptop.
    model_parallel = True

    def parallel_processes(self, cores: int) -> int:
        """One process per core (each training its share of the members on one thread), at most
        one per member, once there is enough to train: below SMALL_DATA_WINDOWS windows a second
        process costs more to start than it saves. M3 monthly: 1.33x faster on 2 cores."""
        if self.windows is None or len(self.windows) < SMALL_DATA_WINDOWS \
                or int(self.config["train"].get("threads", 1)) != 1:
            return 1
        return max(1, min(cores, int(self.config["model"]["members"])))

    def training_step(self, model, batch, hidden) -> StepOutput:
        from rnnsuite.core import rank_part
        from rnnsuite.plugins.forecast.model import forecast_loss

        part = rank_part()
        if part[1] > len(model.members):
            raise UserError(f"{part[1]} torchrun processes for {len(model.members)} ensemble members: "
                            f"use at most {len(model.members)} processes or --set model.members={part[1]}")
        raw = model(batch["x"], part=part)  # (E, B, H, K): this process's members
        loss = forecast_loss(raw.float(), batch["target"], self.config["model"]["loss"])
        return StepOutput(loss, items=int(batch["target"].shape[0]))

    def _validation_batch(self):
        """Inputs and targets of every series' held-out last horizon, in one batch."""
        import torch
        from rnnsuite.plugins.forecast.windows import history_window, stacked_inputs

        H = self.spec.horizon
        windows, ys, actual, histories = [], [], [], []
        for s in self.data.series:
            end = self.ends[s.id]
            if end == len(s):
                continue
            window = history_window(s, end, self.scaler, self.spec, self.freq)  # nothing held out
            windows.append(window)
            ys.append(self.scaler.forward(s.values[end : end + H], window["scale"]))
            actual.append(s.values[end : end + H])
            histories.append(s.values[:end])
        if not windows:
            return None
        x, base = stacked_inputs(windows, self.spec, torch.float32)
        return {"x": x, "target": torch.tensor(np.stack(ys), dtype=torch.float32) - base, "base": base,
                "actual": np.stack(actual), "scale": np.array([w["scale"] for w in windows]),
                "histories": histories}

    def validate(self, model) -> dict:
        if self._valid is None:
            return {}
        from rnnsuite.plugins.forecast.metrics import smape
        from rnnsuite.plugins.forecast.model import forecast_loss

        v = self._valid
        raw = model(v["x"].to(next(model.parameters()).device)).float().cpu()
        loss = forecast_loss(raw, v["target"], self.config["model"]["loss"]).item()
        columns = self._fit_to_holdout(model, raw)
        point = self._inverse(columns[..., 2].double().numpy() + v["base"].double().numpy())
        metrics = {"loss": loss, "smape": smape(v["actual"], point)}
        if self.config["data"]["blend"]:
            metrics["anchor_weight"] = float(model.anchor_weight)
            if getattr(model, "mixed", False):  # 1: each group blended towards its own anchor
                metrics["anchor_groups"] = float(model.group_blend[0])
        return metrics

    def finalize(self, model) -> None:
        """The blend weight and the interval calibration of the weights the run keeps (those
        `validate` wrote may belong to other weights, e.g. under train.ema), and the AutoETS
        weight (data.ets): chosen here only, once, in the main process after the training
        processes have stopped, so AutoETS fits the hold-out's histories once, on every core."""
        if self._valid is not None:
            self._fit_to_holdout(model, model(self._valid["x"].to(next(model.parameters()).device)).float().cpu(),
                                 ets=True)

    def _inverse(self, point, rows=None):
        """Normalised hold-out values (B, H) back on the original scale; `rows`: which hold-out
        series they belong to (all by default)."""
        scale = self._valid["scale"] if rows is None else self._valid["scale"][rows]
        return self.scaler.inverse(point, scale[:, None])

    def _fit_to_holdout(self, model, raw, ets: bool = False):
        """Fit the model's anchor blend (data.blend) and interval scale (data.calibrate) to the
        validation windows from its raw outputs, with `ets` also its AutoETS weight (data.ets),
        the calibration then fitted to the moved forecast; returns the forecast columns."""
        from rnnsuite.plugins.forecast.model import (
            blend_weight,
            calibrate,
            to_columns,
        )

        v, kind = self._valid, self.config["model"]["loss"]
        combine = getattr(model, "combine", "mean")
        views = getattr(model, "views", 1)
        columns = to_columns(raw, kind, combine=combine, views=views)
        if self.config["data"]["blend"]:
            median, base = columns[..., 2].double().numpy(), v["base"].double().numpy()
            offset = model.level_offset(v["x"]) if getattr(model, "mixed", False) else None
            if offset is not None:  # one weight, or one per group (cross-validated)
                self._choose_mixed_blend(model, raw, offset, base)
            else:
                model.anchor_weight.fill_(blend_weight(median, base, v["actual"], self._inverse))
            columns = to_columns(raw, kind, combine=combine, anchor_weight=model.anchor_weight.cpu(),
                                 level_offset=offset,
                                 group_blend=model.group_blend.cpu() if offset is not None else None,
                                 views=views, view_share=getattr(model, "view_share", None))
        if ets and hasattr(model, "ets_weight"):
            columns = self._blend_ets(model, columns)
        if self.config["data"]["calibrate"]:
            model.interval_scale.copy_(calibrate(columns, v["target"]))
        if ets and float(model.ets_bands) > 0:
            model.ets_bands.fill_(self._choose_bands(model, columns))
        return columns

    def _choose_mixed_blend(self, model, raw, offset, base) -> None:
        """A mixed model's anchor weights (choose_blend), and with the raw view its share
        (VIEW_SHARES: the one whose blended point forecast scores the lower hold-out sMAPE; ties:
        the main view alone). The weights lean the main view on its anchor; the raw view's share
        is fixed (to_columns): folded into the base, the main view's scaled down."""
        import torch
        from rnnsuite.plugins.forecast.metrics import smape
        from rnnsuite.plugins.forecast.model import VIEW_SHARES, choose_blend, to_columns

        v, kind, combine, views = self._valid, self.config["model"]["loss"], model.combine, model.views
        n = len(model.members) // views
        main = raw[:n]
        median = to_columns(main, kind, combine=combine)[..., 2].double().numpy()
        theta, level = (to_columns(main[k::2], kind, combine=combine)[..., 2].double().numpy() for k in (0, 1))
        off = offset.double().numpy()
        other = to_columns(raw[n:], kind, combine=combine, views=views - 1)[..., 2].double().numpy() if views > 1 else 0
        best = None
        for share in VIEW_SHARES if views > 1 else (0.0,):
            keep = 1 - share
            g, w, w_theta, w_level = choose_blend(keep * median, keep * theta, keep * level, keep * off,
                                                  base + share * other, v["actual"], self._inverse)
            # the forecast these weights make, as predict makes it
            point = to_columns(raw, kind, combine=combine, anchor_weight=torch.tensor([w]), level_offset=offset,
                               group_blend=torch.tensor([g, w_theta, w_level]), views=views,
                               view_share=torch.tensor([share]))[..., 2].double().numpy()
            err = smape(v["actual"], self._inverse(base + point))
            if best is None or err < best[0] - 1e-9:
                best = (err, share, g, w, w_theta, w_level)
        _, share, g, w, w_theta, w_level = best
        model.anchor_weight.fill_(w)
        model.group_blend.copy_(torch.tensor([g, w_theta, w_level]))
        if views > 1:
            model.view_share.fill_(share)

    def _choose_bands(self, model, columns) -> float:
        """AutoETS's share of the band edges (ets.choose_bands), on the hold-out as `predict`
        would average them: from 4 series on, each half of the series with its bands calibrated
        on the other half (calibrated on themselves they would flatter the network's), below
        that on all of them."""
        from rnnsuite.plugins.forecast.ets import choose_bands, ets_forecasts
        from rnnsuite.plugins.forecast.forecaster import COLUMNS
        from rnnsuite.plugins.forecast.metrics import mase_scale
        from rnnsuite.plugins.forecast.model import (
            HEAD_COLUMNS,
            NARROW_MIN_POINTS,
            calibrate,
            stretch_bands,
        )

        v = self._valid
        rows = np.arange(len(v["actual"]))
        by_series = len(rows) >= 4
        base = v["base"].double().numpy()[..., None]
        if self.config["data"]["calibrate"] and by_series:
            low = 1.0 if int((~np.isnan(v["target"].numpy())).sum()) < NARROW_MIN_POINTS else 0.5
            q = np.empty(columns.shape, dtype=np.float64)
            for k in (0, 1):
                test, fit = rows[rows % 2 == k], rows[rows % 2 != k]
                q[test] = stretch_bands(columns[test], *calibrate(columns[fit], v["target"][fit], low=low)).double().numpy()
        elif self.config["data"]["calibrate"]:
            q = stretch_bands(columns, *model.interval_scale.cpu()).double().numpy()
        else:
            q = columns.double().numpy()
        q = self.scaler.inverse(q + base, v["scale"][:, None, None])[..., [HEAD_COLUMNS.index(n) for n in COLUMNS]]
        ets = ets_forecasts(v["histories"], self.spec.horizon, self.spec.season)
        scales = np.array([mase_scale(h, self.spec.season) for h in v["histories"]])
        return choose_bands(q, ets, v["actual"], scales, by_series)

    def _blend_ets(self, model, columns):
        """Choose the model's ets_weight on the hold-out (data.ets; ets.choose_weight) and return
        the hold-out columns with the point forecast moved that far towards AutoETS's, the bands
        moving with it (scaled with it in a log run, shifted otherwise), so that the calibration
        sees the forecast as `predict` makes it; sets the model's ets_bands, AutoETS's share of the
        band edges `predict` averages in after the calibration."""
        import torch
        from rnnsuite.plugins.forecast.ets import (
            BANDS_SHARE,
            blend_points,
            choose_weight,
            ets_forecasts,
        )

        model.ets_weight.zero_()
        model.ets_bands.zero_()
        if not self.config["data"]["ets"]:
            return columns
        model.ets_bands.fill_(BANDS_SHARE)   # applied at predict, after the calibration
        v = self._valid
        ets = ets_forecasts(v["histories"], self.spec.horizon, self.spec.season)[..., 0]   # fitted once per process
        base = v["base"].double().numpy()
        median = columns[..., 2].double().numpy()
        point = self._inverse(median + base)
        weight = choose_weight(point, ets, v["actual"])
        model.ets_weight.fill_(weight)
        if weight == 0:
            return columns
        moved = self.scaler.forward(blend_points(point, ets, weight), v["scale"][:, None]) - base
        return columns + torch.as_tensor(moved - median, dtype=columns.dtype)[..., None]

    def media(self, model) -> dict:
        """The forecast of the first 12 series from the end of their history, as `predict --plot`
        draws them."""
        from rnnsuite.plugins.forecast.commands import forecast_figure
        from rnnsuite.plugins.forecast.forecaster import forecast, forecast_table

        kind, horizon = self.config["model"]["loss"], self.spec.horizon
        results = forecast(model, kind, self.data.series[:12], self.data, self.scaler, self.spec, horizon,
                           warn=False)
        return {"samples/forecast": forecast_figure(self.data, forecast_table(self.data, results, horizon))}

    # -- evaluation --------------------------------------------------------------------------

    def export_graph(self, model):
        """The ensemble on one batch of input windows: the windows `stacked_inputs` builds in,
        the forecast columns out, in the scaled space as offsets from each window's anchor
        (combined over members, the anchor weight and the interval calibration applied)."""
        import torch
        from rnnsuite.core import ExportGraph
        from rnnsuite.plugins.forecast.model import HEAD_COLUMNS, ColumnsGraph

        graph = ColumnsGraph(model)
        length, features = self.spec.input_size, self.num_features
        doc = (f"x: (L={length}, B, {features}) float32 input windows as "
               "rnnsuite.plugins.forecast.windows.stacked_inputs builds them (scaled values first, "
               f"then the run's other features); columns: (B, H={self.spec.horizon}, 5) in the order "
               f"{', '.join(HEAD_COLUMNS)}, scaled, as offsets from the anchor that stacked_inputs "
               "returns beside x: add it, then invert the scaling (Scaler.inverse)")
        return ExportGraph(graph, {"x": torch.randn(length, 4, features)}, ("columns",),
                           {"x": {1: "batch"}, "columns": {0: "batch"}},
                           {"x": torch.randn(length, 7, features)}, doc)

    def evaluate(self, model, data) -> dict:
        from rnnsuite.plugins.forecast.forecaster import backtest

        folds = int(self.config["data"].get("folds") or 1)
        if folds < 1:
            raise UserError(f"--folds must be at least 1, got {folds}")
        fdata = self.read(data)
        return backtest(model, self.config["model"]["loss"], fdata, self.scaler,
                        self.spec, self.spec.horizon, folds=folds)

