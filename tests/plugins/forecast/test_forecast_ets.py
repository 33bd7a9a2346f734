"""The AutoETS combination (data.ets): forecasts and bands equal statsforecast's own, the weight
chosen on the hold-out by hand-computed sMAPE, the calibration fitted to the moved hold-out, and
a trained run's forecast moved exactly its weight, its bands averaged with AutoETS's."""

from pathlib import Path

import numpy as np
import pytest
import torch
from rnnsuite.plugins.forecast import ets as ets_module
from rnnsuite.plugins.forecast.ets import (
    BANDS_SHARE,
    MAX_POINTS,
    WEIGHTS,
    blend_bands,
    blend_points,
    choose_bands,
    choose_weight,
    ets_forecasts,
)

SALES = Path(__file__).resolve().parents[3] / "examples" / "sales.csv"


@pytest.fixture(autouse=True)
def fresh_memo():
    """Each test fits AutoETS itself (ets_forecasts answers repeated questions from memory)."""
    ets_module._MEMO.clear()
    yield
    ets_module._MEMO.clear()


def seasonal_series(n, seed, season=12):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 100 + 0.5 * t + 10 * np.sin(2 * np.pi * t / season) + rng.normal(0, 1, n)


def test_forecasts_are_statsforecast_autoets_and_unfittable_histories_get_nan():
    from statsforecast.models import AutoETS

    histories = [seasonal_series(60, k) for k in range(3)] + [np.array([1.0, 2.0]), np.full(30, 7.0)]
    out = ets_forecasts(histories, horizon=6, season=12, processes=1)
    assert out.shape == (5, 6, 5)
    for k in range(3):
        expected = AutoETS(season_length=12).forecast(y=histories[k], h=6, level=[80, 95])
        for c, name in enumerate(("mean", "lo-80", "hi-80", "lo-95", "hi-95")):
            np.testing.assert_allclose(out[k, :, c], expected[name])
    assert np.isnan(out[3]).all() and np.isnan(out[4]).all()   # too short; constant


def test_short_histories_fit_without_season_and_gaps_are_interpolated():
    from statsforecast.models import AutoETS

    short = seasonal_series(20, 5)                        # under two seasons of 12
    gappy = seasonal_series(40, 6)
    gappy[:3] = np.nan
    gappy[10] = np.nan
    out = ets_forecasts([short, gappy], horizon=4, season=12, processes=1)
    np.testing.assert_allclose(out[0, :, 0], AutoETS(season_length=1).forecast(y=short, h=4)["mean"])
    filled = gappy[3:].copy()
    filled[7] = (filled[6] + filled[8]) / 2
    np.testing.assert_allclose(out[1, :, 0], AutoETS(season_length=12).forecast(y=filled, h=4)["mean"])


def test_long_histories_are_fitted_on_their_last_points_only():
    from statsforecast.models import AutoETS

    long = seasonal_series(MAX_POINTS + 150, 7)
    out = ets_forecasts([long, long[:MAX_POINTS]], horizon=4, season=12, processes=1)
    expected = AutoETS(season_length=12).forecast(y=long[-MAX_POINTS:], h=4)["mean"]
    np.testing.assert_allclose(out[0, :, 0], expected)
    assert not np.allclose(out[1, :, 0], expected)   # the cap is what made them equal
    wide = 170                                  # a season so long that three of them pass the cap
    assert 3 * wide > MAX_POINTS
    history = seasonal_series(3 * wide + 30, 8, season=wide)
    out = ets_forecasts([history], horizon=3, season=wide, processes=1)
    np.testing.assert_allclose(out[0, :, 0], AutoETS(season_length=wide).forecast(y=history[-3 * wide:], h=3)["mean"])


def test_files_of_many_series_give_each_fewer_points_within_the_budget(monkeypatch):
    from statsforecast.models import AutoETS

    assert ets_module.points_cap(1_428, 12) == 350 and ets_module.points_cap(100, 12) == MAX_POINTS
    assert ets_module.points_cap(100_000, 12) == ets_module.CAP_FLOOR
    assert ets_module.points_cap(100_000, 52) == 156                   # never under 3 seasons
    monkeypatch.setattr(ets_module, "POINTS_BUDGET", 300)             # 3 series: 100 points each
    histories = [seasonal_series(240, k) for k in range(3)]
    out = ets_forecasts(histories, horizon=4, season=12, processes=1)
    for history, got in zip(histories, out):
        np.testing.assert_allclose(got[:, 0], AutoETS(season_length=12).forecast(y=history[-100:], h=4)["mean"])


def test_processes_split_the_work_and_return_what_one_process_returns():
    histories = [seasonal_series(40 + k, k) for k in range(40)]   # more series than chunks
    np.testing.assert_allclose(ets_forecasts(histories, 5, 12, processes=2),
                               ets_forecasts(histories, 5, 12, processes=1))


