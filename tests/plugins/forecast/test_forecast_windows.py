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

    cfg = {"horizon": 2, "season": 1, "input_size": 4, "anchor": "auto"}
    assert choose_sizes(make_data(np.arange(50.0)), cfg).anchor == "seasonal_naive"
    many = make_data(*[np.arange(1.0, 7 + SMALL_DATA_WINDOWS // 10) for _ in range(10)])
    assert choose_sizes(many, cfg).anchor == "level"


def test_calibrate_is_split_conformal_and_only_widens():
    from rnnsuite.plugins.forecast.model import calibrate

    # median 0, bands +-1 (80%) and +-2 (95%); targets at distances 0..9 -> ratios d/1 and d/2
    columns = torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0]).expand(1, 10, 5)
    target = torch.arange(10.0)[None] * torch.tensor([1.0, -1.0]).repeat(5)[None]
    c80, c95 = calibrate(columns, target)
    assert c80.item() == pytest.approx(float(np.quantile(np.arange(10.0), 0.8)))
    assert c95.item() == pytest.approx(float(np.quantile(np.arange(10.0) / 2, 0.95)))
    assert calibrate(columns, torch.zeros(1, 10)).tolist() == [1.0, 1.0]  # never narrows
    k = float(np.log(np.e - 1))  # softplus(k) = 1: raw head outputs whose bands are +-1, +-2
    raw = torch.tensor([0.0, k, k, k, k]).expand(1, 1, 1, 5)
    np.testing.assert_allclose(to_columns(raw)[0, 0], [-2, -1, 0, 1, 2], atol=1e-6)
    scaled = to_columns(raw, interval_scale=torch.tensor([3.0, 1.0]))
    np.testing.assert_allclose(scaled[0, 0], [-3, -3, 0, 3, 3], atol=1e-6)  # 95% band kept outside
