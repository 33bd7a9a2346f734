"""Scaling, windows (strided views, no copies) and the model's probabilistic head."""

import numpy as np
import pandas as pd
import pytest
import torch
from rnnsuite.plugins.forecast.data import ForecastData, Series
from rnnsuite.plugins.forecast.model import (
    QUANTILES,
    ForecastNet,
    _quantiles,
    forecast_loss,
    to_columns,
)
from rnnsuite.plugins.forecast.windows import Scaler, TrainingWindows, WindowSpec, window_features


def make_data(*arrays):
    series = [Series(f"s{i}", pd.RangeIndex(len(a)), np.asarray(a, float)) for i, a in enumerate(arrays)]
    return ForecastData(path="mem", series=series, freq=None)


def test_scaler_log_roundtrip_and_state():
    data = make_data([1, 2, 3, 6], [10, 30])
    scaler = Scaler.fit(data)
    assert scaler.log and scaler.scales == {"s0": 3.0, "s1": 20.0}
    u = scaler.forward(np.array([3.0, 6.0]), 3.0)
    np.testing.assert_allclose(u, np.log([1, 2]))
    np.testing.assert_allclose(scaler.inverse(u, 3.0), [3, 6])
    assert Scaler.from_state(scaler.state_dict()) == scaler
    assert not Scaler.fit(make_data([1, -1, 2])).log  # a negative value: no log


def test_windows_are_views_into_one_buffer():
    data = make_data(np.arange(1, 11), np.arange(101, 108))
    scaler = Scaler(log=False, scales={"s0": 1.0, "s1": 1.0})
    spec = WindowSpec(input_size=3, horizon=2, season=1)
    w = TrainingWindows(data, scaler, spec, ends={"s0": 10, "s1": 7})
    assert w._value_windows.untyped_storage().data_ptr() == w.values.untyped_storage().data_ptr()
    # s0 (10 points) has starts 0..6, s1 (7 points) starts 0..3
    assert len(w) == 7 + 4
    batch = w.batch(torch.tensor([0, 6, 7]))
    # window 0: inputs 1,2,3 (level = last value 3), targets 4,5
    np.testing.assert_allclose(batch["x"][:, 0, 0], [-2, -1, 0])
    np.testing.assert_allclose(batch["target"][0], [1, 2])
    # window 6: inputs 7,8,9, target 10 then past the end (NaN, masked)
    assert batch["target"][1, 0] == 1 and torch.isnan(batch["target"][1, 1])
    np.testing.assert_allclose(batch["x"][:, 2, 0], [-2, -1, 0])  # s1: 101,102,103


def test_validation_end_keeps_held_out_points_out_of_targets():
    data = make_data(np.arange(1.0, 11.0))
    spec = WindowSpec(input_size=3, horizon=2, season=1)
    w = TrainingWindows(data, Scaler(False, {"s0": 1.0}), spec, ends={"s0": 8})
    targets = w.batch(torch.arange(len(w)))["target"]
    levels = w.batch(torch.arange(len(w)))["x"][-1, :, 0]  # 0: last input is the level
    assert len(w) == 5 and torch.isnan(targets[-1, 1]) and torch.all(levels == 0)


def test_window_features_level_and_missing():
    u = torch.tensor([[1.0, float("nan"), 3.0, 5.0]])
    x, level = window_features(u, None, None, level_size=2)
    assert level.item() == pytest.approx(4.0)
    np.testing.assert_allclose(x[:, 0, 0], [-3, 0, -1, 1])
    np.testing.assert_allclose(x[:, 0, 1], [0, 1, 0, 0])


def test_quantile_head_is_ordered_and_pinball_matches_hand():
    raw = torch.randn(3, 4, 5, 5) * 5
    q = _quantiles(raw)
    assert torch.all(q[..., 1:] >= q[..., :-1])
    cols = to_columns(raw)
    assert torch.all(cols[..., 1:] >= cols[..., :-1])
    # pinball by hand for one point
    raw1 = torch.randn(1, 1, 1, 5)
    qs = _quantiles(raw1)[0, 0, 0]
    y = 0.3
    hand = sum(max(t * (y - float(v)), (t - 1) * (y - float(v))) for t, v in zip(QUANTILES, qs))
    assert forecast_loss(raw1, torch.tensor([[y]])).item() == pytest.approx(hand, rel=1e-5)
    # NaN targets are masked
    assert forecast_loss(raw1.expand(1, 1, 2, 5), torch.tensor([[y, float("nan")]])).item() == pytest.approx(hand, rel=1e-5)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_forecast_net_shapes(cell):
    net = ForecastNet(cell, input_size=4, hidden_size=8, num_layers=1, input_len=6, horizon=3, members=2)
    out = net(torch.randn(6, 5, 4))
    assert out.shape == (2, 5, 3, 5)
    gauss = ForecastNet(cell, 4, 8, 1, 6, 3, loss="gaussian")
    assert gauss(torch.randn(6, 5, 4)).shape == (1, 5, 3, 2)


def test_seasonal_naive_anchor_by_hand():
    from rnnsuite.plugins.forecast.windows import anchor_values

    u = torch.tensor([[1.0, 2.0, 3.0, 4.0, float("nan"), 6.0]])  # season 3: last season 4, nan, 6
    level = torch.tensor([5.0])
    spec = WindowSpec(input_size=6, horizon=4, season=3, anchor="seasonal_naive")
    np.testing.assert_allclose(anchor_values(u, level, spec)[0], [4, 5, 6, 4])  # nan -> level
    spec = WindowSpec(input_size=6, horizon=2, season=12, anchor="seasonal_naive")  # season > window
    np.testing.assert_allclose(anchor_values(u, level, spec)[0], [6, 6])
    np.testing.assert_allclose(anchor_values(u, level, WindowSpec(6, 2, 3))[0], [5, 5])


