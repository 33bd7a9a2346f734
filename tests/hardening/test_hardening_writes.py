"""Write failures: a checkpoint write that fails (disk full, permission denied) leaves the
previous checkpoint intact and ends with one clear `Error:` line and exit status 2.

Tests run as root, where chmod stops nothing, so the failures are injected into the
checkpoint module's own file operations."""

import errno
import os
import tempfile
import types

import pytest
from hardening_helpers import error_lines, folder_digest, invoke
from rnnsuite.core import checkpoint
from rnnsuite.core.checkpoint import load_weights

TEXT = "When shall we three meet again\nIn thunder, lightning, or in rain?\n" * 12
NLP_TINY = ["--set", "hidden_size=8", "--set", "embedding_dim=8", "--set", "batch_size=2",
            "--set", "bptt=8", "--set", "eval_streams=2", "--set", "checkpoint_every=1",
            "--device", "cpu"]


def inject(monkeypatch, where, code, only=None, after=0):
    """Make `where` (mkstemp, write, fsync or replace) fail with `code` in core's atomic
    writes, for files named `only` (all when None), after `after` successful ones."""
    calls = {"n": 0}

    def should_fail(name):
        if only is not None and only not in str(name):
            return False
        calls["n"] += 1
        return calls["n"] > after

    def fail(name):
        raise OSError(code, os.strerror(code), str(name))

    fake_os = types.SimpleNamespace(**{k: getattr(os, k) for k in dir(os) if not k.startswith("__")})
    fake_tempfile = types.SimpleNamespace(mkstemp=tempfile.mkstemp)
    if where == "mkstemp":
        def mkstemp(prefix="", suffix="", dir=None):
            if should_fail(prefix):
                fail(dir)
            return tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=dir)
        fake_tempfile.mkstemp = mkstemp
    elif where == "replace":
        def replace(src, dst):
            if should_fail(dst):
                fail(dst)
            return os.replace(src, dst)
        fake_os.replace = replace
    elif where in ("write", "fsync"):
        def fdopen(fd, mode):
            f = os.fdopen(fd, mode)
            name = os.readlink(f"/proc/self/fd/{fd}")
            if should_fail(name.rsplit("/", 1)[-1].split(".tmp")[0].lstrip(".")):
                method = "write" if where == "write" else "flush"
                real = getattr(f, method)

                class Failing:
                    def __enter__(self):
                        return self

                    def __exit__(self, *exc):
                        f.close()

                    def __getattr__(self, attr):
                        return getattr(f, attr)

                def failing(*args):
                    real(*args)
                    fail(name)
                setattr(Failing, method, lambda self, *args: failing(*args))
                return Failing()
            return f
        fake_os.fdopen = fdopen
    monkeypatch.setattr(checkpoint, "os", fake_os)
    monkeypatch.setattr(checkpoint, "tempfile", fake_tempfile)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "witches.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


@pytest.fixture
def started(tmp_path, corpus):
    """An nlp run with a checkpoint at step 2."""
    run = tmp_path / "run"
    result = invoke("nlp", "train", corpus, "--out", run, "--max-steps", 2, *NLP_TINY)
    assert result.exit_code == 0, result.output
    return run


CASES = [("mkstemp", errno.EACCES, "Permission denied"), ("write", errno.ENOSPC, "No space left on device"),
         ("fsync", errno.EIO, "Input/output error"), ("replace", errno.ENOSPC, "No space left on device")]


@pytest.mark.parametrize("where, code, message", CASES, ids=[c[0] for c in CASES])
def test_failed_checkpoint_write_keeps_the_previous_one(monkeypatch, started, corpus, where, code, message):
    before = folder_digest(started)
    inject(monkeypatch, where, code)
    result = invoke("nlp", "train", corpus, "--out", started, "--resume", "--max-steps", 4, *NLP_TINY)
    assert result.exit_code == 2, result.output
    errors = error_lines(result.stderr)
    assert len(errors) == 1 and "Traceback" not in result.output
    assert str(started) in errors[0] and message in errors[0] and "previous version is kept" in errors[0]
    assert folder_digest(started) == before
    assert not list(started.glob(".*.tmp"))
    monkeypatch.undo()  # the disk has room again: the run resumes from the kept checkpoint
    result = invoke("nlp", "train", corpus, "--out", started, "--resume", "--max-steps", 4, *NLP_TINY)
    assert result.exit_code == 0, result.output


def test_disk_full_in_the_middle_of_training_keeps_the_last_checkpoint(monkeypatch, tmp_path, corpus):
    run = tmp_path / "run"
    # the third trainer-state write fails: steps 1 and 2 were checkpointed
    inject(monkeypatch, "write", errno.ENOSPC, only="trainer_state", after=2)
    result = invoke("nlp", "train", corpus, "--out", run, "--max-steps", 6, *NLP_TINY)
    assert result.exit_code == 2, result.output
    [error] = error_lines(result.stderr)
    assert "trainer_state.safetensors: cannot write (No space left on device)" in error
    _, meta = load_weights(run / "trainer_state.safetensors")
    assert '"step": 2' in meta["trainer"]
    monkeypatch.undo()
    result = invoke("nlp", "train", corpus, "--out", run, "--resume", "--max-steps", 6, *NLP_TINY)
    assert result.exit_code == 0, result.output
    _, meta = load_weights(run / "trainer_state.safetensors")
    assert '"step": 6' in meta["trainer"]


def test_run_folder_that_cannot_be_created_is_one_error_line(monkeypatch, tmp_path, corpus):
    from rnnsuite.core import run_lifecycle

    def no_mkdir(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(run_lifecycle.Path, "mkdir", no_mkdir)
    result = invoke("nlp", "train", corpus, "--out", tmp_path / "denied", "--max-steps", 1, *NLP_TINY)
    assert result.exit_code == 2, result.output
    [error] = error_lines(result.stderr)
    assert "denied: cannot create the run folder (Permission denied)" in error


def test_a_failed_write_is_still_an_oserror_for_code_that_tolerates_it(monkeypatch, tmp_path):
    """The music cache ignores failed writes by catching OSError; WriteError must stay one."""
    inject(monkeypatch, "replace", errno.EROFS)
    with pytest.raises(OSError) as info:
        checkpoint.atomic_write_bytes(tmp_path / "x.bin", b"data")
    assert info.value.errno == errno.EROFS and not (tmp_path / "x.bin").exists()
