"""A run's life: create it, train (or resume or extend) it, load it back, evaluate it."""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from rnnsuite.core import run_folder
from rnnsuite.core.checkpoint import atomic_write_json, load_weights, save_weights
from rnnsuite.core.config import (
    check_config,
    complete_config,
    reads_paused,
    track_reads,
    unread_task_keys,
)
from rnnsuite.core.device import DistInfo, init_distributed, seed_everything, select_device
from rnnsuite.core.domain import Task
from rnnsuite.core.errors import UserError, WriteError, warn
from rnnsuite.core.launch import Workers, planned_processes
from rnnsuite.core.trainer import Trainer

__all__ = ["LoadedRun", "train_run", "load_run", "evaluate_run", "run_lock"]


@dataclass
class LoadedRun:
    """A trained run rebuilt for inference."""

    path: Path | None
    config: dict
    task: object
    model: torch.nn.Module
    device: torch.device
    summary: dict | None = None


def _versions() -> dict:
    from importlib.metadata import version

    try:
        rv = version("rnnsuite")
    except Exception:
        rv = "unknown"
    return {"rnnsuite": rv, "torch": torch.__version__, "python": sys.version.split()[0]}


@contextlib.contextmanager
def run_lock(run_dir: Path):
    """Hold RUN/.lock for the whole training; a second `train` into the same folder refuses."""
    import fcntl

    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(run_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise WriteError(f"{run_dir}: cannot create the run folder ({exc.strerror or exc})", exc.errno) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"{run_dir}: another rnnsuite process is training into this run folder") from None
        # temporary files of a writer that was killed mid-write (atomic_write_bytes) are garbage
        for stale in [*run_dir.glob(".*.tmp"), *run_dir.glob("plots/.*.tmp")]:
            stale.unlink(missing_ok=True)
        yield
    finally:
        os.close(fd)


def _check_data(domain, data) -> Path | None:
    if data is None:
        if domain.data_required:
            raise UserError(f"{domain.name}: DATA is required")
        return None
    path = Path(data)
    if not path.exists():
        raise UserError(f"{path}: no such file or folder")
    return path


def data_fingerprint(path: Path, exclude: Path | None = None) -> dict:
    """What identifies a run's DATA cheaply: a file's size and SHA-256; a folder's count of
    files, their total size and a SHA-256 of their relative paths and sizes (contents are not
    read: a folder of audio can be gigabytes). Hidden files and folders are left out, and so is
    `exclude` (the run folder, should it lie inside DATA)."""
    import hashlib

    path = Path(path)
    skip = Path(exclude).resolve() if exclude is not None else None
    if path.is_file():
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return {"files": 1, "bytes": path.stat().st_size, "sha256": digest.hexdigest()}
    listing, total = hashlib.sha256(), 0
    files = sorted(p for p in path.rglob("*") if p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(path).parts)
                   and not (skip is not None and p.resolve().is_relative_to(skip)))
    for p in files:
        size = p.stat().st_size
        total += size
        listing.update(f"{p.relative_to(path).as_posix()}\t{size}\n".encode("utf-8"))
    return {"files": len(files), "bytes": total, "sha256": listing.hexdigest()}


def _check_same_data(saved: dict, data: Path | None, run_dir: Path) -> None:
    """--resume must rebuild the split it trained on: refuse DATA that is not the saved run's."""
    before = saved.get("data_fingerprint")
    if before is None or data is None:
        return   # runs saved before fingerprints; domains without DATA
    now = data_fingerprint(data, exclude=run_dir)
    if now != before:
        what = "same size, other contents"
        if (now["files"], now["bytes"]) != (before["files"], before["bytes"]):
            what = (f"{now['files']:,} files, {now['bytes']:,} bytes against "
                    f"{before['files']:,} files, {before['bytes']:,} bytes")
        raise UserError(f"{data}: not the data this run was trained on ({what}; trained on "
                        f"{saved.get('data')}); resume with the same DATA, or train a new run")


# What a resumed run may change: the budget, where it runs, how many threads and processes. Anything
# else the user types on --resume must equal the saved value (else one Error: line naming it).
RESUME_KEYS = ("epochs", "max_steps", "max_time", "device", "threads", "processes")