def test_auto_anchor_depends_on_the_amount_of_data():
    from rnnsuite.plugins.forecast.task import SMALL_DATA_WINDOWS, choose_sizes

    cfg = {"horizon": 2, "season": 1, "input_size": 4, "anchor": "auto", "deseasonalize": False}
    assert choose_sizes(make_data(np.arange(50.0)), cfg).anchor == "seasonal_naive"
    many = make_data(*[np.arange(1.0, 7 + SMALL_DATA_WINDOWS // 10) for _ in range(10)])
    assert choose_sizes(many, cfg).anchor == "level"


def test_calibrate_is_split_conformal_on_each_side_and_only_widens():
    from rnnsuite.plugins.forecast.model import calibrate

    # median 0, bands +-1 (80%) and +-2 (95%); targets 0, -1, 2, -3, ... 8, -9: below the
    # median 1, 3, 5, 7, 9 away, above it 0, 2, 4, 6, 8; each side's ratio is 0 on the other
    columns = torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0]).expand(1, 10, 5)
    target = torch.arange(10.0)[None] * torch.tensor([1.0, -1.0]).repeat(5)[None]
    below, above = np.r_[[0.0] * 5, 1, 3, 5, 7, 9], np.r_[0.0, 2, 4, 6, 8, [0.0] * 5]
    c = calibrate(columns, target)
    np.testing.assert_allclose(c, [np.quantile(below, 0.9), np.quantile(below / 2, 0.975),
                                   np.quantile(above, 0.9), np.quantile(above / 2, 0.975)], rtol=1e-6)
    assert calibrate(columns, torch.zeros(1, 10)).tolist() == [1.0] * 4  # few points: never narrows
    # a floor below the median (intermittent demand: most targets 0) widens the low side only,
    # where one stretch for both sides would have widened the high side five times too
    floor = torch.tensor([-5.0] * 8 + [0.5] * 2)[None]
    assert calibrate(columns, floor).tolist() == [5.0, 2.5, 1.0, 1.0]
    # from NARROW_MIN_POINTS on the hold-out is trusted to narrow too (to half at most)
    from rnnsuite.plugins.forecast.model import NARROW_MIN_POINTS

    many = torch.linspace(-1.2, 1.2, NARROW_MIN_POINTS)[None]  # y uniform on [-1.2, 1.2]
    wide = columns[:, :1].expand(1, NARROW_MIN_POINTS, 5)
    c80, c95, c80_high, c95_high = calibrate(wide, many)
    assert c80.item() == pytest.approx(0.8 * 1.2, abs=0.01) and c95.item() == pytest.approx(0.95 * 0.6, abs=0.01)
    assert (c80_high, c95_high) == pytest.approx((c80.item(), c95.item()), abs=0.01)
    assert calibrate(wide, many / 10).tolist() == [0.5] * 4  # clamped at half
    assert calibrate(wide[:, :-1], many[:, :-1]).tolist() == [1.0] * 4
    k = float(np.log(np.e - 1))  # softplus(k) = 1: raw head outputs whose bands are +-1, +-2
    raw = torch.tensor([0.0, k, k, k, k]).expand(1, 1, 1, 5)
    np.testing.assert_allclose(to_columns(raw)[0, 0], [-2, -1, 0, 1, 2], atol=1e-6)
    scaled = to_columns(raw, interval_scale=torch.tensor([3.0, 1.0, 2.0, 1.0]))
    np.testing.assert_allclose(scaled[0, 0], [-3, -3, 0, 2, 2], atol=1e-6)  # 95% band kept outside
    both = to_columns(raw, interval_scale=torch.tensor([3.0, 1.0]))  # one stretch for both sides
    np.testing.assert_allclose(both[0, 0], [-3, -3, 0, 3, 3], atol=1e-6)


def test_runs_saved_with_one_stretch_for_both_sides_load_it_on_each():
    net = ForecastNet("rnn", 3, 4, 1, input_len=6, horizon=2)
    state = net.state_dict()
    state["interval_scale"] = torch.tensor([1.5, 2.0])
    net.load_state_dict(state)
    assert net.interval_scale.tolist() == [1.5, 2.0, 1.5, 2.0]


# -- deseasonalised windows, series sampling, member combination, anchor blend ---------------


def test_seasonal_indices_recover_a_pattern_on_a_linear_trend():
    from rnnsuite.plugins.forecast.windows import seasonal_indices

    pattern = np.array([3.0, -1.0, 0.5, -2.5])  # zero-mean, season 4
    t = np.arange(40)
    u = 0.1 * t + pattern[t % 4]
    # a centred 2x4 moving average passes a linear trend and removes the pattern exactly
    np.testing.assert_allclose(seasonal_indices(u, 4), pattern, atol=1e-12)
    # started one step later, phase 0 is the pattern's phase 1
    np.testing.assert_allclose(seasonal_indices(u[1:], 4), np.roll(pattern, -1), atol=1e-12)


def test_seasonal_indices_are_zero_without_seasonality_or_history():
    from rnnsuite.plugins.forecast.windows import seasonal_indices

    rng = np.random.default_rng(0)
    assert not seasonal_indices(rng.normal(size=60), 12).any()  # white noise
    assert not seasonal_indices(np.arange(30.0) % 12, 12).any()  # under three seasons
    assert not seasonal_indices(np.arange(60.0), 1).any()


def test_deseasonalised_windows_remove_the_component_from_inputs_and_targets():
    pattern = np.array([1.0, -1.0])
    values = np.exp(0.01 * np.arange(24) + pattern[np.arange(24) % 2])
    data = make_data(values)
    spec = WindowSpec(input_size=4, horizon=2, season=2, deseasonalize=True)
    w = TrainingWindows(data, Scaler(log=True, scales={"s0": 1.0}), spec, ends={"s0": 24})
    b = w.batch(torch.arange(len(w)))
    assert b["x"].shape[-1] == 3  # centred value, missing flag, seasonal component
    np.testing.assert_allclose(b["x"][:, 0, 2], pattern[np.arange(4) % 2], atol=1e-5)
    # what is left is the trend: inputs -0.025, -0.015, -0.005, 0.005 around the last season's
    # level, targets 0.015 and 0.025 above it
    np.testing.assert_allclose(b["x"][:, 0, 0], [-0.025, -0.015, -0.005, 0.005], atol=1e-5)
    np.testing.assert_allclose(b["target"][0], [0.015, 0.025], atol=1e-5)
    assert not WindowSpec(4, 2, 2, anchor="seasonal_naive", deseasonalize=True).seasonal


def test_series_sampling_weights_give_each_series_equal_mass():
    data = make_data(np.arange(1.0, 31.0), np.arange(1.0, 9.0))
    spec = WindowSpec(input_size=3, horizon=2, season=1)
    w = TrainingWindows(data, Scaler(False, {"s0": 1.0, "s1": 1.0}), spec, ends={"s0": 30, "s1": 8})
    weights = w.sampling_weights()
    assert len(weights) == len(w) == 27 + 5
    assert weights[w.series_of == 0].sum().item() == pytest.approx(1.0)
    assert weights[w.series_of == 1].sum().item() == pytest.approx(1.0)


def test_median_combination_and_anchor_weight_keep_the_order():
    raw = torch.randn(5, 4, 3, 5) * 3
    q = _quantiles(raw)
    med = to_columns(raw, combine="median")
    np.testing.assert_allclose(med, q.median(0).values)
    assert torch.all(med[..., 1:] >= med[..., :-1])
    half = to_columns(raw, combine="median", anchor_weight=torch.tensor([0.5]))
    np.testing.assert_allclose(half[..., 2], 0.5 * med[..., 2], atol=1e-6)
    np.testing.assert_allclose(half[..., 4] - half[..., 2], med[..., 4] - med[..., 2], atol=1e-5)


def test_blend_weight_picks_the_better_of_network_and_anchor():
    from rnnsuite.plugins.forecast.model import blend_weight

    base = np.zeros((2, 3))
    actual = np.ones((2, 3))
    assert blend_weight(np.ones((2, 3)), base, actual, np.exp) == 0.0  # exp(0) = 1: anchor exact
    assert blend_weight(np.full((2, 3), np.log(2.0)), base, 2 * actual, np.exp) == 1.0
    assert blend_weight(np.full((2, 3), 2.0), base, np.full((2, 3), np.e), np.exp) == 0.5


def test_runs_saved_without_anchor_weight_still_load():
    net = ForecastNet("rnn", 3, 8, 1, 6, 2)
    state = {k: v for k, v in net.state_dict().items() if k != "anchor_weight"}
    fresh = ForecastNet("rnn", 3, 8, 1, 6, 2)
    fresh.load_state_dict(state)
    assert fresh.anchor_weight.item() == 1.0


def test_detect_season_finds_the_period_of_integer_step_series():
    from rnnsuite.plugins.forecast.task import choose_sizes
    from rnnsuite.plugins.forecast.windows import detect_season

    rng = np.random.default_rng(0)
    t = np.arange(120)

    def series(period, n=40, amp=0.3):  # trending random walks with a seasonal pattern of `period`
        pattern = rng.normal(0, 1, (n, period)) if period > 1 else np.zeros((n, 1))
        return [np.exp(5 + 0.01 * t + np.cumsum(rng.normal(0, 0.02, len(t))) + amp * p[t % len(p)] / 3)
                for p in pattern]

    assert detect_season(series(12)) == 12  # not 24, its multiple
    assert detect_season(series(4)) == 4    # not 12
    assert detect_season(series(7)) == 7
    assert detect_season(series(1)) == 1    # trend and noise only
    assert detect_season([np.arange(10.0)] * 5) == 1  # too short for any candidate
    cfg = {"horizon": 6, "season": 0, "input_size": 0, "anchor": "level", "deseasonalize": True}
    assert choose_sizes(make_data(*series(12)), cfg).season == 12
    assert choose_sizes(make_data(*series(12)), {**cfg, "season": 3}).season == 3  # given: kept


def test_theta_path_is_ses_with_half_the_slope_so_far():
    from rnnsuite.plugins.forecast.windows import _ALPHAS, theta_path

    rng = np.random.default_rng(1)
    d = 0.03 * np.arange(40) + rng.normal(0, 0.1, 40)
    path = theta_path(d)

    def ses(a):  # the recursion written out, l_0 = d_0
        levels = [d[0]]
        for v in d[1:]:
            levels.append(levels[-1] + a * (v - levels[-1]))
        return np.array(levels)

    sse = [np.sum((d[1:] - ses(a)[:-1]) ** 2) for a in _ALPHAS]
    a = _ALPHAS[int(np.argmin(sse))]
    for t in (1, 5, 39):
        b = np.polyfit(np.arange(t + 1), d[: t + 1], 1)[0]  # the slope of the points so far
        start = ses(a)[t] + b / 2 * (1 / a - (1 - a) ** (t + 1) / a)
        np.testing.assert_allclose(path[t], [start, b / 2], atol=1e-9)
    assert path[0, 1] == 0.0  # one point: no slope
    # a straight line: alpha 1 (no one-step error), drift half its slope, as Theta extrapolates
    np.testing.assert_allclose(theta_path(2.0 + 0.5 * np.arange(30))[-1], [2.0 + 0.5 * 29 + 0.25, 0.25])
    assert theta_path(np.full(5, np.nan)).tolist() == [[0.0, 0.0]] * 5


def test_theta_anchor_windows_by_hand():
    from rnnsuite.plugins.forecast.windows import (
        history_window,
        seasonal_component,
        seasonal_indices,
        stacked_inputs,
        theta_path,
    )

    rng = np.random.default_rng(2)
    t = np.arange(60)
    values = np.exp(3 + 0.02 * t + 0.3 * np.sin(2 * np.pi * t / 4) + rng.normal(0, 0.05, 60))
    data = make_data(values)
    scaler = Scaler(log=True, scales={"s0": 1.0})
    spec = WindowSpec(input_size=8, horizon=3, season=4, anchor="theta", deseasonalize=True)
    assert spec.seasonal and spec.theta
    u = np.log(values)
    # training: the last window's input is points 41..48, its one target in the training part 49
    w = TrainingWindows(data, scaler, spec, ends={"s0": 50})
    last = w.batch(torch.tensor([len(w) - 1]))
    component = seasonal_component(seasonal_indices(u[:50], 4), 0, 53)
    start, drift = theta_path(u[:50] - component[:50])[48]  # the forecast made after point 48
    base = start + drift * np.arange(3) + component[49:52]
    assert last["x"].shape[-1] == 2 + 1 + 2  # value, missing flag, seasonal, theta start and drift
    np.testing.assert_allclose(last["target"][0, 0], u[49] - base[0], atol=1e-5)
    assert torch.isnan(last["target"][0, 1:]).all()
    level = np.mean((u[:53] - component)[45:49])  # the last season of the input
    np.testing.assert_allclose(last["x"][:, 0, 0], (u[:53] - component)[41:49] - level, atol=1e-5)
    np.testing.assert_allclose(last["x"][0, 0, 3:], [start - level, drift * 8], atol=1e-5)
    # forecasting from point 50 on: the same definitions over the whole history given
    window = history_window(data.series[0], 50, scaler, spec, None)
    x, base = stacked_inputs([window], spec, torch.float32)
    start, drift = theta_path(u[:50] - component[:50])[-1]
    np.testing.assert_allclose(window["theta"], [start, drift])
    np.testing.assert_allclose(base[0], start + drift * np.arange(3) + component[50:53], atol=1e-5)


def test_mixed_anchor_level_members_answer_in_the_theta_frame():
    rng = np.random.default_rng(3)
    t = np.arange(50)
    data = make_data(*[np.exp(2 + 0.03 * t + 0.2 * np.sin(2 * np.pi * t / 4) + rng.normal(0, 0.05, 50))
                       for _ in range(3)])
    scaler = Scaler(log=True, scales={f"s{i}": 1.0 for i in range(3)})
    mixed = WindowSpec(input_size=8, horizon=3, season=4, anchor="mixed", deseasonalize=True)
    level = WindowSpec(input_size=8, horizon=3, season=4, anchor="level", deseasonalize=True)
    ends = {f"s{i}": 50 for i in range(3)}
    index = torch.arange(0, 100, 7)
    b_mixed = TrainingWindows(data, scaler, mixed, ends).batch(index)
    b_level = TrainingWindows(data, scaler, level, ends).batch(index)
    net = ForecastNet("rnn", 5, 8, 1, input_len=8, horizon=3, members=3, level_frame=3)
    for m in net.members:  # every member outputs 0: its own anchor
        torch.nn.init.zeros_(m.head[-1].weight)
        torch.nn.init.zeros_(m.head[-1].bias)
    with torch.no_grad():
        raw = net(b_mixed["x"])
    np.testing.assert_allclose(raw[0, ..., 0], 0.0)  # theta member: the Theta forecast
    np.testing.assert_allclose(raw[2, ..., 0], 0.0)
    # the level member's 0 is the level: in the theta frame, theta target minus level target
    ok = ~torch.isnan(b_mixed["target"])
    np.testing.assert_allclose(raw[1, ..., 0][ok], (b_mixed["target"] - b_level["target"])[ok], atol=1e-5)
    np.testing.assert_allclose(raw[1, ..., 1:], raw[0, ..., 1:])  # band widths untouched


def test_raw_view_members_answer_in_the_main_frame_from_the_raw_series():
    """The raw view's members (a deseasonalised mixed run) predict from the Theta forecast of
    the series with its seasonality left in and from the window's level, neither plus the
    seasonal indices: checked against windows built with those anchors directly."""
    from rnnsuite.plugins.forecast.model import ForecastNet

    rng = np.random.default_rng(4)
    t = np.arange(50)
    data = make_data(*[np.exp(2 + 0.03 * t + 0.3 * np.sin(2 * np.pi * t / 4) + rng.normal(0, 0.05, 50))
                       for _ in range(3)])
    scaler = Scaler(log=True, scales={f"s{i}": 1.0 for i in range(3)})
    ends = {f"s{i}": 50 for i in range(3)}
    spec = WindowSpec(input_size=8, horizon=3, season=4, anchor="mixed", deseasonalize=True, raw_view=True)
    assert spec.raw and not WindowSpec(8, 3, 4, "mixed", deseasonalize=True).raw
    assert not WindowSpec(8, 3, 1, "mixed", deseasonalize=True, raw_view=True).raw  # no season: one view
    index = torch.arange(0, 100, 7)
    batch = TrainingWindows(data, scaler, spec, ends).batch(index)
    raw_theta = TrainingWindows(data, scaler, WindowSpec(8, 3, 4, "theta"), ends).batch(index)
    raw_level = TrainingWindows(data, scaler, WindowSpec(8, 3, 4, "level"), ends).batch(index)
    assert batch["x"].shape[-1] == 2 + 1 + 2 + 2   # value, missing, seasonal, Theta, raw Theta
    net = ForecastNet("rnn", 7, 8, 1, input_len=8, horizon=3, members=2, level_frame=3,
                      raw_members=2, raw_frame=5, season=4)
    assert len(net.members) == 4 and net.views == 2 and [net.local(i) % 2 for i in range(4)] == [0, 1, 0, 1]
    for m in net.members:  # every member outputs 0: its own anchor
        torch.nn.init.zeros_(m.head[-1].weight)
        torch.nn.init.zeros_(m.head[-1].bias)
    with torch.no_grad():
        out = net(batch["x"])
    ok = ~torch.isnan(batch["target"])
    np.testing.assert_allclose(out[0, ..., 0], 0.0)
    # member 2 (raw view, Theta group): the raw series' Theta forecast, in the main frame
    np.testing.assert_allclose(out[2, ..., 0][ok], (batch["target"] - raw_theta["target"])[ok], atol=1e-5)
    # member 3 (raw view, level group): the window's level without the seasonal indices
    np.testing.assert_allclose(out[3, ..., 0][ok], (batch["target"] - raw_level["target"])[ok], atol=1e-5)
    # the raw view reads the values with their seasonality, as a level-anchored raw run would
    x = net._view_inputs(batch["x"], raw=True, level=True)
    np.testing.assert_allclose(x[..., 0], raw_level["x"][..., 0], atol=1e-5)
    assert torch.all(x[..., 2:] == 0)   # nor the seasonal component, nor any Theta feature
    # the main view does not read the raw view's features
    assert torch.all(net._view_inputs(batch["x"], raw=False, level=False)[..., 5:7] == 0)


def test_views_are_combined_each_on_its_own_then_averaged():
    """With the raw view the two views' medians are averaged; the anchor weight and the group
    blend lean the main view on its anchor only."""
    from rnnsuite.plugins.forecast.model import ForecastNet

    raw = torch.randn(10, 4, 3, 5)
    q = _quantiles(raw)
    main, other = q[:5].median(0).values, q[5:].median(0).values
    np.testing.assert_allclose(to_columns(raw, combine="median", views=2), (main + other) / 2, atol=1e-6)
    np.testing.assert_allclose(to_columns(raw, combine="median", views=2, view_share=torch.tensor([0.0])), main,
                               atol=1e-6)
    w = torch.tensor([0.6])
    shrunk = to_columns(raw, combine="median", anchor_weight=w, views=2)
    np.testing.assert_allclose(shrunk[..., 2], (0.6 * main[..., 2] + other[..., 2]) / 2, atol=1e-6)
    offset = torch.randn(4, 3)
    blended = to_columns(raw, combine="median", anchor_weight=w, level_offset=offset,
                         group_blend=torch.tensor([1.0, 0.2, 0.9]), views=2)
    theta, level = q[[0, 2, 4]].median(0).values[..., 2], q[[1, 3]].mean(0)[..., 2]
    expected = ((0.2 * theta + offset + 0.9 * (level - offset)) / 2 + other[..., 2]) / 2
    np.testing.assert_allclose(blended[..., 2], expected, atol=1e-5)
    # five members a view: each view keeps the pattern Theta, level, Theta, ... and its spans
    net = ForecastNet("rnn", 7, 8, 1, input_len=8, horizon=3, members=5, level_frame=3, raw_members=5,
                      raw_frame=5, season=4, level_input_len=4)
    assert [net.local(i) % 2 for i in range(10)] == [0, 1, 0, 1, 0] * 2
    assert [m.input_len for m in net.members] == [8, 4, 8, 4, 8] * 2
    # the raw view's Theta group may read a shorter span than the main view's
    net = ForecastNet("rnn", 7, 8, 1, input_len=8, horizon=3, members=5, level_frame=3, raw_members=5,
                      raw_frame=5, season=4, level_input_len=4, raw_input_len=6)
    assert [m.input_len for m in net.members] == [8, 4, 8, 4, 8, 6, 4, 6, 4, 6]


def test_a_raw_view_runs_blend_sees_the_forecast_to_columns_makes(tmp_path, monkeypatch):
    """Trained on many windows (the raw view on), the hold-out's blend weights are chosen on
    exactly the point forecasts `to_columns` then makes of both views, for any weights: the
    raw view's fixed share folded into the base, checked against to_columns itself."""
    from rnnsuite.core import apply_overrides, default_config, train_run
    from rnnsuite.core.plugins import domain_named
    from rnnsuite.plugins.forecast import model as model_module

    seen = []
    real = model_module.choose_blend
    monkeypatch.setattr(model_module, "choose_blend", lambda *a, **kw: seen.append(a) or real(*a, **kw))
    rng = np.random.default_rng(5)
    t = np.arange(120)
    frames = [pd.DataFrame({"series_id": f"s{i}", "date": pd.date_range("2000-01-01", periods=120, freq="MS"),
                            "value": np.exp(3 + rng.normal(0, 0.01) * t + rng.uniform(0.1, 0.4) * np.sin(2 * np.pi * t / 12)
                                            + rng.normal(0, 0.05, 120))}) for i in range(30)]
    csv = tmp_path / "many.csv"
    pd.concat(frames).to_csv(csv, index=False)
    domain = domain_named("forecast")
    config = apply_overrides(default_config(domain), ["max_steps=4", "hidden_size=8", "threads=1", "ets=false",
                                                      "horizon=6"])
    run = train_run(domain, config, csv, out=tmp_path / "run", show_progress=False)
    model, v = run.model, run.task._valid
    assert run.task.spec.raw and model.views == 2 and len(model.members) == 10
    torch.manual_seed(0)
    with torch.no_grad():  # members far from their anchors, so that every term shows
        for m in model.members:
            m.head[-1].bias.add_(torch.randn_like(m.head[-1].bias) * 0.3)
        raw, offset = model(v["x"]), model.level_offset(v["x"])
        seen.clear()   # (training's validations chose weights too)
        run.task._fit_to_holdout(model, raw)
    assert len(seen) == 2   # the main view alone, then both views half and half
    for share, args in zip((0.0, 0.5), seen):
        median, theta, level, off, base = args[:5]
        kw = {"combine": "median", "views": 2, "view_share": torch.tensor([share])}
        for w in (0.0, 0.3, 1.0):
            q = to_columns(raw, "quantile", anchor_weight=torch.tensor([w]), **kw)
            np.testing.assert_allclose(base + w * median, q[..., 2].double().numpy() + v["base"].double().numpy(),
                                       atol=1e-5)
        for wt, wl in ((0.2, 0.9), (1.0, 0.0)):
            q = to_columns(raw, "quantile", level_offset=offset, group_blend=torch.tensor([1.0, wt, wl]), **kw)
            np.testing.assert_allclose(base + (wt * theta + off + wl * (level - off)) / 2,
                                       q[..., 2].double().numpy() + v["base"].double().numpy(), atol=1e-5)
    # the share kept is the one whose blended forecast scored better on the hold-out
    assert float(model.view_share) in (0.0, 0.5)


# -- the mixed anchor's per-group blend ------------------------------------------------------

def test_group_blend_moves_each_group_towards_its_own_anchor():
    raw = torch.randn(5, 4, 3, 5) * 3
    q = _quantiles(raw)
    offset = torch.randn(4, 3)
    single = to_columns(raw, combine="median", anchor_weight=torch.tensor([0.6]))
    off = to_columns(raw, combine="median", anchor_weight=torch.tensor([0.6]), level_offset=offset,
                     group_blend=torch.tensor([0.0, 0.2, 0.9]))
    np.testing.assert_allclose(off, single)  # g = 0: the single weight alone
    both = to_columns(raw, combine="median", anchor_weight=torch.tensor([0.6]), level_offset=offset,
                      group_blend=torch.tensor([1.0, 0.2, 0.9]))
    theta, level = q[0::2].median(0).values, q[1::2].mean(0)  # 3 members: median; 2: mean
    # by hand: the Theta group at 0.2 of its median, the level group 0.9 of the way from its
    # anchor (offset) to its median, the two averaged
    expected = (0.2 * theta[..., 2] + offset + 0.9 * (level[..., 2] - offset)) / 2
    np.testing.assert_allclose(both[..., 2], expected, atol=1e-5)
    # the bands keep each group's widths, averaged
    np.testing.assert_allclose(both[..., 4] - both[..., 2],
                               ((theta[..., 4] - theta[..., 2]) + (level[..., 4] - level[..., 2])) / 2, atol=1e-5)
    assert torch.all(both[..., 1:] >= both[..., :-1] - 1e-6)


def test_choose_blend_takes_two_weights_only_where_cross_validation_says_so():
    from rnnsuite.plugins.forecast.model import choose_blend

    gen = np.random.default_rng(0)
    B, H = 200, 4
    base = np.zeros((B, H))
    offset = gen.normal(0, 0.3, (B, H))
    truth = gen.normal(0, 0.3, (B, H))
    actual = np.exp(truth)  # the original scale: exp of the normalised values
    inverse = lambda p, rows: np.exp(p)  # noqa: E731
    # the Theta group is right, the level group is its anchor plus noise: the best per-group
    # forecast is (theta + offset) / 2 at w_theta = 1, w_level = 0 ... unless scaled by 2:
    # build theta so that (1 x theta + offset) / 2 = truth, i.e. theta = 2 truth - offset
    theta = 2 * truth - offset
    level = offset + gen.normal(0, 1.0, (B, H))
    median = (theta + level) / 2  # what a single weight can use
    g, w, w_theta, w_level = choose_blend(median, theta, level, offset, base, actual, inverse)
    assert (g, w_theta, w_level) == (1.0, 1.0, 0.0)
    # when the groups say the same, one weight is as good: no second weight
    same = truth * 0.5
    g, w, *_ = choose_blend(same, same, same + 0 * offset, 0 * offset, base, actual, inverse)
    assert g == 0.0 and w == 1.0
    # a hold-out of fewer series than two folds: never two weights
    g, *_ = choose_blend(median[:3], theta[:3], level[:3], offset[:3], base[:3], actual[:3], inverse)
    assert g == 0.0


def test_mixed_runs_saved_without_group_blend_still_load():
    net = ForecastNet("rnn", 5, 8, 1, input_len=6, horizon=2, members=3, level_frame=3)
    state = {k: v for k, v in net.state_dict().items() if k != "group_blend"}
    fresh = ForecastNet("rnn", 5, 8, 1, input_len=6, horizon=2, members=3, level_frame=3)
    fresh.group_blend.fill_(7.0)
    fresh.load_state_dict(state)
    assert fresh.group_blend.tolist() == [0.0, 1.0, 1.0]


def test_mixed_level_members_do_not_read_the_theta_features():
    torch.manual_seed(0)
    net = ForecastNet("rnn", 6, 8, 1, input_len=6, horizon=2, members=4, level_frame=3)
    x = torch.randn(6, 5, 6)
    moved = x.clone()
    moved[..., 3:5] += torch.randn(6, 5, 2)  # only the Theta features (start, drift) change
    with torch.no_grad():
        raw, raw_moved = net(x), net(moved)
        shift, shift_moved = net.level_offset(x), net.level_offset(moved)
    # the Theta group reads them
    assert not torch.allclose(raw[0], raw_moved[0]) and not torch.allclose(raw[2], raw_moved[2])
    # the level group does not: its own outputs are the same, only moved into the other frame
    for k in (1, 3):
        np.testing.assert_allclose(raw[k, ..., 0] - shift, raw_moved[k, ..., 0] - shift_moved, atol=1e-5)
        np.testing.assert_allclose(raw[k, ..., 1:], raw_moved[k, ..., 1:], atol=1e-6)
    # the same as handing the member its inputs with those columns zeroed
    zeroed = x.clone()
    zeroed[..., 3:5] = 0
    with torch.no_grad():
        np.testing.assert_allclose(raw[1, ..., 1:], net.members[1](zeroed)[..., 1:], atol=1e-6)


def test_a_part_of_the_members_is_their_share_of_the_whole_forward():
    torch.manual_seed(2)
    for level_frame in (None, 3):
        net = ForecastNet("rnn", 6, 8, 1, input_len=6, horizon=2, members=5, level_frame=level_frame)
        x = torch.randn(6, 4, 6)
        with torch.no_grad():
            whole = net(x)
            for k, n in ((0, 2), (1, 2), (2, 3)):
                np.testing.assert_allclose(net(x, part=(k, n)), whole[k::n], atol=1e-6)


def test_mixed_runs_saved_before_level_inputs_forecast_as_trained():
    torch.manual_seed(1)
    net = ForecastNet("rnn", 6, 8, 1, input_len=6, horizon=2, members=3, level_frame=3)
    state = {k: v for k, v in net.state_dict().items() if k != "level_reads_theta"}
    old = ForecastNet("rnn", 6, 8, 1, input_len=6, horizon=2, members=3, level_frame=3)
    old.load_state_dict(state)
    assert old.level_reads_theta.item() == 1.0 and net.level_reads_theta.item() == 0.0
    x = torch.randn(6, 4, 6)
    with torch.no_grad():  # its level member reads every input, as before
        np.testing.assert_allclose(old(x)[1, ..., 1:], old.members[1](x)[..., 1:], atol=1e-6)


def test_windows_of_a_file_shorter_than_one_window_are_none():
    # a run resumed on a file shorter than its window (deseasonalised: the seasonal buffer too)
    t = np.arange(12)
    data = make_data(np.exp(1 + 0.3 * np.sin(2 * np.pi * t / 4)))
    spec = WindowSpec(input_size=36, horizon=18, season=4, anchor="mixed", deseasonalize=True)
    assert len(TrainingWindows(data, Scaler.fit(data), spec, {"s0": 12})) == 0


def test_the_level_group_reads_the_last_part_of_the_window_only():
    torch.manual_seed(3)
    net = ForecastNet("rnn", 6, 8, 1, input_len=10, horizon=2, members=4, level_frame=3, level_input_len=4)
    assert [m.input_len for m in net.members] == [10, 4, 10, 4]
    x = torch.randn(10, 3, 6)
    early = x.clone()
    early[:6, :, :3] += torch.randn(6, 3, 3)  # values of the first six steps only
    with torch.no_grad():
        raw, raw_early = net(x), net(early)
    assert not torch.allclose(raw[0], raw_early[0])  # the Theta group reads all ten steps
    np.testing.assert_allclose(raw[1], raw_early[1], atol=1e-6)  # the level group the last four
    np.testing.assert_allclose(raw[3], raw_early[3], atol=1e-6)


@pytest.mark.parametrize("share,L,season,expected", [(0.5, 36, 12, 18), (0.5, 16, 4, 8), (0.5, 9, 1, 8),
                                                     (0.5, 6, 1, 6), (0.25, 36, 12, 12), (1.0, 36, 12, 36)])
def test_level_window_share_with_its_floors(share, L, season, expected):
    from rnnsuite.plugins.forecast.task import ForecastTask

    task = ForecastTask.__new__(ForecastTask)
    task.spec = WindowSpec(input_size=L, horizon=4, season=season, anchor="mixed")
    assert task.member_span(share) == expected


@pytest.mark.parametrize("key", ["level_window", "raw_window"])
def test_runs_saved_before_a_member_span_read_the_whole_window(key):
    from rnnsuite.core.config import complete_config
    from rnnsuite.plugins.forecast.domain import ForecastDomain

    domain = ForecastDomain()
    saved = domain.config_defaults()
    del saved["model"][key]
    assert complete_config(saved, domain)["model"][key] == 1.0


def test_a_raw_view_run_builds_its_theta_group_on_the_raw_window_share():
    from rnnsuite.core.config import complete_config
    from rnnsuite.plugins.forecast.domain import ForecastDomain
    from rnnsuite.plugins.forecast.task import ForecastTask

    domain = ForecastDomain()
    task = ForecastTask.__new__(ForecastTask)
    task.config = complete_config(domain.config_defaults(), domain)
    task.config["model"]["raw_window"] = 0.75
    task.spec = WindowSpec(input_size=16, horizon=8, season=4, anchor="mixed", deseasonalize=True, raw_view=True)
    task.num_calendar, task.covariate_names = 0, []
    net = task.build_model()
    assert [m.input_len for m in net.members] == [16, 8, 16, 8, 16, 12, 8, 12, 8, 12]


def test_series_shorter_than_the_window_train_on_windows_padded_in_front():
    # s0 has whole windows; s1 (6 points < input 8 + 1) is padded down to shortest = 4 points
    data = make_data(np.arange(1.0, 21.0), np.arange(101.0, 107.0))
    scaler = Scaler(log=False, scales={"s0": 1.0, "s1": 1.0})
    spec = WindowSpec(input_size=8, horizon=2, season=1, min_input=4)
    assert spec.shortest == 4
    w = TrainingWindows(data, scaler, spec, ends={"s0": 20, "s1": 6})
    assert len(w) == (20 - 8) + (6 - 4)  # s1: inputs of 4 and 5 real points
    assert w.series_of.tolist() == [0] * 12 + [1] * 2
    batch = w.batch(torch.tensor([12, 13]))
    x, target = batch["x"], batch["target"]  # x (L, B, F): value, missing flag
    np.testing.assert_array_equal(x[:, 0, 1], [1, 1, 1, 1, 0, 0, 0, 0])  # 4 padded, 101..104 real
    np.testing.assert_allclose(x[:, 0, 0], [0, 0, 0, 0, -3, -2, -1, 0])  # level = last value 104
    np.testing.assert_allclose(target[0], [1, 2])  # 105, 106
    np.testing.assert_array_equal(x[:, 1, 1], [1, 1, 1, 0, 0, 0, 0, 0])
    assert target[1, 0] == 1 and torch.isnan(target[1, 1])  # 106, then past the end
    # without min_input (runs saved before it): no padding, the short series has no window
    old = WindowSpec(input_size=8, horizon=2, season=1)
    assert old.shortest == 8 and len(TrainingWindows(data, scaler, old, ends={"s0": 20, "s1": 6})) == 12


def test_a_short_history_is_forecast_from_the_window_it_was_trained_on():
    from rnnsuite.plugins.forecast.windows import history_window, stacked_inputs

    rng = np.random.default_rng(4)
    t = np.arange(7)
    values = np.exp(2 + 0.05 * t + rng.normal(0, 0.05, 7))
    data = make_data(values)
    spec = WindowSpec(input_size=12, horizon=3, season=4, anchor="mixed", deseasonalize=True, min_input=4)
    scaler = Scaler(log=True, scales={"s0": 1.0})
    w = TrainingWindows(data, scaler, spec, ends={"s0": 7})
    assert len(w) == 3  # inputs of 4, 5 and 6 real points
    # the window a forecast from point 6 reads is the training window whose last input is point 5
    window = history_window(data.series[0], 6, scaler, spec, None)
    assert np.isnan(window["u"][:6]).all() and np.allclose(window["u"][6:], np.log(values[:6]))
    x, _ = stacked_inputs([window], spec, torch.float32)
    np.testing.assert_allclose(x, w.batch(torch.tensor([2]))["x"], atol=1e-6)
    # shorter than `shortest` (one season here): no window; at least one season is always read
    assert len(TrainingWindows(make_data(values[:4]), scaler, spec, ends={"s0": 4})) == 0
    assert WindowSpec(input_size=12, horizon=3, season=6, min_input=4).shortest == 6


def test_series_with_few_whole_windows_also_train_on_windows_that_start_before_them():
    # input 8: s0 (20 points, 12 whole windows) is not padded; s1 (12 points, 4 whole windows,
    # fewer than pad_below = 8) also gets the windows of 4-7 real points in front of them
    data = make_data(np.arange(1.0, 21.0), np.arange(101.0, 113.0))
    scaler = Scaler(log=False, scales={"s0": 1.0, "s1": 1.0})
    spec = WindowSpec(input_size=8, horizon=2, season=1, min_input=4, pad_below=8)
    w = TrainingWindows(data, scaler, spec, ends={"s0": 20, "s1": 12})
    assert len(w) == (20 - 8) + (12 - 4)
    assert w.series_of.tolist() == [0] * 12 + [1] * 8
    x, target = (w.batch(torch.arange(12, 20))[k] for k in ("x", "target"))
    np.testing.assert_array_equal(x[:, :, 1].sum(0), [4, 3, 2, 1, 0, 0, 0, 0])  # padded points
    np.testing.assert_allclose(x[:, 0, 0], [0, 0, 0, 0, -3, -2, -1, 0])  # 101..104, level 104
    np.testing.assert_allclose(target[0], [1, 2])  # 105, 106
    np.testing.assert_allclose(x[:, 4, 0], np.arange(-7.0, 1.0))  # the first whole window
    # the first whole window is the same with or without the padded ones
    plain = TrainingWindows(data, scaler, WindowSpec(input_size=8, horizon=2, season=1, min_input=4),
                            ends={"s0": 20, "s1": 12})
    assert len(plain) == 12 + 4  # pad_below 1 (runs saved before it): whole windows only
    np.testing.assert_allclose(plain.batch(torch.tensor([12]))["x"], w.batch(torch.tensor([16]))["x"])
    # a series with pad_below whole windows or more is not padded
    assert len(TrainingWindows(data, scaler, WindowSpec(input_size=8, horizon=2, season=1, min_input=4, pad_below=4),
                               ends={"s0": 20, "s1": 12})) == 12 + 4



def test_pad_below_defaults_to_the_input_window_and_runs_saved_before_keep_their_windows():
    from rnnsuite.plugins.forecast.task import ForecastTask, choose_sizes

    cfg = {"horizon": 2, "season": 1, "input_size": 6, "anchor": "level", "deseasonalize": False}
    data = make_data(np.arange(1.0, 21.0))
    assert choose_sizes(data, cfg).pad_below == 6
    assert choose_sizes(data, {**cfg, "pad_below": 1}).pad_below == 1
    task = ForecastTask.__new__(ForecastTask)
    task.spec, task.freq, task.step = choose_sizes(data, cfg), None, 1
    task.scaler, task.num_calendar, task.covariate_names = Scaler(log=False, scales={}), 0, []
    assert task.state_dict()["spec"]["pad_below"] == 6
    saved = dict(task.state_dict()["spec"])
    del saved["pad_below"]  # a run saved before pad_below: only series without a whole window
    assert WindowSpec(**saved).pad_below == 1


def test_training_processes_share_the_members_at_about_equal_cost():
    # mixed: the level group (odd members) reads 4 of the 10 steps
    net = ForecastNet("rnn", 6, 8, 1, input_len=10, horizon=2, members=5, level_frame=3, level_input_len=4)
    assert net.share(0, 1) == [0, 1, 2, 3, 4]
    shares = [net.share(k, 2) for k in range(2)]
    assert shares == [[0, 4], [1, 2, 3]]  # 10 + 10 = 20 steps against 4 + 10 + 4 = 18
    assert sorted(sum(shares, [])) == [0, 1, 2, 3, 4]
    shares = [net.share(k, 3) for k in range(3)]
    assert sorted(sum(shares, [])) == [0, 1, 2, 3, 4] and all(shares)
    equal = ForecastNet("rnn", 6, 8, 1, input_len=10, horizon=2, members=4)
    assert [equal.share(k, 2) for k in range(2)] == [[0, 2], [1, 3]]


def test_histories_without_negative_values_get_no_forecast_below_zero():
    """Counts with zeros: the seasonal-naive fallback's bands (hand-computed: repeat the last
    season, sigma from the seasonal differences) end at zero instead of below it; a history with
    one negative value keeps them."""
    from rnnsuite.plugins.forecast.baselines import seasonal_naive
    from rnnsuite.plugins.forecast.forecaster import COLUMNS, forecast

    counts = np.array([0.0, 4, 0, 0, 6, 0, 0, 5, 1, 0, 7, 0])
    signed = counts.copy()
    signed[2] = -1.0
    data = ForecastData(path="x.csv", series=[], freq=None)
    histories = [Series(name, pd.Index(np.arange(12)), v) for name, v in (("counts", counts), ("signed", signed))]
    out = forecast(None, "quantile", histories, data, None, WindowSpec(6, 6, 3), 6, warn=False)
    for history, result in zip((counts, signed), out):
        expected = seasonal_naive(history, 6, 3)
        assert result["method"] == "seasonal_naive"
        assert min(expected["lo95"]) < 0
        for k in COLUMNS:
            want = np.maximum(expected[k], 0) if history is counts else expected[k]
            np.testing.assert_allclose(result[k], want)


def test_small_data_trains_under_the_small_data_cap_and_the_run_records_it(tmp_path, monkeypatch):
    import json

    import rnnsuite.plugins.forecast.task as task_module
    from rnnsuite.core import apply_overrides, default_config, train_run
    from rnnsuite.core.plugins import domain_named

    rng = np.random.default_rng(2)
    frames = [pd.DataFrame({"series_id": f"s{i}", "date": pd.date_range("2000-01-01", periods=60, freq="MS"),
                            "value": 100 + rng.normal(0, 1, 60).cumsum()}) for i in range(4)]
    csv = tmp_path / "small.csv"
    pd.concat(frames).to_csv(csv, index=False)
    domain = domain_named("forecast")

    def cap(*overrides):
        config = apply_overrides(default_config(domain), ["threads=1", "ets=false", *overrides])
        task_module.ForecastTask(config, csv, None)
        return config["train"]["max_steps"]

    defaults = default_config(domain)["train"]
    assert defaults["max_steps"] > defaults["small_data_steps"] > 0
    assert cap() == defaults["small_data_steps"]
    # what a user sets below the small-data cap, no cap at all, or the rule switched off stays
    assert cap("max_steps=100") == 100
    assert cap("max_steps=0") == 0
    assert cap("small_data_steps=0") == defaults["max_steps"]
    # enough windows: the full cap
    monkeypatch.setattr(task_module, "LARGE_DATA_WINDOWS", 1)
    assert cap() == defaults["max_steps"]
    monkeypatch.undo()
    # the run's schedule spans the lowered cap, and its saved config holds it (for a resume)
    config = apply_overrides(default_config(domain), ["threads=1", "ets=false", "hidden_size=8", "epochs=200",
                                                      "max_steps=500", "small_data_steps=7"])
    run = train_run(domain, config, csv, out=tmp_path / "run", show_progress=False)
    assert run.summary["steps"] == 7
    assert json.loads((tmp_path / "run" / "config.json").read_text())["config"]["train"]["max_steps"] == 7
