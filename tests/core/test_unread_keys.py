"""A core key that only the Task can act on (TASK_KEYS), set by the user and never read during
the run, gets one warning when training ends; keys the task reads, none."""

import json

from click.testing import CliRunner
from rnnsuite.apps.cli import cli
from rnnsuite.core.config import ReadLog, reads_paused, track_reads, unread_task_keys

TINY = ["--max-steps", "2", "--set", "threads=1"]


def test_reads_are_noted_and_bulk_access_counts_as_reading_everything():
    config = {"model": {"hidden_size": 8, "bidirectional": False}, "train": {"bptt": 4}, "data": {}}
    track_reads(config)
    assert isinstance(config["model"], ReadLog)
    config["model"]["hidden_size"]
    keys = ["model.hidden_size", "model.bidirectional", "train.bptt"]
    assert unread_task_keys(config, keys) == ["model.bidirectional", "train.bptt"]
    with reads_paused(config):
        json.dumps(config)                         # writing config.json reads nothing
    assert unread_task_keys(config, keys) == ["model.bidirectional", "train.bptt"]
    dict(config["train"])                          # a copy may be read later: counts as read
    assert unread_task_keys(config, keys) == ["model.bidirectional"]
    assert unread_task_keys(config, ["data.window", "train.lr"]) == []   # not task keys


def test_a_key_the_domain_never_reads_is_one_warning(tmp_path):
    result = CliRunner().invoke(cli, ["forecast", "train", "examples/sales.csv", "--out", str(tmp_path / "f"),
                                      *TINY, "--set", "hidden_size=8", "--set", "bptt=10",
                                      "--set", "bidirectional=true"])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning: ")]
    assert warnings == [
        "Warning: train.bptt=10 was set, but the forecast domain never read it: it had no effect",
        "Warning: model.bidirectional=true was set, but the forecast domain never read it: it had no effect"]


def test_keys_the_task_reads_give_no_warning(tmp_path):
    result = CliRunner().invoke(cli, ["nlp", "train", "examples/text", "--out", str(tmp_path / "n"), *TINY,
                                      "--set", "hidden_size=16", "--set", "bptt=10", "--set", "batch_size=4",
                                      "--set", "weight_drop=0.1"])
    assert result.exit_code == 0, result.output
    assert "never read" not in result.stderr
