"""The trainer state file, `trainer_state.safetensors`: everything exact resume needs, in one
atomic file of tensors plus JSON metadata (no pickle), and the flattening helpers behind it.

    save_trainer(trainer, path)      the model, the weight average, optimizer, schedules, loss
                                     scaler, RNG states, carried hidden state and the loop position
    restore_trainer(trainer, path)   the same back into a freshly built Trainer
"""

from __future__ import annotations

import json
import random

import torch
from rnnsuite.core.checkpoint import load_weights, save_weights
from rnnsuite.core.errors import UserError

__all__ = ["save_trainer", "restore_trainer", "checkpoint_position", "flatten_tree", "unflatten_tree", "optimizer_to_flat",
           "optimizer_from_flat", "rng_to_flat", "rng_from_flat", "json_safe"]

FORMAT = "rnnsuite-trainer-state-1"


def flatten_tree(obj, prefix: str, tensors: dict):
    """Tensors of a nested tuple/list/dict go into `tensors`; returns a JSON structure spec."""
    if obj is None:
        return None
    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj.detach().cpu().contiguous()
        return {"t": prefix}
    if isinstance(obj, (tuple, list)):
        return {"seq": [flatten_tree(o, f"{prefix}.{i}", tensors) for i, o in enumerate(obj)],
                "tuple": isinstance(obj, tuple)}
    if isinstance(obj, dict):
        return {"map": {str(k): flatten_tree(v, f"{prefix}.{k}", tensors) for k, v in obj.items()}}
    if isinstance(obj, (int, float, str, bool)):
        return {"v": obj}
    raise TypeError(f"cannot checkpoint a {type(obj).__name__} in the carried state")


def unflatten_tree(spec, tensors: dict, device=None):
    if spec is None:
        return None
    if "t" in spec:
        t = tensors[spec["t"]]
        return t.to(device) if device is not None else t
    if "seq" in spec:
        items = [unflatten_tree(s, tensors, device) for s in spec["seq"]]
        return tuple(items) if spec["tuple"] else items
    if "map" in spec:
        return {k: unflatten_tree(v, tensors, device) for k, v in spec["map"].items()}
    return spec["v"]


def json_safe(obj):
    """Python json keeps inf/nan; tuples become lists; callables and the rest become None."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, (int, float, str, bool)) or obj is None:
        return obj
    if isinstance(obj, torch.Tensor) and obj.numel() == 1:
        return obj.item()
    return None


def optimizer_to_flat(optimizer, tensors: dict) -> dict:
    sd = optimizer.state_dict()
    state = {}
    for idx, pstate in sd["state"].items():
        entry = {}
        for key, value in pstate.items():
            if isinstance(value, torch.Tensor):
                name = f"optim.{idx}.{key}"
                tensors[name] = value.detach().cpu().contiguous()
                entry[key] = {"t": name}
            else:
                entry[key] = {"v": value}
        state[str(idx)] = entry
    return {"state": state, "param_groups": json_safe(sd["param_groups"])}


def optimizer_from_flat(optimizer, spec: dict, tensors: dict) -> None:
    state = {}
    for idx, entry in spec["state"].items():
        state[int(idx)] = {k: (tensors[v["t"]] if "t" in v else v["v"]) for k, v in entry.items()}
    groups = []
    for g in spec["param_groups"]:
        g = dict(g)
        for key, value in g.items():
            if key != "params" and isinstance(value, list):
                g[key] = tuple(value)
        groups.append(g)
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def rng_to_flat(tensors: dict) -> dict:
    tensors["rng.torch"] = torch.get_rng_state()
    cuda = 0
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
        cuda = torch.cuda.device_count()
    spec = {"cuda": cuda, "python": json_safe(random.getstate())}
    try:
        import numpy as np

        name, keys, pos, has_gauss, cached = np.random.get_state()
        tensors["rng.numpy"] = torch.from_numpy(keys.astype("int64"))
        spec["numpy"] = [name, int(pos), int(has_gauss), float(cached)]
    except ImportError:  # pragma: no cover
        pass
    return spec


def rng_from_flat(spec: dict, tensors: dict) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    if spec.get("cuda") and torch.cuda.is_available():
        states = [tensors[f"rng.cuda.{i}"] for i in range(spec["cuda"]) if f"rng.cuda.{i}" in tensors]
        if len(states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states)
    py = spec.get("python")
    if py:
        random.setstate((py[0], tuple(py[1]), py[2]))
    if "numpy" in spec and "rng.numpy" in tensors:
        import numpy as np

        name, pos, has_gauss, cached = spec["numpy"]
        np.random.set_state((name, tensors["rng.numpy"].numpy().astype("uint32"), pos, has_gauss, cached))


def dumps(obj) -> str:
    return json.dumps(obj, allow_nan=True)


def loads(text: str):
    return json.loads(text)


def save_trainer(trainer, path) -> None:
    """Write `trainer`'s state to `path` (atomically)."""
    tensors: dict = {}
    for name, t in trainer.model.state_dict().items():
        tensors[f"model.{name}"] = t
    for name, t in (trainer.ema.state or {}).items():
        tensors[f"ema.{name}"] = t
    meta = {
        "step": trainer.step, "epoch": trainer.epoch, "batch_in_epoch": trainer.batch_in_epoch,
        "best": trainer.best_weights.best, "bad_evals": trainer.best_weights.bad_evals,
        "skipped_steps": trainer.faults.skipped_steps, "rollbacks": trainer.faults.rollbacks,
        "ema_updates": trainer.ema.updates, "elapsed": trainer.elapsed(),
        "last_eval_step": trainer.last_eval_step,
        # the training loss since the last validation: its first train/loss row after a resume
        # averages the same steps as an uninterrupted run's
        "window": [trainer.window.loss_sum.item(), trainer.window.count, trainer.window.items],
        "optimizer": optimizer_to_flat(trainer.optimizer, tensors),
        "scheduler": json_safe(trainer.scheduler.state_dict()),
        "plateau": json_safe(trainer.plateau.state_dict()) if trainer.plateau else None,
        "scaler": json_safe(trainer.scaler.state_dict()) if trainer.scaler else None,
        "rng": rng_to_flat(tensors),
        "hidden": flatten_tree(trainer.hidden, "hidden", tensors),
    }
    save_weights(path, tensors, {"format": FORMAT, "trainer": dumps(meta)})


