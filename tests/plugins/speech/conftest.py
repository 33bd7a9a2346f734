"""Fixtures for the speech plugin tests; plain helpers live in speech_helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from speech_helpers import EXAMPLES


@pytest.fixture(autouse=True)
def _quiet_progress(monkeypatch):
    monkeypatch.setenv("RNNSUITE_PROGRESS", "0")


@pytest.fixture
def examples() -> Path:
    return EXAMPLES


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Hidden sizes of 8 gain nothing from threads, and on a shared CI box OpenMP threads that
    spin-wait for each other make such tests 10-50x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
