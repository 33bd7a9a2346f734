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


@pytest.fixture
def same_training():
    """assert_same(one, two): two run folders hold the same weights (atol 1e-6) and logged the
    same training loss (rtol 1e-5), e.g. one process's run against a multi-process one."""
    import numpy as np
    import pandas as pd
    from rnnsuite.core import load_weights

    def assert_same(one, two):
        a, _ = load_weights(one / "model.safetensors")
        b, _ = load_weights(two / "model.safetensors")
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_allclose(a[key].numpy(), b[key].numpy(), atol=1e-6, err_msg=key)
        loss = [pd.read_csv(run / "metrics.csv").query("metric == 'loss' and split == 'train'")["value"]
                for run in (one, two)]
        np.testing.assert_allclose(loss[0].to_numpy(), loss[1].to_numpy(), rtol=1e-5)

    return assert_same
