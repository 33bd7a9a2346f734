"""The digits plugin, driven from the CLI exactly as a user would."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from click.testing import CliRunner
from rnnsuite.apps.cli import cli
from rnnsuite.core.checkpoint import load_weights


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.mark.slow
@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
def test_default_recipe_reaches_96_percent_with_every_cell(tmp_path, cell):
    result = invoke("digits", "train", "--out", tmp_path / "run", "--cell", cell)
    assert result.exit_code == 0, result.output
    result = invoke("digits", "evaluate", tmp_path / "run", "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["accuracy"] >= 0.96, metrics
    assert metrics["samples"] == 359


def test_plugin_cell_is_usable_by_name(tmp_path):
    result = invoke("digits", "train", "--out", tmp_path / "run", "--cell", "lnlstm",
                    "--set", "hidden_size=8", "--max-steps", "2")
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["config"]["model"]["cell"] == "lnlstm"
    assert json.loads(invoke("digits", "evaluate", tmp_path / "run", "--json").stdout)["samples"] == 359


def test_digits_takes_no_data_argument(tmp_path):
    result = invoke("digits", "train", tmp_path, "--out", tmp_path / "run")
    assert result.exit_code == 2 and "takes no DATA" in result.stderr


def train_command(out, *extra):
    return [sys.executable, "-m", "rnnsuite.apps.cli", "digits", "train", "--out", str(out), "--cell", "gru",
            "--set", "hidden_size=32", "--epochs", "4", *extra]


def test_kill_9_then_resume_ends_bit_identical(tmp_path):
    env = {**os.environ, "RNNSUITE_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    subprocess.run(train_command(tmp_path / "full"), check=True, env=env, capture_output=True, timeout=600)
    # kill -9 twice at different moments after the first checkpoint exists, resuming each time
    run = tmp_path / "killed"
    proc = subprocess.Popen(train_command(run), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for delay in (0.3, 0.05):
        deadline = time.time() + 300
        state = run / "trainer_state.safetensors"
        start = state.stat().st_mtime if state.exists() else 0
        # (a run that ends before writing another checkpoint ends the wait too)
        while (time.time() < deadline and proc.poll() is None
               and (not state.exists() or state.stat().st_mtime == start)):
            time.sleep(0.02)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc = subprocess.Popen(train_command(run, "--resume"), env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()[-2000:]
    full, _ = load_weights(tmp_path / "full" / "model.safetensors")
    resumed, _ = load_weights(run / "model.safetensors")
    for key in full:
        assert torch.equal(full[key], resumed[key]), key
