"""Flatten trainer state into safetensors tensors + JSON metadata, and back (no pickle)."""

from __future__ import annotations

import json
import math
import random

import torch

__all__ = ["flatten_tree", "unflatten_tree", "optimizer_to_flat", "optimizer_from_flat",
           "rng_to_flat", "rng_from_flat", "json_safe"]


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


def is_finite(x: float) -> bool:
    return math.isfinite(x)
