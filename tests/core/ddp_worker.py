"""Launched by torchrun from test_distributed.py: trains the toy task with DDP on gloo."""

import sys

import torch.distributed as dist
from rnnsuite.core import apply_overrides, default_config, train_run
from rnnsuite.core.checkpoint import save_weights

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from test_trainer import ToyDomain  # noqa: E402
from toytasks import DDP_OVERRIDES, SplittableCopyStreamTask  # noqa: E402

out, dump = sys.argv[1], sys.argv[2]
# "split": a task with a batch axis, whose batches the ranks split instead of taking turns
domain = ToyDomain(SplittableCopyStreamTask) if sys.argv[3:] == ["split"] else ToyDomain()
cfg = apply_overrides(default_config(domain), DDP_OVERRIDES)
run = train_run(domain, cfg, out=out, show_progress=False)
rank = dist.get_rank()
save_weights(f"{dump}/rank{rank}.safetensors", run.model.state_dict())
dist.destroy_process_group()
