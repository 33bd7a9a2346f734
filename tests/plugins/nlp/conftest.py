"""Shared tiny fixtures: a few hundred characters of real text, models of hidden size 8."""

from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "text"

TINY = {"hidden_size": 8, "embedding_dim": 8, "num_layers": 1, "batch_size": 2, "bptt": 8,
        "warmup_steps": 0, "eval_streams": 2}


def tiny_sets(**extra) -> list[str]:
    """`--set` arguments for a model and data layout small enough to train in a blink."""
    args = []
    for k, v in {**TINY, **extra}.items():
        args += ["--set", f"{k}={v}"]
    return args


@pytest.fixture
def tiny():
    """The `tiny_sets` function, for tests (test modules here are not a package)."""
    return tiny_sets


def _sample_text() -> str:
    text = (EXAMPLES / "macbeth.txt").read_text(encoding="utf-8")
    return text[: text.index("\n", 600) + 1]


@pytest.fixture
def sample_text() -> str:
    """The first ~600 characters of Macbeth from examples/text."""
    return _sample_text()


@pytest.fixture(scope="module")
def tiny_module():
    """(tiny_sets, sample text) for module-scoped fixtures."""
    return tiny_sets, _sample_text()


@pytest.fixture
def text_file(tmp_path, sample_text) -> Path:
    path = tmp_path / "macbeth.txt"
    path.write_text(sample_text, encoding="utf-8")
    return path
