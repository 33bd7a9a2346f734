"""How the ranks of a torchrun launch share the work (a part of the Trainer): the DDP wrapper,
each rank's batches, and one stop decision for all ranks."""

from __future__ import annotations

import math
from itertools import islice

import torch
from rnnsuite.core.device import DistInfo

__all__ = ["wrap_model", "rank_batches", "steps_per_epoch", "any_rank", "rank_part", "step_loss"]


class _DDP(torch.nn.parallel.DistributedDataParallel):
    """DDP that forwards unknown attributes (init_hidden, ...) to the wrapped model."""

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.module, name)


def _splits_model(task) -> bool:
    """Whether the ranks split `task`'s model between them instead of its batches."""
    return bool(getattr(task, "model_parallel", False))


def _sum_gradients(state, bucket):
    """DDP communication hook: sum the ranks' gradients instead of averaging them (each rank
    of a task that splits its model computes the whole gradient of its own part)."""
    import torch.distributed as torch_dist

    work = torch_dist.all_reduce(bucket.buffer(), async_op=True)
    return work.get_future().then(lambda fut: fut.value()[0])


def wrap_model(model: torch.nn.Module, dist: DistInfo, device: torch.device, task=None) -> torch.nn.Module:
    """The module the training step calls: DDP around `model` under torchrun, else `model`.
    For a task that splits its model between the ranks (`Task.model_parallel`) each rank's
    step leaves the other parts' parameters unused and the gradients are summed, not averaged."""
    if not dist.enabled:
        return model
    split = _splits_model(task)
    wrapped = _DDP(model, device_ids=[device.index] if device.type == "cuda" else None,
                   find_unused_parameters=split)
    if split:
        wrapped.register_comm_hook(None, _sum_gradients)
    return wrapped


def rank_part() -> tuple[int, int]:
    """(rank, number of ranks) of this process in a torchrun launch; (0, 1) otherwise. A task
    with `model_parallel` computes part `rank` of `number` of its model in each training step."""
    import torch.distributed as torch_dist

    if torch_dist.is_available() and torch_dist.is_initialized():
        return torch_dist.get_rank(), torch_dist.get_world_size()
    return 0, 1


def step_loss(loss, task, dist: DistInfo):
    """The step's loss as logged: for a task that splits its model, the sum of every rank's
    part (a collective: every rank calls it every step), else this rank's loss."""
    if not (dist.enabled and _splits_model(task)):
        return loss
    import torch.distributed as torch_dist

    total = loss.detach().float().clone()
    torch_dist.all_reduce(total)
    return total


def _share(task, dist: DistInfo):
    """None when this rank takes every batch (one process, or a task that splits its model
    between the ranks instead of its batches), "turns" for whole batches in turn,
    else the task's `batch_axis`, whose slices the ranks split between them."""
    if not dist.enabled or _splits_model(task):
        return None
    axis = getattr(task, "batch_axis", None)
    return "turns" if axis is None else axis


def rank_batches(task, batches, dist: DistInfo):
    """This rank's part of an epoch's batches."""
    share = _share(task, dist)
    if share is None:
        return batches
    if share == "turns":
        return islice(batches, dist.rank, None, dist.world_size)
    # every rank walks every batch and keeps its slice of the batch axis: stream tasks then
    # carry each column's state from one window to the next on one rank
    return (_split_tree(batch, dist.world_size, share)[dist.rank] for batch in batches)


def steps_per_epoch(task, seed: int, dist: DistInfo) -> int:
    """Optimizer steps in one epoch on this rank: the task's `steps_per_epoch()`, else counted."""
    per_epoch = getattr(task, "steps_per_epoch", lambda: None)()
    if per_epoch is None:
        batches = task.train_batches(0, torch.Generator().manual_seed(seed * 1_000_003))
        per_epoch = len(batches) if hasattr(batches, "__len__") else sum(1 for _ in batches)
        if _share(task, dist) == "turns":
            per_epoch = math.ceil(per_epoch / dist.world_size)
    return per_epoch


def any_rank(flag: bool, dist: DistInfo, device: torch.device) -> bool:
    """True on every rank when `flag` is true on one (a collective: every rank must call it)."""
    if not dist.enabled:
        return flag
    import torch.distributed as torch_dist

    t = torch.tensor([1.0 if flag else 0.0], device=device if device.type == "cuda" else "cpu")
    torch_dist.all_reduce(t, op=torch_dist.ReduceOp.MAX)
    return bool(t.item())


def _split_tree(tree, n: int, axis: int) -> list:
    """n copies of a nested batch with every tensor cut into n slices along `axis`."""
    if isinstance(tree, torch.Tensor):
        return list(torch.tensor_split(tree, n, dim=axis)) if tree.dim() > axis else [tree] * n
    if isinstance(tree, dict):
        parts = {k: _split_tree(v, n, axis) for k, v in tree.items()}
        return [{k: v[i] for k, v in parts.items()} for i in range(n)]
    if isinstance(tree, (tuple, list)):
        parts = [_split_tree(v, n, axis) for v in tree]
        if hasattr(tree, "_fields"):  # namedtuple
            return [type(tree)(*(p[i] for p in parts)) for i in range(n)]
        return [type(tree)(p[i] for p in parts) for i in range(n)]
    return [tree] * n
