"""Device manager: device choice, AMP dtype policy, seeding, determinism, distributed set-up."""

from __future__ import annotations

import functools
import os
import random
from dataclasses import dataclass

import torch
from rnnsuite.core.errors import UserError

__all__ = ["select_device", "seed_everything", "describe_devices", "amp_dtype", "DistInfo", "move_to_device",
           "init_distributed"]


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()


def select_device(spec: str = "auto") -> torch.device:
    """`auto` (local-rank CUDA, then MPS, then CPU), `cpu`, `cuda`, `cuda:N` or `mps`."""
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"device {spec!r} requested but CUDA is not available here (try --device cpu)")
        try:
            dev = torch.device(spec)
        except RuntimeError:
            raise UserError(f"invalid device {spec!r}") from None
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UserError(f"device {spec!r} does not exist: {torch.cuda.device_count()} CUDA device(s)")
        return dev
    if spec == "mps":
        if not _mps_available():
            raise UserError("device 'mps' requested but MPS is not available here")
        return torch.device("mps")
    raise UserError(f"unknown device {spec!r}; use auto, cpu, cuda, cuda:N or mps")


def move_to_device(batch, device: torch.device):
    """Move tensors inside tuples/lists/dicts (namedtuples too) to device."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(move_to_device(b, device) for b in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: move_to_device(v, device) for k, v in batch.items()}
    return batch


def amp_dtype(device: torch.device, policy: str = "auto"):
    """The autocast dtype for a device and policy, or None for full precision.

    auto: bf16 on CUDA devices that support it, else fp16 on CUDA; off on CPU/MPS (measured in
    bench/bf16_cpu.py). bf16 on a CPU without native bfloat16 runs the fused recurrent kernels in
    float32 (oneDNN has no bf16 LSTM there) and everything else emulated, which is slower.
    """
    policy = (policy or "auto").lower()
    if policy == "off":
        return None
    if policy == "bf16":
        return torch.bfloat16
    if policy == "fp16":
        if device.type == "cpu":
            raise UserError("amp=fp16 is not supported on CPU; use bf16 or off")
        return torch.float16
    if policy != "auto":
        raise UserError(f"unknown amp policy {policy!r}; use auto, off, bf16 or fp16")
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return None


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (all devices); optionally force deterministic kernels."""
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover
        pass
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


@dataclass
class DistInfo:
    """Where this process stands in a torchrun launch (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group torchrun set up (gloo on CPU, nccl on CUDA); no-op otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def describe_devices() -> dict:
    """What `rnnsuite devices` prints: every device seen, and what `auto` would pick."""
    devices = [{"name": "cpu", "type": "cpu", "threads": torch.get_num_threads(),
                "bf16": cpu_has_bf16()}]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            devices.append({"name": f"cuda:{i}", "type": "cuda", "model": p.name,
                            "memory_gib": round(p.total_memory / 2**30, 1),
                            "capability": f"{p.major}.{p.minor}",
                            "bf16": torch.cuda.is_bf16_supported(),
                            "cudnn": torch.backends.cudnn.version()})
    if _mps_available():
        devices.append({"name": "mps", "type": "mps"})
    auto = select_device("auto")
    return {"torch": torch.__version__, "cuda_available": torch.cuda.is_available(),
            "auto": str(auto), "amp_auto": str(amp_dtype(auto)).replace("torch.", ""),
            "devices": devices}


@functools.lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """Whether the CPU does bfloat16 arithmetic natively (avx512_bf16 or AMX); Linux only."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
        return "avx512_bf16" in flags or "amx_bf16" in flags
    except OSError:
        return False