def test_the_same_histories_asked_again_are_answered_from_memory(monkeypatch):
    histories = [seasonal_series(40, k) for k in range(3)]
    first = ets_forecasts(histories, 5, 12, processes=1)

    def no_fitting(*args):
        raise AssertionError("fitted again")

    monkeypatch.setattr(ets_module, "_fit_all", no_fitting)
    np.testing.assert_array_equal(ets_forecasts([h.copy() for h in histories], 5, 12), first)
    first[:] = 0                                             # the caller's copy, not the memory's
    assert ets_forecasts(histories, 5, 12)[0, 0, 0] != 0
    changed = [h.copy() for h in histories]
    changed[1][-1] += 1.0
    with pytest.raises(AssertionError, match="fitted again"):
        ets_forecasts(changed, 5, 12)
    with pytest.raises(AssertionError, match="fitted again"):
        ets_forecasts(histories, 6, 12)


def test_blend_moves_the_point_where_an_ets_forecast_exists():
    point = np.full((2, 3), 100.0)
    ets = np.array([[120.0, 80.0, 100.0], [np.nan] * 3])   # no ETS forecast for the second series
    np.testing.assert_allclose(blend_points(point, ets, 0.25), [[105.0, 95.0, 100.0], [100.0] * 3])
    assert blend_points(point, ets, 0.0) is point


def test_bands_are_averaged_with_autoets_and_kept_in_order_around_the_point():
    columns = np.array([[[100.0, 90.0, 110.0, 80.0, 120.0]] * 2, [[50.0, 40.0, 60.0, 30.0, 70.0]] * 2])
    ets = np.array([[[104.0, 96.0, 112.0, 84.0, 124.0], [200.0, 190.0, 210.0, 180.0, 220.0]],
                    [[np.nan] * 5] * 2])                   # no AutoETS forecast for the second series
    out = blend_bands(columns, ets, 0.5)
    np.testing.assert_allclose(out[0, 0], [100.0, 93.0, 111.0, 82.0, 122.0])   # the point stays
    # AutoETS far above: its lower edges would pass the point; they stop at it, in order
    np.testing.assert_allclose(out[0, 1], [100.0, 100.0, 160.0, 100.0, 170.0])
    np.testing.assert_array_equal(out[1], columns[1])
    assert blend_bands(columns, ets, 0.0) is columns and BANDS_SHARE == 0.5


def test_weight_is_the_grid_point_with_the_lowest_smape():
    point = np.array([[100.0, 100.0], [50.0, 50.0]])
    ets = np.array([[120.0, 120.0], [np.nan, np.nan]])
    assert WEIGHTS == (0.0, 0.25)
    assert choose_weight(point, ets, np.array([[110.0, 110.0], [50.0, 50.0]])) == 0.25
    assert choose_weight(point, ets, np.array([[102.0, 102.0], [50.0, 50.0]])) == 0.0   # 105 is further
    assert choose_weight(point, ets, point) == 0.0           # the network exact: no move
    assert choose_weight(point, np.full_like(point, np.nan), np.full_like(point, 1.0)) == 0.0  # ties: 0


def _columns(point, half80, half95):
    """Forecast columns (B, H, 5 in COLUMNS order) around `point` with bands of the given half-widths."""
    p = np.asarray(point, dtype=float)
    return np.stack([p, p - half80, p + half80, p - half95, p + half95], axis=-1)


