"""`rnnsuite <domain> tune`: trials are real runs, the best config is a TOML file that `train
--config` accepts, an interrupted study resumes, and two workers share one SQLite study."""

import json
import os
import subprocess
import sys
import types

import pytest
from click.testing import CliRunner
from rnnsuite.apps.cli import cli

pytest.importorskip("optuna")

# tiny trials: a few steps of a small model on the digits example domain
TINY = ["--set", "max_steps=4", "--set", "epochs=1", "--set", "eval_every=2", "--set", "threads=1"]


def tune(*args):
    return CliRunner().invoke(cli, ["digits", "tune", *map(str, args)])


def test_a_study_writes_trials_best_toml_and_history_and_resumes(tmp_path):
    study = tmp_path / "study"
    result = tune("--trials", 3, "--out", study, "--json", *TINY)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert [t["number"] for t in summary["trials"]] == [0, 1, 2]
    assert all(t["state"] in ("complete", "pruned") for t in summary["trials"])
    best = summary["best"]
    assert best["value"] == max(t["value"] for t in summary["trials"] if t["state"] == "complete")
    for t in summary["trials"]:
        assert (study / "trials" / f"{t['number']:04d}" / "config.json").is_file()
    assert (study / "history.png").is_file() and (study / "study.db").is_file()
    # the best config trains as it is
    run = CliRunner().invoke(cli, ["digits", "train", "--out", str(tmp_path / "best"),
                                   "--config", best["config"], "--max-steps", "2"])
    assert run.exit_code == 0, run.output
    saved = json.loads((tmp_path / "best" / "config.json").read_text())["config"]
    for key, value in best["params"].items():
        section, name = key.split(".")
        assert saved[section][name] == pytest.approx(value) if isinstance(value, float) else saved[section][name] == value
    # an interrupted or finished study resumes: only the missing trials run
    again = tune("--trials", 4, "--out", study, "--json", *TINY)
    assert again.exit_code == 0, again.output
    assert [t["number"] for t in json.loads(again.stdout)["trials"]] == [0, 1, 2, 3]


def test_two_workers_share_one_sqlite_study_without_losing_or_repeating_a_trial(tmp_path):
    study = tmp_path / "study"
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    command = [sys.executable, "-m", "rnnsuite.apps.cli", "digits", "tune", "--trials", "6",
               "--storage", url, "--study", "shared", "--out", str(study), "--json", *TINY]
    env = {**os.environ, "RNNSUITE_PROGRESS": "0"}
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
               for _ in range(2)]
    outputs = [w.communicate(timeout=600) for w in workers]
    for w, (out, err) in zip(workers, outputs):
        assert w.returncode == 0, err
    trials = json.loads(outputs[-1][0])["trials"]
    import optuna

    final = optuna.load_study(study_name="shared", storage=url).get_trials()
    numbers = [t.number for t in final]
    assert len(numbers) == len(set(numbers)) and 6 <= len(numbers) <= 7    # at most one extra
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in final)
    folders = sorted(p.name for p in (study / "trials").iterdir())
    assert folders == [f"{n:04d}" for n in sorted(numbers)]              # each trial ran once
    assert len(trials) >= 6


def test_without_optuna_tune_is_one_error_line_naming_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    result = tune("--trials", 1, "--out", tmp_path / "s", *TINY)
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: tune needs Optuna: pip install 'rnnsuite[tune]'"


def test_the_prune_callback_reports_and_stops_the_run(tmp_path):
    from rnnsuite.core import apply_overrides, default_config, train_run
    from rnnsuite.core.plugins import domain_named
    from rnnsuite.core.tune import PruneTrial

    reported = []
    trial = types.SimpleNamespace(report=lambda value, step: reported.append((step, value)),
                                  should_prune=lambda: len(reported) >= 2)
    domain = domain_named("digits")
    config = apply_overrides(default_config(domain), ["max_steps=20", "eval_every=2", "threads=1",
                                                      "hidden_size=8"])
    prune = PruneTrial(trial, "accuracy")
    run = train_run(domain, config, out=tmp_path / "run", show_progress=False, callbacks=[prune])
    assert prune.pruned and run.summary["stop_reason"] == "pruned"
    assert [step for step, _ in reported] == [2, 4] and run.summary["steps"] == 4
