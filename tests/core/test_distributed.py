"""Data-parallel training through torch.distributed (DDP, gloo on CPU) launched by torchrun."""

import os
import subprocess
import sys
from pathlib import Path

import torch
from rnnsuite.core.checkpoint import load_weights

HERE = Path(__file__).parent


def test_two_process_cpu_run_ends_with_equal_weights_and_one_run_folder(tmp_path):
    dump = tmp_path / "dump"
    dump.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RNNSUITE_PROGRESS": "0"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(HERE / "ddp_worker.py"), str(tmp_path / "run"), str(dump)]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    a, _ = load_weights(dump / "rank0.safetensors")
    b, _ = load_weights(dump / "rank1.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    saved, _ = load_weights(tmp_path / "run" / "model.safetensors")
    assert saved.keys() == a.keys()
    assert sorted(p.name for p in (tmp_path / "run").iterdir() if not p.name.startswith(".")) == [
        "config.json", "metrics.csv", "model.safetensors", "plots", "trainer_state.safetensors"]
