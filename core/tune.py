"""Hyper-parameter search with Optuna: `rnnsuite <domain> tune DATA`.

Each trial is a real run (a run folder under the study's `trials/`), scored on the validation
metric the domain already reports (`train.monitor`); trials whose intermediate validation
figures fall behind are pruned (MedianPruner). The study lives in an SQLite file in the study
folder, or in any SQLAlchemy database (`--storage postgresql://...`), so that several machines
can work on one study: start `tune` with the same `--storage` and `--study` on each.

The search space comes from `Domain.search_space(config)` (a documented default around the
domain's own defaults), so a third-party domain gets `tune` for free.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

from rnnsuite.core.callbacks import Callback
from rnnsuite.core.config import SECTIONS, resolve_key, set_value
from rnnsuite.core.errors import UserError

__all__ = ["run_study", "PruneTrial", "optuna_module", "best_config_toml"]


def optuna_module():
    """Optuna, imported on first use; missing, a one-line error naming the extra."""
    try:
        import optuna
    except ImportError:
        raise UserError("tune needs Optuna: pip install 'rnnsuite[tune]'") from None
    import warnings

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message="Heartbeat of storage")
    return optuna


class PruneTrial(Callback):
    """Reports each validation's monitored value to the Optuna trial and stops the run when the
    pruner says the trial is unpromising."""

    def __init__(self, trial, monitor: str):
        self.trial, self.monitor = trial, monitor
        self.pruned = False

    def on_evaluate(self, trainer, metrics) -> None:
        value = trainer.last_metrics.get(self.monitor)
        if value is None or not math.isfinite(float(value)):
            return
        self.trial.report(float(value), trainer.step)
        if self.trial.should_prune():
            self.pruned = True
            trainer.request_stop("pruned")


def _suggest(trial, key: str, spec):
    kind, *args = spec
    if kind == "log":
        return trial.suggest_float(key, args[0], args[1], log=True)
    if kind == "float":
        return trial.suggest_float(key, args[0], args[1])
    if kind == "int":
        return trial.suggest_int(key, args[0], args[1], step=args[2] if len(args) > 2 else 1)
    if kind == "choice":
        return trial.suggest_categorical(key, list(args[0]))
    raise UserError(f"search space: {key}: unknown kind {kind!r} (log, float, int or choice)")


def _as_given(config: dict, space: dict) -> dict:
    """The search-space values of `config` itself, where the space can hold them."""
    given = {}
    for key, spec in space.items():
        section, name = key.split(".", 1)
        value, (kind, *args) = config[section][name], spec
        if kind == "choice" and value in args[0]:
            given[key] = value
        elif kind != "choice" and args[0] <= value <= args[1]:
            given[key] = value
    return given


def _storage(optuna, storage: str | None, folder: Path):
    """The study's storage; workers that start together may race to create a new database's
    tables: the loser opens it again once the winner has."""
    import time

    url = storage or f"sqlite:///{(folder / 'study.db').resolve()}"
    kwargs = {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else {}
    for attempt in range(6):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs, heartbeat_interval=20,
                                              grace_period=60)
        except Exception as exc:  # a bad URL, a missing driver, a refused connection, a race
            reason = " ".join(str(exc).split())
            if attempt < 5 and ("UNIQUE constraint" in reason or "locked" in reason
                                or "already exists" in reason):
                time.sleep(0.5 * (attempt + 1))
                continue
            raise UserError(f"--storage {url}: cannot open ({type(exc).__name__}: {reason[:160]})") from None


def _finished(study, optuna) -> int:
    return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,
                                                        optuna.trial.TrialState.PRUNED)))


def run_study(domain, config: dict, data, folder: Path, trials: int, max_time: float = 0.0,
              storage: str | None = None, study_name: str = "tune", seed: int = 0) -> dict:
    """Run trials until the study holds `trials` finished ones (complete or pruned; a second
    worker may add one more) or `max_time` seconds have passed for this worker; returns the
    summary (`tune --json`). A trial whose worker died is failed after a minute without its
    heartbeat and does not count."""
    from rnnsuite.core.run_lifecycle import train_run

    optuna = optuna_module()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    train = config["train"]
    space = domain.search_space(config)
    for key in space:
        resolve_key(config, key)        # a key the config lacks: a UserError naming it
    study = optuna.create_study(
        study_name=study_name, storage=_storage(optuna, storage, folder), load_if_exists=True,
        direction="minimize" if train["monitor_mode"] == "min" else "maximize",
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=4),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=0))
    if not study.trials:
        # the first trial is the config as given (the domain's defaults, the user's --set):
        # the search starts from the known-good point and can only improve on it
        study.enqueue_trial(_as_given(config, space), skip_if_exists=True)
    failures: list = []

    def objective(trial):
        trial_config = copy.deepcopy(config)
        for key, spec in space.items():
            set_value(trial_config, key, _suggest(trial, key, spec))
        pruner = PruneTrial(trial, train["monitor"])
        try:
            run = train_run(domain, trial_config, data=data, show_progress=False, callbacks=[pruner],
                            out=folder / "trials" / f"{trial.number:04d}")
        except UserError as exc:          # a configuration or data the domain refuses
            failures.append(exc)
            raise
        failures.clear()
        if pruner.pruned:
            raise optuna.TrialPruned()
        best = (run.summary or {}).get("best")
        if best is None or not math.isfinite(best):
            raise UserError(f"trial {trial.number}: no finite validation {train['monitor']}")
        return best

    def enough(study_, _trial):
        if _finished(study_, optuna) >= trials or len(failures) >= 3:
            study_.stop()

    if _finished(study, optuna) < trials:
        study.optimize(objective, timeout=max_time or None, catch=(UserError,), callbacks=[enough],
                       gc_after_trial=False, show_progress_bar=False)
    if len(failures) >= 3:
        raise UserError(f"tune: three trials in a row failed; the last: {failures[-1]}")
    return _summary(study, optuna, domain, config, space, folder)


def _summary(study, optuna, domain, config, space, folder: Path) -> dict:
    rows = []
    for t in study.get_trials(deepcopy=False):
        rows.append({"number": t.number, "state": t.state.name.lower(), "value": t.value,
                     "params": t.params,
                     "run": str(folder / "trials" / f"{t.number:04d}")})
    done = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))]
    summary = {"study": study.study_name, "monitor": config["train"]["monitor"],
               "direction": study.direction.name.lower(), "trials": rows, "best": None}
    if done:
        best = study.best_trial
        best_config = copy.deepcopy(config)
        for key, value in best.params.items():
            set_value(best_config, key, value)
        path = folder / "best.toml"
        from rnnsuite.core.checkpoint import atomic_write_text
        from rnnsuite.core.config import default_config

        atomic_write_text(path, best_config_toml(best_config, default_config(domain)))
        summary["best"] = {"number": best.number, "value": best.value, "params": best.params,
                           "config": str(path)}
        _plot_history(rows, folder / "history.png", summary["monitor"], summary["direction"])
    return summary


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(type(value).__name__)


def best_config_toml(config: dict, defaults: dict) -> str:
    """The keys of `config` that differ from `defaults`, as TOML that `train --config` reads."""
    lines = ["# best trial of `rnnsuite tune`: rnnsuite <domain> train DATA --config best.toml"]
    for section in SECTIONS:
        changed = {k: v for k, v in config[section].items()
                   if v is not None and defaults[section].get(k) != v}
        if changed:
            lines.append(f"\n[{section}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in sorted(changed.items())]
    return "\n".join(lines) + "\n"


def _plot_history(rows: list, path: Path, monitor: str, direction: str) -> None:
    """Each finished trial's value and the best so far, against the trial number."""
    from rnnsuite.core.plots import _pyplot, save_figure

    done = [(r["number"], r["value"]) for r in rows if r["state"] == "complete"]
    if not done:
        return
    try:
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(6, 3.6))
        xs, ys = zip(*sorted(done))
        ax.plot(xs, ys, "o", label="trial")
        best, running = [], None
        for y in ys:
            pick = min if direction == "minimize" else max
            running = y if running is None else pick(running, y)
            best.append(running)
        ax.step(xs, best, where="post", label="best so far")
        ax.set_xlabel("trial")
        ax.set_ylabel(f"valid {monitor}")
        ax.grid(alpha=0.3)
        ax.legend()
        save_figure(fig, path)
        plt.close(fig)
    except Exception as exc:  # a plot must never cost a study
        import sys

        print(f"warning: could not write {path}: {exc}", file=sys.stderr)
