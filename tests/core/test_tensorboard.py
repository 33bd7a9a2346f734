"""train.logger=tensorboard: RUN/tensorboard/ holds the scalars, the gradient-norm figure and
the task's media, read back with TensorBoard's EventAccumulator."""

import pytest
from click.testing import CliRunner
from rnnsuite.apps.cli import cli

pytest.importorskip("tensorboard")


def events(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"images": 0, "audio": 0, "scalars": 0, "tensors": 0})
    acc.Reload()
    return acc.Tags()


def test_music_run_logs_scalars_an_image_and_an_audio_clip(tmp_path):
    run = tmp_path / "run"
    result = CliRunner().invoke(cli, ["music", "train", "examples/midi", "--out", str(run),
                                      "--max-steps", "4", "--set", "eval_every=2",
                                      "--set", "hidden_size=16", "--set", "logger=tensorboard",
                                      "--set", "grad_norms=true", "--set", "threads=1"])
    assert result.exit_code == 0, result.output
    tags = events(run / "tensorboard")
    assert {"valid/nll", "valid/loss", "train/loss", "train/lr"} <= set(tags["scalars"])
    assert "samples/pianoroll" in tags["images"] and "diagnostics/grad_norm_by_time_step" in tags["images"]
    assert "samples/audio" in tags["audio"]


def test_nlp_run_logs_a_text_sample(tmp_path):
    run = tmp_path / "run"
    result = CliRunner().invoke(cli, ["nlp", "train", "examples/text", "--out", str(run),
                                      "--max-steps", "2", "--set", "hidden_size=16",
                                      "--set", "logger=tensorboard", "--set", "threads=1"])
    assert result.exit_code == 0, result.output
    tags = events(run / "tensorboard")
    assert "samples/text/text_summary" in tags["tensors"] and "valid/loss" in tags["scalars"]


def test_without_tensorboard_the_logger_is_one_error_line(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tensorboard", None)
    result = CliRunner().invoke(cli, ["digits", "train", "--out", str(tmp_path / "run"),
                                      "--set", "logger=tensorboard"])
    assert result.exit_code == 2 and not (tmp_path / "run").exists()
    assert result.stderr.strip() == ("Error: logger=tensorboard needs TensorBoard: "
                                     "pip install 'rnnsuite[tensorboard]'")


def test_forecast_run_logs_its_forecast_plot(tmp_path):
    run = tmp_path / "run"
    result = CliRunner().invoke(cli, ["forecast", "train", "examples/sales.csv", "--out", str(run),
                                      "--max-steps", "4", "--set", "eval_every=2", "--set", "hidden_size=8",
                                      "--set", "logger=tensorboard", "--set", "threads=1"])
    assert result.exit_code == 0, result.output
    tags = events(run / "tensorboard")
    assert "samples/forecast" in tags["images"] and "valid/smape" in tags["scalars"]


def test_speech_run_logs_a_clip_and_its_transcript(tmp_path):
    run = tmp_path / "run"
    result = CliRunner().invoke(cli, ["speech", "train", "examples/speech/manifest.csv", "--out", str(run),
                                      "--max-steps", "2", "--set", "hidden_size=16", "--set", "num_layers=1",
                                      "--set", "conv_channels=16", "--set", "valid_fraction=0.5",
                                      "--set", "logger=tensorboard", "--set", "threads=1"])
    assert result.exit_code == 0, result.output
    tags = events(run / "tensorboard")
    assert "samples/audio" in tags["audio"] and "samples/transcript/text_summary" in tags["tensors"]