def train_run(domain, config: dict, data=None, out=None, resume: bool = False,
              show_progress: bool = True, callbacks=(), resume_overrides: dict | None = None,
              extend: dict | None = None, user_keys=()) -> LoadedRun:
    """Train `domain` on `data` into the run folder `out` (None: train in memory, writing no
    files; the returned LoadedRun holds the best model). With `resume`, continue from the
    checkpoint in `out` using the config saved there. `resume_overrides` holds what the user
    typed (`section.key` or a train key: value): the budget (epochs, max_steps, max_time), the
    device and threads are applied; any other key must equal the saved value. `extend`
    ({"steps": N, "schedule": "restart" | "constant"}) continues a finished run for N more steps
    with that learning-rate schedule (recorded in train.extensions). `user_keys` ("section.key")
    are the keys the user set on a new run: those of core.config.TASK_KEYS that the domain never
    read get a warning when training ends (they had no effect)."""
    data = _check_data(domain, data)
    typed = {(k if "." in k else f"train.{k}"): v for k, v in (resume_overrides or {}).items()}
    _set_threads(typed.get("train.threads", config["train"].get("threads", 0)))
    device = select_device(typed.get("train.device") or config["train"]["device"]) if resume \
        else select_device(config["train"]["device"])
    dist = init_distributed(device)
    in_memory = out is None
    run_dir = Path(out) if out is not None else None
    if in_memory and resume:
        raise UserError("--resume needs a run folder")
    if resume:
        saved = run_folder.read_run_config(run_dir, domain.name)
        run_config = saved["config"] = complete_config(saved["config"], domain)
        changed = []
        for key, value in typed.items():
            section, name = key.split(".", 1)
            if section == "train" and name in RESUME_KEYS:
                run_config["train"][name] = value
            elif run_config.get(section, {}).get(name) != value:
                changed.append(f"{key}={value!r} (saved: {run_config.get(section, {}).get(name)!r})")
        if changed:
            raise UserError(f"--resume continues the saved run; only {', '.join(RESUME_KEYS)} may change, "
                            f"not {'; '.join(changed)}; train a new run (another --out) to change them")
        state = saved.get("task_state")
        if extend:
            _extend(run_dir, run_config, extend)
            if dist.is_main:   # recorded first: a plain --resume after a kill goes on extending
                atomic_write_json(run_dir / run_folder.CONFIG, saved)
    else:
        if dist.is_main and run_dir is not None:
            _refuse_existing_run(run_dir)
        run_config, state = config, None
    check_config(run_config, domain)   # every value, before a folder or file is made
    fresh_folder = run_dir is not None and not run_dir.exists()
    return _train_locked(domain, run_config, state, data, run_dir, resume, device, dist,
                         callbacks, show_progress, saved if resume else None, fresh_folder,
                         () if resume else tuple(user_keys))


def _extend(run_dir: Path, run_config: dict, extend: dict) -> None:
    """Record an extension of the saved run: from its checkpoint's step, `steps` more (or
    `epochs` more, at the run's steps per completed epoch), with the stated schedule; the budget
    becomes exactly that (no epoch or time limit)."""
    from rnnsuite.core.trainer_state import checkpoint_position

    step, lr, per_epoch, elapsed = checkpoint_position(run_dir / run_folder.TRAINER_STATE)
    train = run_config["train"]
    factor = lr / train["lr"] if train["lr"] else 0.0
    if "seconds" in extend:  # a time budget: the schedule runs over the seconds, not steps
        if not extend["seconds"] > 0:
            raise UserError(f"--extend-time must be above 0 seconds, got {extend['seconds']}")
        train["extensions"] = [*train.get("extensions", []), {
            "start_step": step, "steps": 0, "seconds": float(extend["seconds"]),
            "start_elapsed": elapsed, "schedule": extend["schedule"], "factor": factor}]
        train.update(max_steps=0, epochs=0, max_time=elapsed + float(extend["seconds"]))
        return
    if "epochs" in extend:   # N epochs: N x this run's steps per completed epoch
        if extend["epochs"] < 1:
            raise UserError(f"--extend-epochs must be at least 1, got {extend['epochs']}")
        if per_epoch <= 0:
            raise UserError(f"{run_dir}: the run has not completed an epoch, so an epoch's steps "
                            "are unknown; extend it with --extend-steps")
        extend = {**extend, "steps": max(1, round(extend["epochs"] * per_epoch))}
        print(f"{extend['epochs']} epochs = {extend['steps']} steps ({per_epoch:g} steps per "
              "epoch so far)", file=sys.stderr)
    if extend.get("steps", 0) < 1:
        raise UserError(f"--extend-steps must be at least 1, got {extend.get('steps')}")
    train["extensions"] = [*train.get("extensions", []), {
        "start_step": step, "steps": int(extend["steps"]), "schedule": extend["schedule"],
        "factor": factor}]
    train.update(max_steps=step + int(extend["steps"]), epochs=0, max_time=0.0)


