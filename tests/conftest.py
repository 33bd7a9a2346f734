"""Shared fixtures: quiet progress bars, an isolated working directory, a `device` list."""

import os

import pytest

os.environ.setdefault("RNNSUITE_PROGRESS", "0")


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Caches (music tokens, speech features) go to this session's temporary folder, never to
    the user's ~/.cache; a test that needs a cold cache sets its own."""
    if "RNNSUITE_CACHE_DIR" not in os.environ:
        os.environ["RNNSUITE_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))


def pytest_configure(config):
    # Tests use tiny models: one intra-op thread is as fast, and it avoids OpenMP threads
    # spin-waiting against each other on a shared 2-core CI machine.
    import torch

    torch.set_num_threads(1)


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
