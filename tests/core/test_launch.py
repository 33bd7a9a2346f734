"""train.processes: the main process starts the other training processes itself (no torchrun)."""

import os
import signal
import sys
from pathlib import Path

import pytest
import torch
from rnnsuite.core import UserError, apply_overrides, default_config, train_run
from rnnsuite.core.callbacks import Callback
from rnnsuite.core.device import DistInfo
from rnnsuite.core.launch import WORKER_ENV, planned_processes

SALES = Path(__file__).resolve().parents[2] / "examples" / "sales.csv"
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for child processes")


def _forecast(*overrides):
    from rnnsuite.core.plugins import domain_named

    domain = domain_named("forecast")
    return domain, apply_overrides(default_config(domain), ["train.max_steps=12", "train.log_every=4", *overrides])


def _children() -> list:
    """Pids of this process's running children (Linux)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            pids.append(int(stat.parent.name))
    return pids


class _AtStep(Callback):
    def __init__(self, step, action):
        self.step, self.action = step, action

    def on_step_end(self, trainer, output):
        if trainer.step == self.step:
            self.action()


def test_a_second_process_started_by_the_run_trains_what_one_process_trains(tmp_path, monkeypatch, same_training):
    monkeypatch.setenv("RNNSUITE_PROGRESS", "0")
    domain, one = _forecast("train.processes=1")
    _, two = _forecast("train.processes=2")
    train_run(domain, one, data=SALES, out=tmp_path / "one", show_progress=False)
    run = train_run(domain, two, data=SALES, out=tmp_path / "two", show_progress=False)
    assert run.summary["steps"] == 12
    same_training(tmp_path / "one", tmp_path / "two")   # weights and logged loss
    # the group is closed and the worker gone: what follows (predict) runs in one process
    assert not torch.distributed.is_initialized()
    assert not _children() if sys.platform.startswith("linux") else True


@linux_only
def test_a_worker_that_stops_fails_the_run_with_its_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNSUITE_PROGRESS", "0")
    domain, cfg = _forecast("train.processes=2", "train.max_steps=200")
    kill = _AtStep(3, lambda: [os.kill(pid, signal.SIGKILL) for pid in _children()])
    with pytest.raises(RuntimeError, match=r"training process 1 of 2 stopped \(exit status -9\)"):
        train_run(domain, cfg, data=SALES, out=tmp_path / "run", callbacks=[kill], show_progress=False)
    assert not torch.distributed.is_initialized()


@linux_only
def test_an_error_in_the_main_process_stops_its_workers(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNSUITE_PROGRESS", "0")
    domain, cfg = _forecast("train.processes=2", "train.max_steps=200")
    seen = []

    def fail():
        seen.extend(_children())
        raise ValueError("stop here")

    with pytest.raises(ValueError, match="stop here"):
        train_run(domain, cfg, data=SALES, out=tmp_path / "run", callbacks=[_AtStep(3, fail)], show_progress=False)
    assert len(seen) == 1       # the worker was running,
    assert not _children()      # and is gone with the run
    assert not torch.distributed.is_initialized()


def test_a_worker_that_cannot_start_fails_the_run_before_training(tmp_path, monkeypatch):
    """The toy domain of the tests is not a plugin, so a worker cannot find it."""
    sys.path.insert(0, str(Path(__file__).parent))
    from test_trainer import ToyDomain, toy_config

    monkeypatch.setenv("RNNSUITE_PROGRESS", "0")
    with pytest.raises(RuntimeError, match=r"training process 1 of 2 stopped \(exit status 1\): .*toy"):
        train_run(ToyDomain(), toy_config("train.processes=2"), out=tmp_path / "run", show_progress=False)
    assert not torch.distributed.is_initialized()


def test_how_many_processes_train(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")

    class Asks:
        def parallel_processes(self, cores):
            return min(cores, 3)

    monkeypatch.delenv(WORKER_ENV, raising=False)
    monkeypatch.setattr("rnnsuite.core.launch.usable_cores", lambda: 2)
    assert planned_processes(object(), {"processes": 0}, cpu, DistInfo()) == 1   # a task that does not ask
    assert planned_processes(Asks(), {"processes": 0}, cpu, DistInfo()) == 2     # auto: as asked, on 2 cores
    assert planned_processes(Asks(), {"processes": 1}, cpu, DistInfo()) == 1     # set: as set
    assert planned_processes(object(), {"processes": 3}, cpu, DistInfo()) == 3
    assert planned_processes(Asks(), {"processes": 0}, cuda, DistInfo()) == 1    # GPUs: torchrun's job
    with pytest.raises(UserError, match="train.processes=2 starts CPU processes"):
        planned_processes(Asks(), {"processes": 2}, cuda, DistInfo())
    assert planned_processes(Asks(), {"processes": 2}, cpu, DistInfo(0, 2, 0)) == 1  # under torchrun
    monkeypatch.setenv(WORKER_ENV, "127.0.0.1:1:1:2")
    assert planned_processes(Asks(), {"processes": 2}, cpu, DistInfo()) == 1     # a worker starts none


def test_the_forecast_task_asks_for_a_process_per_core_once_there_is_enough_data():
    from rnnsuite.plugins.forecast.task import SMALL_DATA_WINDOWS, ForecastTask

    task = ForecastTask.__new__(ForecastTask)
    task.config = {"train": {"threads": 1}, "model": {"members": 5}}
    task.windows = range(SMALL_DATA_WINDOWS - 1)
    assert task.parallel_processes(2) == 1     # small data: not worth a second process
    task.windows = range(SMALL_DATA_WINDOWS)
    assert task.parallel_processes(2) == 2
    assert task.parallel_processes(8) == 5     # at most one per member
    task.config["train"]["threads"] = 2
    assert task.parallel_processes(2) == 1     # the user chose threads instead


def test_the_cli_says_how_many_processes_train_and_reports_once(tmp_path):
    import subprocess

    env = {**os.environ, "RNNSUITE_PROGRESS": "0"}
    result = subprocess.run([sys.executable, "-m", "rnnsuite.apps.cli", "forecast", "train", str(SALES),
                             "--max-steps", "2", "--set", "train.processes=2", "--out", str(tmp_path / "run")],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "(step 0, device cpu, 2 processes)" in result.stderr
    assert result.stderr.count("Done: 2 steps") == 1
