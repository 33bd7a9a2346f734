"""Metrics and baselines against numbers worked out by hand."""

import math

import numpy as np
import pytest
from rnnsuite.plugins.forecast.baselines import Z80, Z95, naive, seasonal_naive
from rnnsuite.plugins.forecast.metrics import (
    coverage,
    mae,
    mase,
    mase_scale,
    pinball,
    rmse,
    scaled_pinball,
    smape,
    summarize,
)


def test_smape_m3_definition():
    # 200*|100-110|/(100+110) = 9.5238..., 200*|50-40|/(50+40) = 22.2222...
    assert smape([100, 50], [110, 40]) == pytest.approx((2000 / 210 + 2000 / 90) / 2)
    assert smape([0, 10], [0, 10]) == 0.0  # 0/0 counts as no error
    assert smape([1, np.nan], [2, 5]) == pytest.approx(200 / 3)  # missing actual skipped


def test_mae_rmse():
    assert mae([1, 2, 3], [2, 2, 5]) == pytest.approx(1.0)
    assert rmse([1, 2, 3], [2, 2, 5]) == pytest.approx(math.sqrt(5 / 3))


def test_mase_seasonal_scaling():
    history = [1, 2, 3, 5, 4, 7]  # m = 2: |3-1|, |5-2|, |4-3|, |7-5| -> mean 2
    assert mase_scale(history, 2) == pytest.approx(2.0)
    assert mase([10, 10], [11, 13], history, 2) == pytest.approx(2.0 / 2.0)
    # shorter than a season: falls back to m = 1 (|2-1|, |4-2| -> 1.5)
    assert mase_scale([1, 2, 4], 12) == pytest.approx(1.5)
    assert math.isnan(mase_scale([3, 3, 3], 1))


def test_coverage():
    assert coverage([1, 5, 10, np.nan], [0, 6, 9, 0], [2, 7, 10, 1]) == pytest.approx(2 / 3)


def test_summarize_pools_points_and_averages_mase():
    w1 = {"actual": [10, 12], "history": [8, 9, 10], "mean": [11, 12], "lo80": [9, 11], "hi80": [12, 13],
          "lo95": [8, 10], "hi95": [13, 14]}
    w2 = {"actual": [5], "history": [1, 3], "mean": [7], "lo80": [6], "hi80": [8], "lo95": [4], "hi95": [9]}
    out = summarize([w1, w2], season=1)
    assert out["mae"] == pytest.approx((1 + 0 + 2) / 3)
    assert out["mase"] == pytest.approx((0.5 / 1 + 2 / 2) / 2)
    assert out["coverage80"] == pytest.approx(2 / 3) and out["coverage95"] == pytest.approx(1.0)
    assert set(out) == {"smape", "mase", "mae", "rmse", "coverage80", "coverage95", "pinball"}
    assert out["pinball"] == pytest.approx((scaled_pinball(w1["actual"], w1, w1["history"], 1)
                                            + scaled_pinball(w2["actual"], w2, w2["history"], 1)) / 2)


def test_pinball_by_hand():
    # y = 10; columns lo95 6, lo80 8, mean 11, hi80 12, hi95 15:
    # 0.025*4, 0.1*2, (1-0.5)*1, (1-0.9)*2, (1-0.975)*5 -> 0.1, 0.2, 0.5, 0.2, 0.125
    cols = {"lo95": [6], "lo80": [8], "mean": [11], "hi80": [12], "hi95": [15]}
    assert pinball([10], cols) == pytest.approx((0.1 + 0.2 + 0.5 + 0.2 + 0.125) / 5)
    # a point forecast in every column: the pinball loss is half the absolute error
    point = {k: [3.0, 7.0] for k in cols}
    assert pinball([5, 5], point) == pytest.approx(0.5 * mae([5, 5], [3, 7]))
    assert scaled_pinball([5, 5], point, [1, 3, 5], 1) == pytest.approx(0.5 * 2 / 2)
    assert math.isnan(pinball([np.nan], cols))


def test_naive_forecast_and_intervals():
    fc = naive([1.0, 3.0, 2.0, 4.0], 3)  # one-step residuals 2, -1, 2 -> sigma = sqrt(3)
    np.testing.assert_allclose(fc["mean"], [4, 4, 4])
    sd = math.sqrt(3) * np.sqrt([1, 2, 3])
    np.testing.assert_allclose(fc["hi80"], 4 + Z80 * sd)
    np.testing.assert_allclose(fc["lo95"], 4 - Z95 * sd)


def test_seasonal_naive_repeats_last_season():
    history = [1, 2, 3, 10, 20, 30, 11, 21, 31]  # m = 3
    fc = seasonal_naive(history, 7, 3)
    np.testing.assert_allclose(fc["mean"], [11, 21, 31, 11, 21, 31, 11])
    # seasonal residuals: 9, 18, 27, 1, 1, 1 -> sigma^2 = (81+324+729+3)/6
    sigma = math.sqrt((81 + 324 + 729 + 3) / 6)
    k = np.array([1, 1, 1, 2, 2, 2, 3])
    np.testing.assert_allclose(fc["hi95"] - fc["mean"], Z95 * sigma * np.sqrt(k))
    np.testing.assert_allclose(seasonal_naive([1, 2], 2, 12)["mean"], [2, 2])  # too short: naive
