"""The forecast verbs through the real CLI: predict, train, evaluate, and their errors."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from rnnsuite.apps.cli import cli

SALES = Path(__file__).resolve().parents[3] / "examples" / "sales.csv"
TINY = ["--max-steps", "3", "--set", "hidden_size=8", "--set", "threads=1"]
METRIC_KEYS = {"smape", "mase", "mae", "rmse", "coverage80", "coverage95", "pinball"}


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def check_forecast_csv(path, n_series, horizon):
    table = pd.read_csv(path)
    assert list(table.columns) == ["series_id", "date", "mean", "lo80", "hi80", "lo95", "hi95"]
    assert len(table) == n_series * horizon
    v = table[["lo95", "lo80", "mean", "hi80", "hi95"]].to_numpy()
    assert np.all(np.diff(v, axis=1) >= 0), "intervals must be ordered lo95 <= lo80 <= mean <= hi80 <= hi95"
    return table


def test_predict_sales_writes_ordered_csv_and_png_by_default(in_tmp):
    result = invoke("forecast", "predict", SALES, *TINY)
    assert result.exit_code == 0, result.output
    table = check_forecast_csv(in_tmp / "sales-forecast.csv", n_series=5, horizon=18)
    assert table["date"].iloc[0] == "1994-03-01" and table["series_id"].iloc[0] == "cars_retail_total"
    assert (in_tmp / "sales-forecast.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "lo80" in result.stdout and "cars_retail_total" in result.stdout


def test_predict_out_only_writes_the_csv(in_tmp):
    result = invoke("forecast", "predict", SALES, *TINY, "--horizon", "4", "--out", "sub/f.csv")
    assert result.exit_code == 0, result.output
    check_forecast_csv(in_tmp / "sub" / "f.csv", 5, 4)
    assert not list(in_tmp.glob("*.png"))


def test_predict_integer_steps_covariates_gaussian_and_short_series_fall_back(in_tmp):
    rng = np.random.default_rng(0)
    rows = [f"a,{t},{10 + np.sin(t / 2) + rng.normal(0, 0.1):.3f},{t % 3}" for t in range(60)]
    rows += [f"short,{t},{5 + t},0" for t in range(5)]
    Path("long.csv").write_text("series_id,step,value,promo\n" + "\n".join(rows) + "\n")
    result = invoke("forecast", "predict", "long.csv", *TINY, "--set", "loss=gaussian", "--horizon", "6",
                    "--json", "--no-files")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert len(doc["forecast"]) == 12 and doc["files"] == []
    for r in doc["forecast"]:
        assert r["lo95"] <= r["lo80"] <= r["mean"] <= r["hi80"] <= r["hi95"]
    assert [r["date"] for r in doc["forecast"] if r["series_id"] == "short"] == ["5", "6", "7", "8", "9", "10"]
    assert "shorter than the model needs" in result.stderr
    assert doc["methods"] == {"model": 1, "seasonal_naive": 1, "constant": 0}
    assert doc["fallbacks"] == [{"series_id": "short", "method": "seasonal_naive",
                                 "reason": doc["fallbacks"][0]["reason"]}]
    assert doc["fallbacks"][0]["reason"].startswith("shorter than the model needs (5 < ")


def test_predict_masked_gaps_and_constant_series(in_tmp):
    dates = pd.date_range("2020-01-01", periods=40, freq="D")
    wave = 20 + 5 * np.sin(np.arange(40) * 2 * np.pi / 7)
    wave[[10, 11, 25]] = np.nan
    frame = pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "wave": wave, "flat": 3.0})
    frame.to_csv("gaps.csv", index=False)
    result = invoke("forecast", "predict", "gaps.csv", *TINY, "--fill", "mask", "--horizon", "5", "--out", "f.csv")
    assert result.exit_code == 0, result.output
    assert "left missing and masked" in result.stderr and "'flat': constant" in result.stderr
    table = check_forecast_csv("f.csv", 2, 5)
    assert np.isfinite(table[["mean", "lo95", "hi95"]].to_numpy()).all()
    flat = table[table["series_id"] == "flat"]
    assert (flat[["mean", "lo80", "hi80", "lo95", "hi95"]].to_numpy() == 3.0).all()
    assert table["date"].iloc[0] == "2020-02-10"


def test_predict_too_short_for_any_model_falls_back(in_tmp):
    Path("tiny.csv").write_text("month,v\n2020-01,5\n2020-02,6\n2020-03,7\n")
    result = invoke("forecast", "predict", "tiny.csv", "--no-files", "--horizon", "2")
    assert result.exit_code == 0, result.output
    assert "seasonal-naive forecast for every series" in result.stderr
    assert "2020-04-01" in result.stdout
    doc = json.loads(invoke("forecast", "predict", "tiny.csv", "--no-files", "--horizon", "2", "--json").stdout)
    assert doc["methods"] == {"model": 0, "seasonal_naive": 1, "constant": 0}
    assert doc["fallbacks"] == [{"series_id": "v", "method": "seasonal_naive", "reason": "no model could be trained"}]


def test_predict_json_counts_constant_series(in_tmp):
    dates = pd.date_range("2020-01-01", periods=40, freq="D")
    pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "wave": 20 + np.sin(np.arange(40)), "flat": 3.0}).to_csv(
        "c.csv", index=False)
    doc = json.loads(invoke("forecast", "predict", "c.csv", *TINY, "--no-files", "--json").stdout)
    assert doc["methods"] == {"model": 1, "seasonal_naive": 0, "constant": 1}
    assert doc["fallbacks"] == [{"series_id": "flat", "method": "constant", "reason": "constant history"}]


def test_train_then_evaluate_json_has_model_and_baselines(in_tmp):
    result = invoke("forecast", "train", SALES, "--out", "run", *TINY)
    assert result.exit_code == 0, result.output
    saved = json.loads((in_tmp / "run" / "config.json").read_text())
    assert set(saved["task_state"]["scaler"]["scales"]) == {"cars_retail_total", "cars_retail_domestic",
                                                            "cars_retail_imports", "trucks_retail_total", "gas_ranges"}
    result = invoke("forecast", "evaluate", "run", SALES, "--json", "--folds", "2")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert METRIC_KEYS <= set(metrics)
    assert set(metrics["baselines"]) == {"naive", "seasonal_naive"}
    for name in ("naive", "seasonal_naive"):
        assert set(metrics["baselines"][name]) == METRIC_KEYS
    assert metrics["windows"] == 10 and metrics["folds"] == 2
    # predict with the trained run
    result = invoke("forecast", "predict", SALES, "--model", "run", "--out", "g.csv")
    assert result.exit_code == 0, result.output
    check_forecast_csv(in_tmp / "g.csv", 5, 18)


def test_evaluate_seasonal_naive_baseline_matches_hand(in_tmp):
    invoke("forecast", "train", SALES, "--out", "run", *TINY)
    metrics = json.loads(invoke("forecast", "evaluate", "run", SALES, "--json").stdout)
    frame = pd.read_csv(SALES)
    errors = []
    for col in frame.columns[1:]:
        y = frame[col].to_numpy(float)
        hist, actual = y[:-18], y[-18:]
        fc = np.concatenate([hist[-12:], hist[-12:-6]])  # last season, repeated
        errors.append(np.abs(actual - fc))
    assert metrics["baselines"]["seasonal_naive"]["mae"] == pytest.approx(np.mean(errors))


@pytest.mark.parametrize(
    "args, message",
    [
        (["forecast", "predict", "missing.csv"], "missing.csv: no such file"),
        (["forecast", "predict", "bad.csv", "--max-steps", "1"], "bad.csv: column 'v', row 3: 'x' is not a number"),
        (["forecast", "predict", "bad.csv", "--model", "nowhere"], "nowhere: run folder not found"),
        (["forecast", "predict", "ok.csv", "--freq", "fortnight"], "'fortnight' is not a pandas frequency"),
        (["forecast", "predict", "ok.csv", "--horizon", "0"], "--horizon must be at least 1"),
    ],
)
def test_bad_input_exits_2_with_one_error_line(in_tmp, args, message):
    Path("bad.csv").write_text("date,v\n2020-01-01,1\n2020-02-01,x\n")
    Path("ok.csv").write_text("date,v\n2020-01-01,1\n2020-02-01,2\n2020-03-01,3\n")
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not Path("bad-forecast.csv").exists()


def test_plugin_import_stays_light():
    import subprocess
    import sys

    code = ("import sys, rnnsuite.plugins.forecast, rnnsuite.plugins.forecast.domain as d; d.ForecastDomain().cli_options('train'); "
            "heavy = [m for m in ('torch', 'pandas', 'matplotlib') if m in sys.modules]; assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_train_resume_continues(in_tmp):
    assert invoke("forecast", "train", SALES, "--out", "run", "--max-steps", "2", "--set", "hidden_size=8").exit_code == 0
    result = invoke("forecast", "train", SALES, "--out", "run", "--resume", "--max-steps", "4")
    assert result.exit_code == 0, result.output
    steps = pd.read_csv(in_tmp / "run" / "metrics.csv")["step"]
    assert steps.max() == 4


def test_calibration_belongs_to_the_saved_weights_with_ema_on(tmp_path):
    """The blend weight and the interval calibration are fitted on the weights the run keeps
    (the averaged ones under train.ema), not lost because validation ran on swapped weights."""
    import torch
    from rnnsuite.core import apply_overrides, default_config, load_weights, train_run
    from rnnsuite.core.plugins import domain_named

    domain = domain_named("forecast")
    config = apply_overrides(default_config(domain), ["max_steps=6", "hidden_size=8", "threads=1",
                                                      "ema=0.9", "eval_every=3", "blend=true"])
    run = train_run(domain, config, SALES, out=tmp_path / "run", show_progress=False)
    saved, _ = load_weights(tmp_path / "run" / "model.safetensors")
    model = run.task.build_model()
    model.load_state_dict(saved)
    model.anchor_weight.fill_(1.0)
    model.interval_scale.fill_(1.0)
    with torch.no_grad():
        run.task.finalize(model.eval())
    assert float(model.anchor_weight) != 1.0     # fitted: the test can tell fitted from not
    torch.testing.assert_close(saved["anchor_weight"], model.anchor_weight)
    torch.testing.assert_close(saved["interval_scale"], model.interval_scale)


def test_two_torchrun_processes_split_the_members_and_train_what_one_process_trains(tmp_path, same_training):
    """Under torchrun each process trains every other ensemble member on every batch: the run
    folder holds the same weights as one process's, and one report line, not one per process."""
    import os
    import subprocess
    import sys

    args = ["forecast", "train", str(SALES), "--max-steps", "12", "--set", "train.log_every=4"]
    # TMPDIR: torchrun's agent leaves a torchelastic_* folder in the temporary directory
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RNNSUITE_PROGRESS": "0", "TMPDIR": str(tmp_path)}
    one = subprocess.run([sys.executable, "-m", "rnnsuite.apps.cli", *args, "--out", str(tmp_path / "one")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "-m", "rnnsuite.apps.cli", *args, "--out", str(tmp_path / "two")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stderr.count("Done: 12 steps") == 1
    # the same weights, and the logged training loss is the whole ensemble's, as in one process
    same_training(tmp_path / "one", tmp_path / "two")


def test_more_torchrun_processes_than_members_is_a_user_error(monkeypatch):
    import rnnsuite.core as core
    import torch
    from rnnsuite.core import UserError
    from rnnsuite.plugins.forecast.task import ForecastTask

    task = ForecastTask.__new__(ForecastTask)
    task.config = {"model": {"loss": "quantile"}}
    model = type("Net", (), {"members": [0, 1, 2]})()
    monkeypatch.setattr(core, "rank_part", lambda: (3, 4))
    with pytest.raises(UserError, match="4 torchrun processes for 3 ensemble members"):
        task.training_step(model, {"x": torch.zeros(1), "target": torch.zeros(1)}, None)
