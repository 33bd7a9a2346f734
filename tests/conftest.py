"""Shared fixtures: quiet progress bars, an isolated working directory, a `device` list."""

import os

import pytest

os.environ.setdefault("RNNSUITE_PROGRESS", "0")


def _devices():
    import torch

    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    return devices


@pytest.fixture(params=_devices())
def device(request):
    """Every device this machine has: cpu always, cuda when present."""
    return request.param


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run in an empty folder so `runs/` lands in tmp_path."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