def test_the_bands_share_drops_to_zero_only_where_autoetss_bands_clearly_spoil_the_networks():
    from rnnsuite.plugins.forecast.metrics import BAND_QUANTILES

    rng = np.random.default_rng(0)
    actual = 100 + rng.normal(0, 10, (8, 6))
    network = _columns(np.full((8, 6), 100.0), 12.8, 19.6)          # about the true quantiles
    scales = np.full(8, 10.0)
    # AutoETS's bands ten times too wide on every series: the network's alone, per series or per point
    wide = _columns(np.full((8, 6), 100.0), 128.0, 196.0)
    assert choose_bands(network, wide, actual, scales, by_series=True) == 0.0
    assert choose_bands(network[:1], wide[:1], actual[:1], scales[:1], by_series=False) == 0.0
    # the same bands: no difference, the half share stays
    assert choose_bands(network, network.copy(), actual, scales, by_series=True) == BANDS_SHARE
    # no AutoETS forecast anywhere (NaN): nothing to compare, the half share stays
    assert choose_bands(network, np.full_like(network, np.nan), actual, scales, by_series=True) == BANDS_SHARE
    # a series whose hold-out is all missing (--fill mask) is left out, quietly
    import warnings

    missing = np.vstack([actual, np.full((1, 6), np.nan)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert choose_bands(np.vstack([network, network[:1]]), np.vstack([wide, wide[:1]]), missing,
                            np.append(scales, 10.0), by_series=True) == 0.0

    # one series much better alone, three a little worse: the mean difference favours the
    # network's bands, but not by one standard error (hand-computed)
    def loss(cols, y, scale):
        q = np.array([BAND_QUANTILES[k] for k in ("mean", "lo80", "hi80", "lo95", "hi95")])
        diff = y[..., None] - cols
        return (np.maximum(q * diff, (q - 1) * diff).mean(-1) / scale).mean()

    y = np.array([[100.0, 100.0]] * 4)
    net = _columns(np.full((4, 2), 100.0), [[10.0, 10.0], [30.0, 30.0], [30.0, 30.0], [30.0, 30.0]], 40.0)
    ets = _columns(np.full((4, 2), 100.0), [[90.0, 90.0], [10.0, 10.0], [10.0, 10.0], [10.0, 10.0]], 40.0)
    d = np.array([loss(net[i], y[i], 1.0) - loss(blend_bands(net, ets, 0.5)[i], y[i], 1.0) for i in range(4)])
    assert d.mean() < 0 < d.mean() + d.std(ddof=1) / 2
    assert choose_bands(net, ets, y, np.ones(4), by_series=True) == BANDS_SHARE


def test_a_run_whose_autoets_bands_are_far_off_keeps_its_own(tmp_path, monkeypatch):
    """AutoETS answering bands a hundred times too wide: the hold-out gives them no share, and
    `predict` forecasts the network's bands alone; with AutoETS's bands the network's own the
    half share stays."""
    from rnnsuite.core import apply_overrides, default_config, train_run
    from rnnsuite.core.plugins import domain_named

    real = ets_module.ets_forecasts

    def far_off(histories, horizon, season, processes=0):
        out = real(histories, horizon, season, processes)
        point = out[..., :1]
        return np.concatenate([point, point + 100 * (out[..., 1:] - point)], axis=-1)

    monkeypatch.setattr(ets_module, "ets_forecasts", far_off)
    domain = domain_named("forecast")
    config = apply_overrides(default_config(domain), ["max_steps=6", "hidden_size=8", "threads=1"])
    run = train_run(domain, config, SALES, out=tmp_path / "run", show_progress=False)
    assert float(run.model.ets_bands) == 0.0

    def same(histories, horizon, season, processes=0):
        out = real(histories, horizon, season, processes)
        return np.concatenate([out[..., :1], np.full_like(out[..., 1:], np.nan)], axis=-1)

    monkeypatch.setattr(ets_module, "ets_forecasts", same)   # no bands to compare: NaN
    ets_module._MEMO.clear()
    run = train_run(domain, config, SALES, out=tmp_path / "run2", show_progress=False)
    assert float(run.model.ets_bands) == BANDS_SHARE


def test_a_trained_run_moves_its_point_forecast_by_its_weight_and_its_bands_by_the_same_ratio(tmp_path):
    from rnnsuite.core import apply_overrides, default_config, load_weights, train_run
    from rnnsuite.core.plugins import domain_named
    from rnnsuite.plugins.forecast.forecaster import forecast
    from rnnsuite.plugins.forecast.model import to_columns

    domain = domain_named("forecast")
    config = apply_overrides(default_config(domain), ["max_steps=6", "hidden_size=8", "threads=1"])
    run = train_run(domain, config, SALES, out=tmp_path / "run", show_progress=False)
    task, model, v = run.task, run.model, run.task._valid
    # the weight the hold-out's own sMAPE picks, computed here from the hold-out and statsforecast
    with torch.no_grad():
        columns = to_columns(model(v["x"]), "quantile", combine=model.combine, anchor_weight=model.anchor_weight,
                             level_offset=model.level_offset(v["x"]), group_blend=model.group_blend, views=model.views,
                             view_share=getattr(model, "view_share", None))
    point = task._inverse(columns[..., 2].double().numpy() + v["base"].double().numpy())
    held = ets_forecasts(v["histories"], task.spec.horizon, task.spec.season, processes=1)[..., 0]
    assert float(model.ets_weight) == pytest.approx(choose_weight(point, held, v["actual"]))
    assert float(model.ets_bands) in (0.0, BANDS_SHARE)   # chosen on the hold-out (next tests)
    saved = load_weights(tmp_path / "run" / "model.safetensors")[0]
    torch.testing.assert_close(saved["ets_weight"], model.ets_weight)
    torch.testing.assert_close(saved["ets_bands"], model.ets_bands)
    model.ets_weight.fill_(0.4)       # a weight that moves it, whatever the run chose
    model.ets_bands.fill_(0.0)
    moved = forecast(model, "quantile", task.data.series, task.data, task.scaler, task.spec, 18)
    model.ets_bands.fill_(0.5)
    both = forecast(model, "quantile", task.data.series, task.data, task.scaler, task.spec, 18)
    model.ets_weight.fill_(0.0)
    model.ets_bands.fill_(0.0)
    alone = forecast(model, "quantile", task.data.series, task.data, task.scaler, task.spec, 18)
    ets = ets_forecasts([s.values for s in task.data.series], 18, task.spec.season, processes=1)
    assert np.isfinite(ets).all()
    bands = ("lo80", "hi80", "lo95", "hi95")
    for m, b, a, e in zip(moved, both, alone, ets):
        np.testing.assert_allclose(m["mean"], 0.6 * a["mean"] + 0.4 * e[:, 0])
        for band in bands:
            np.testing.assert_allclose(m[band], a[band] * m["mean"] / a["mean"])
        # then the band edges averaged with AutoETS's (here in order: no edge passes the point)
        averaged = np.stack([0.5 * m[band] + 0.5 * e[:, 1 + k] for k, band in enumerate(bands)])
        assert (averaged[0] <= m["mean"]).all() and (averaged[1] >= m["mean"]).all()
        np.testing.assert_allclose(b["mean"], m["mean"])
        np.testing.assert_allclose(np.stack([b[band] for band in bands]), averaged)


def test_the_calibration_sees_the_moved_forecast(tmp_path, monkeypatch):
    """The bands the calibration is fitted on at the end of training are the hold-out forecast
    moved towards AutoETS (median and bands by the same ratio), computed here from the hold-out
    and statsforecast directly."""
    from rnnsuite.core import apply_overrides, default_config, train_run
    from rnnsuite.core.plugins import domain_named
    from rnnsuite.plugins.forecast import model as model_module
    from rnnsuite.plugins.forecast.model import to_columns

    monkeypatch.setattr(ets_module, "WEIGHTS", (0.5,))      # a weight that moves the forecast
    seen = []
    real = model_module.calibrate
    # the calibration of the whole hold-out (the band share's choice also calibrates halves of it)
    monkeypatch.setattr(model_module, "calibrate",
                        lambda columns, target, **kw: (None if kw else seen.append(columns)) or real(columns, target, **kw))
    domain = domain_named("forecast")
    config = apply_overrides(default_config(domain), ["max_steps=6", "hidden_size=8", "threads=1"])
    run = train_run(domain, config, SALES, out=tmp_path / "run", show_progress=False)
    task, model, v = run.task, run.model, run.task._valid
    with torch.no_grad():
        raw = model(v["x"])
    columns = to_columns(raw, "quantile", combine=model.combine, anchor_weight=model.anchor_weight,
                         level_offset=model.level_offset(v["x"]), group_blend=model.group_blend,
                         views=model.views, view_share=getattr(model, "view_share", None))
    base = v["base"].double().numpy()
    point = task.scaler.inverse(columns[..., 2].double().numpy() + base, v["scale"][:, None])
    ets = ets_forecasts(v["histories"], task.spec.horizon, task.spec.season, processes=1)[..., 0]
    moved = np.log(blend_points(point, ets, 0.5) / v["scale"][:, None]) - base   # a log-scaled run
    shifted = columns + torch.as_tensor(moved - columns[..., 2].double().numpy(), dtype=columns.dtype)[..., None]
    assert (shifted - columns).abs().max() > 0.01
    assert float(model.ets_weight) == 0.5
    torch.testing.assert_close(seen[-1], shifted)            # the last fit: finalize's


def test_without_ets_no_statsforecast_is_needed_and_older_runs_load_with_weight_zero(tmp_path, monkeypatch):
    import sys

    from rnnsuite.core import apply_overrides, default_config, load_run, save_weights, train_run
    from rnnsuite.core.plugins import domain_named

    monkeypatch.setitem(sys.modules, "statsforecast", None)   # not needed without data.ets
    domain = domain_named("forecast")
    config = apply_overrides(default_config(domain), ["max_steps=2", "hidden_size=8", "threads=1",
                                                      "ets=false"])
    run = train_run(domain, config, SALES, out=tmp_path / "run", show_progress=False)
    assert float(run.model.ets_weight) == 0.0 and float(run.model.ets_bands) == 0.0
    state = {k: v for k, v in run.model.state_dict().items() if k not in ("ets_weight", "ets_bands")}   # as saved before
    save_weights(tmp_path / "run" / "model.safetensors", state)
    loaded = load_run(tmp_path / "run", domain, "cpu").model
    assert float(loaded.ets_weight) == 0.0 and float(loaded.ets_bands) == 0.0


def test_without_statsforecast_the_error_names_it(monkeypatch):
    import sys

    from rnnsuite.core import UserError

    monkeypatch.setitem(sys.modules, "statsforecast", None)
    with pytest.raises(UserError, match="data.ets needs statsforecast"):
        ets_forecasts([seasonal_series(30, 0)], 4, 12)
