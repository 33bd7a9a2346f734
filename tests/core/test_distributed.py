"""Data-parallel training through torch.distributed (DDP, gloo on CPU) launched by torchrun."""

import os
import subprocess
import sys
from pathlib import Path

import torch
from rnnsuite.core.checkpoint import load_weights

HERE = Path(__file__).parent


def _torchrun(tmp_path, *extra):
    dump = tmp_path / "dump"
    dump.mkdir()
    # TMPDIR: torchrun's agent leaves a torchelastic_* folder in the temporary directory
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RNNSUITE_PROGRESS": "0", "TMPDIR": str(tmp_path)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(HERE / "ddp_worker.py"), str(tmp_path / "run"), str(dump), *extra]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return dump


def test_ranks_split_the_batch_axis_of_a_stream_task_like_one_process(tmp_path):
    """A task with a batch axis: each rank keeps its half of every batch's columns (and carries
    their state), so two ranks compute what one process computes with the whole batch."""
    from rnnsuite.core import apply_overrides, default_config, train_run
    from test_trainer import ToyDomain
    from toytasks import DDP_OVERRIDES, SplittableCopyStreamTask

    dump = _torchrun(tmp_path, "split")
    domain = ToyDomain(SplittableCopyStreamTask)
    cfg = apply_overrides(default_config(domain), DDP_OVERRIDES)
    single = train_run(domain, cfg, out=tmp_path / "single", show_progress=False).model.state_dict()
    a, _ = load_weights(dump / "rank0.safetensors")
    for key in single:
        torch.testing.assert_close(a[key], single[key], atol=2e-5, rtol=1e-4, msg=key)


def test_two_process_cpu_run_ends_with_equal_weights_and_one_run_folder(tmp_path):
    dump = _torchrun(tmp_path)
    a, _ = load_weights(dump / "rank0.safetensors")
    b, _ = load_weights(dump / "rank1.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    saved, _ = load_weights(tmp_path / "run" / "model.safetensors")
    assert saved.keys() == a.keys()
    assert sorted(p.name for p in (tmp_path / "run").iterdir() if not p.name.startswith(".")) == [
        "config.json", "metrics.csv", "model.safetensors", "plots", "trainer_state.safetensors"]