def _remove_failed_start(run_dir: Path, fresh_folder: bool) -> None:
    """A fresh training that failed before its first checkpoint leaves nothing a retry trips
    over: the folder it created goes, or, in a folder that was there before, the files it wrote."""
    import shutil

    if fresh_folder:
        shutil.rmtree(run_dir, ignore_errors=True)
        return
    for name in (run_folder.CONFIG, ".lock", "metrics.csv", "grad_norms.csv"):
        (run_dir / name).unlink(missing_ok=True)


def _train_locked(domain, run_config, state, data, run_dir, resume, device, dist, callbacks,
                  show_progress, saved, fresh_folder, user_keys=()) -> LoadedRun:
    in_memory = run_dir is None
    lock = run_lock(run_dir) if dist.is_main and not in_memory else contextlib.nullcontext()
    with lock:
        new_run = not resume and dist.is_main and run_dir is not None
        if resume and not run_folder.has_checkpoint(run_dir):
            # killed before its first checkpoint: nothing was trained yet, so start the saved
            # config again from step 0 rather than leave a folder that neither trains nor resumes
            warn(f"{run_dir}: no checkpoint yet (stopped before the first one); starting from step 0")
            resume, state = False, None
        if new_run:
            # checked again under the lock: another process may have created the run meanwhile
            _refuse_existing_run(run_dir)
        try:
            return _train(domain, run_config, state, data, run_dir, resume, device, dist, callbacks,
                          show_progress, saved, user_keys)
        except Exception:
            if new_run and not run_folder.has_checkpoint(run_dir):
                _remove_failed_start(run_dir, fresh_folder)
            raise


def _train(domain, run_config, state, data, run_dir, resume, device, dist, callbacks,
           show_progress, saved, user_keys=()) -> LoadedRun:
    in_memory = run_dir is None
    if user_keys:
        track_reads(run_config)   # which of the user's keys the task reads (TASK_KEYS)
    task = _seeded_task(domain, run_config, data, state)   # bad data: the task's own error first
    if resume:
        _check_same_data(saved, data, run_dir)
    run_record = saved if resume else {
        "domain": domain.name,
        "plugin": getattr(domain, "plugin", ""),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "data": str(data) if data is not None else None,
        "data_fingerprint": (data_fingerprint(data, exclude=run_dir)
                             if data is not None and not in_memory else None),
        "versions": _versions(),
        "config": run_config,
        "task_state": task.state_dict(),
    }
    if not resume and dist.is_main and not in_memory:
        with reads_paused(run_config):
            atomic_write_json(run_dir / run_folder.CONFIG, run_record)
    processes = planned_processes(task, run_config["train"], device, dist)
    workers = contextlib.nullcontext()
    if processes > 1:   # the other ranks build the same task from the same config and data
        with reads_paused(run_config):
            workers = Workers(processes, {"domain": domain.name, "config": run_config, "state": state,
                                          "data": str(data) if data is not None else None,
                                          "run_dir": str(run_dir) if run_dir is not None else None,
                                          "resume": bool(resume)})
    with workers:
        if processes > 1:
            dist = workers.dist
        summary, model, trainer = _fit(task, run_config, run_dir, device, dist, callbacks, show_progress,
                                       resume, workers if processes > 1 else None)
    dist = DistInfo() if processes > 1 else dist
    if dist.is_main:
        _warn_unread(domain, run_config, user_keys)
    if in_memory:
        if trainer.best_weights.state is not None:
            model.load_state_dict(trainer.best_weights.state)
        _finalize(task, model)
    else:
        best = run_dir / run_folder.WEIGHTS
        if best.is_file():
            tensors, meta = load_weights(best)
            model.load_state_dict(tensors)
            if _finalize(task, model) and dist.is_main:
                save_weights(best, model.state_dict(), meta)
        # a task may learn state while training (calibration, statistics): save it again
        final_state = task.state_dict()
        if dist.is_main and final_state != run_record.get("task_state"):
            run_record["task_state"] = final_state
            atomic_write_json(run_dir / run_folder.CONFIG, run_record)
    model.eval()
    return LoadedRun(run_dir, run_config, task, model, device, summary)


def _seeded_task(domain, run_config, data, state):
    """The run's task, built after seeding (a task may draw random numbers while it builds):
    the main process and every worker build it the same way."""
    seed_everything(run_config["train"]["seed"], run_config["train"]["deterministic"])
    return domain.create_task(run_config, data, state)


def _fit(task, run_config, run_dir, device, dist, callbacks, show_progress, resume, workers=None):
    """Build the model and train it: (summary, model, trainer)."""
    seed_everything(run_config["train"]["seed"], run_config["train"]["deterministic"])
    model = task.build_model()
    trainer = Trainer(task, model, run_config, run_dir, device, callbacks=callbacks,
                      show_progress=show_progress, dist=dist)
    try:
        summary = trainer.fit(resume=resume)
    except Exception as exc:
        reason = workers.wait_failure(2.0) if workers is not None else None
        if reason:   # a collective failed because a worker stopped: say why it stopped
            raise RuntimeError(reason) from exc
        raise
    return summary, model, trainer


