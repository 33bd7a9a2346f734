"""One line naming the machine a benchmark ran on (CPU model, GPU, torch, Python)."""

import os
import platform
from pathlib import Path


def describe_machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} logical CPUs, {gpu}, torch {torch.__version__}, Python {platform.python_version()}"