def checkpoint_position(path) -> tuple[int, float, float, float]:
    """(step, learning rate, steps per completed epoch (0 when none was completed), seconds of
    training) at which a saved trainer state stands."""
    if not path.is_file():
        raise UserError(f"{path.parent}: nothing to extend (no trainer_state.safetensors)")
    _, meta_raw = load_weights(path)
    try:
        meta = loads(meta_raw["trainer"])
        step, epochs = int(meta["step"]), int(meta["epoch"])
        per_epoch = (step - int(meta["batch_in_epoch"])) / epochs if epochs > 0 else 0.0
        return (step, float(meta["optimizer"]["param_groups"][0]["lr"]), per_epoch,
                float(meta.get("elapsed", 0.0)))
    except (KeyError, ValueError, TypeError, IndexError):
        raise UserError(f"{path}: damaged trainer state, cannot extend the run") from None


def restore_trainer(trainer, path) -> dict:
    """Load `path` into `trainer` (built with the same config); returns the metadata. A file that
    does not fit the run is a UserError."""
    if path is None or not path.is_file():
        raise UserError(f"{trainer.run_dir}: nothing to resume (no trainer_state.safetensors)")
    tensors, meta_raw = load_weights(path)

    def part(prefix):
        return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

    try:
        meta = loads(meta_raw["trainer"])
        trainer.model.load_state_dict(part("model."))
        trainer.ema.load(part("ema."), meta.get("ema_updates", 0))
        optimizer_from_flat(trainer.optimizer, meta["optimizer"], tensors)
        trainer.scheduler.load_state_dict(meta["scheduler"])
        if trainer.plateau is not None and meta["plateau"]:
            trainer.plateau.load_state_dict(meta["plateau"])
        if trainer.scaler is not None and meta["scaler"]:
            trainer.scaler.load_state_dict(meta["scaler"])
        rng_from_flat(meta["rng"], tensors)
        trainer.hidden = unflatten_tree(meta["hidden"], tensors, trainer.device)
        for key in ("step", "epoch", "batch_in_epoch", "last_eval_step"):
            setattr(trainer, key, meta[key])
        trainer.best_weights.best, trainer.best_weights.bad_evals = meta["best"], meta["bad_evals"]
        trainer.faults.skipped_steps = meta["skipped_steps"]
        trainer.faults.rollbacks = meta.get("rollbacks", 0)
        if "window" in meta:   # checkpoints before it: the window starts over
            loss_sum, trainer.window.count, trainer.window.items = meta["window"]
            trainer.window.loss_sum.fill_(loss_sum)
    except (KeyError, ValueError, RuntimeError, TypeError) as exc:
        raise UserError(f"{path}: checkpoint does not match this run ({' '.join(str(exc).split())[:200]})") from None
    return meta