def train_worker(spec: dict) -> None:
    """Rank 1.. of a run started by `core.launch.Workers`: the main process's `_train` up to
    the end of training, writing nothing (the main process writes the run folder)."""
    from rnnsuite.core.launch import join_group
    from rnnsuite.core.plugins import domain_named

    domain = domain_named(spec["domain"])
    run_config = spec["config"]
    _set_threads(run_config["train"].get("threads", 0))
    device = torch.device("cpu")
    data = Path(spec["data"]) if spec["data"] is not None else None
    task = _seeded_task(domain, run_config, data, spec["state"])   # the same task as the main process's
    dist = join_group()
    run_dir = Path(spec["run_dir"]) if spec["run_dir"] is not None else None
    try:
        _fit(task, run_config, run_dir, device, dist, (), False, spec["resume"])
    finally:
        import torch.distributed as torch_dist

        if torch_dist.is_initialized():
            torch_dist.destroy_process_group()


def _warn_unread(domain, run_config: dict, user_keys) -> None:
    import json

    for key in unread_task_keys(run_config, user_keys):
        section, name = key.split(".", 1)
        value = json.dumps(dict.get(run_config[section], name))
        warn(f"{key}={value} was set, but the {domain.name} domain never read it: it had no effect")


def _finalize(task, model) -> bool:
    """Task.finalize on the final weights; True when the task has one."""
    if type(task).finalize is Task.finalize:
        return False
    model.eval()
    with torch.no_grad():
        task.finalize(model)
    return True


def _refuse_existing_run(run_dir: Path) -> None:
    """A fresh training must not write into a folder that already holds a run."""
    if run_dir.exists() and (run_folder.has_checkpoint(run_dir) or (run_dir / run_folder.CONFIG).exists()):
        raise UserError(f"{run_dir}: already holds a run; use --resume to continue it or another --out")


def _set_threads(threads: int) -> None:
    if threads and threads > 0 and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def load_run(run, domain, device: str = "auto", data_options: dict | None = None) -> LoadedRun:
    """Rebuild a trained run (`run` is a folder or "latest") for inference, in eval mode.
    `data_options` update the run's `data` config before the task is built. `domain` is a
    Domain or a registered domain name."""
    if isinstance(domain, str):
        from rnnsuite.core.plugins import domain_named

        domain = domain_named(domain)
    path = run_folder.resolve_run(run, domain.name)
    saved = run_folder.read_run_config(path, domain.name)
    weights = path / run_folder.WEIGHTS
    if not weights.is_file():
        raise UserError(f"{path}: run has no trained weights (model.safetensors); train it first")
    config = saved["config"]
    cfg_path = path / run_folder.CONFIG
    if not isinstance(config, dict) or not all(isinstance(config.get(s), dict) for s in ("model", "train", "data")):
        raise UserError(f"{cfg_path}: 'config' must hold model, train and data tables")
    if not isinstance(saved.get("task_state"), dict):
        raise UserError(f"{cfg_path}: no task_state (vocabulary, scaler, ...); the run folder is incomplete")
    config = complete_config(config, domain)
    if data_options:
        config.setdefault("data", {}).update(data_options)
    _set_threads(config.get("train", {}).get("threads", 0))
    dev = select_device(device)
    try:
        task = domain.create_task(config, None, saved["task_state"])
        model = task.build_model()
    except UserError as exc:
        if str(path) in str(exc):
            raise
        raise UserError(f"{cfg_path}: cannot rebuild the run ({exc})") from None
    except Exception as exc:
        raise UserError(f"{path}: cannot rebuild the model from config.json ({type(exc).__name__}: {exc})") from None
    tensors, _ = load_weights(weights)
    try:
        model.load_state_dict(tensors)
    except RuntimeError as exc:
        raise UserError(f"{weights}: weights do not match the run's model ({' '.join(str(exc).split())[:200]})") from None
    model.to(dev).eval()
    return LoadedRun(path, config, task, model, dev)


def evaluate_run(domain, run, data=None, device: str = "auto", data_options: dict | None = None) -> dict:
    """Metrics of a trained run on `data` (the `evaluate` verb)."""
    data = _check_data(domain, data)
    loaded = load_run(run, domain, device, data_options=data_options)
    with torch.no_grad():
        return loaded.task.evaluate(loaded.model, data)
