"""Features on disk (feature_store): a training corpus keeps no audio in memory, its features
come back from the cache equal to the ones computed from the audio, a second load reads no
audio, and a damaged or unwritable cache is never an error."""

import os
import shutil

import pytest
import torch
from rnnsuite.apps.cli import build_config
from rnnsuite.core.plugins import domain_named
from speech_helpers import EXAMPLES, TINY


def make_task(data, *overrides):
    domain = domain_named("speech")
    # feature_memory_mb=0: read from the disk cache, as a corpus too large for memory is
    config = build_config(domain, overrides=[*TINY, "valid_fraction=0.2", "feature_memory_mb=0",
                                             *overrides])
    return domain.create_task(config, data, None)


@pytest.fixture
def cold_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNSUITE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "speech"


def reference_features(task, utterance):
    """The features computed afresh from the file's audio, as the task computes them."""
    return task._wave_features(utterance.waveform())


def test_training_corpus_holds_no_audio_and_its_cached_features_equal_fresh_ones(cold_cache):
    task = make_task(EXAMPLES / "manifest.csv")
    everyone = task.utterances + task.valid
    assert len(everyone) == 10 and all(u.audio is None for u in everyone)
    assert len(list(cold_cache.rglob("*.npz"))) == 10
    assert not any(isinstance(r.source, torch.Tensor) for r in task.features + task.valid_features)
    for u, ref in zip(everyone, task.features + task.valid_features):
        feats = ref.load()
        assert feats.dtype == torch.float16 and len(feats) == ref.frames
        assert torch.equal(feats, reference_features(task, u))
    # what the cropping knows without reading the features
    start, end = task._crop_bounds(0, (1.0, 1.0))
    assert torch.equal(task._cropped(0, (1.0, 1.0)), task.features[0].load()[start:end])


def test_a_second_load_reads_no_audio(cold_cache, monkeypatch, capsys):
    first = make_task(EXAMPLES / "manifest.csv")
    # every entry written (a failed write would keep its features in memory, with a warning)
    assert "Warning" not in capsys.readouterr().err
    assert len(list(cold_cache.rglob("*.npz"))) == 10
    import rnnsuite.plugins.speech.data as data

    def no_reading(path, *a, **k):
        raise AssertionError(f"read {path}")

    monkeypatch.setattr(data, "read_audio", no_reading)
    second = make_task(EXAMPLES / "manifest.csv")
    assert "(10 from the cache)" in capsys.readouterr().err
    for a, b in zip(first.features + first.valid_features, second.features + second.valid_features):
        assert (a.frames, a.span) == (b.frames, b.span) and torch.equal(a.load(), b.load())
    assert [u.samples for u in first.utterances] == [u.samples for u in second.utterances]


def test_other_settings_or_an_edited_file_miss_the_cache(cold_cache, tmp_path, capsys):
    make_task(EXAMPLES / "manifest.csv")
    make_task(EXAMPLES / "manifest.csv", "n_mels=20")
    assert len(list(cold_cache.rglob("*.npz"))) == 20
    copy = tmp_path / "copy"
    shutil.copytree(EXAMPLES, copy)
    with open(copy / "10-16k-mono.wav", "r+b") as f:   # one sample changed
        f.seek(-2, os.SEEK_END)
        f.write(b"\x01\x02")
    capsys.readouterr()
    make_task(copy / "manifest.csv")
    assert "(9 from the cache)" in capsys.readouterr().err


def test_a_damaged_entry_is_made_again_and_an_unwritable_cache_keeps_features_in_memory(
        cold_cache, tmp_path, monkeypatch, capsys):
    first = make_task(EXAMPLES / "manifest.csv")
    victim = first.features[0].source
    victim.write_bytes(b"torn")
    again = make_task(EXAMPLES / "manifest.csv")
    assert torch.equal(again.features[0].load(), reference_features(again, again.utterances[0]))
    monkeypatch.setenv("RNNSUITE_CACHE_DIR", "/proc/no-such-cache")   # cannot be created
    capsys.readouterr()
    memory = make_task(EXAMPLES / "manifest.csv")
    assert all(isinstance(r.source, torch.Tensor) for r in memory.features)
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("Warning")]
    assert len(warnings) == 1 and "/proc/no-such-cache/speech: cannot write the cache" in warnings[0]
    assert torch.equal(memory.features[0].load(), again.features[0].load())
    off = make_task(EXAMPLES / "manifest.csv", "cache=false")
    assert all(isinstance(r.source, torch.Tensor) for r in off.features)


def test_features_that_fit_the_memory_budget_are_held_in_memory(cold_cache):
    on_disk = make_task(EXAMPLES / "manifest.csv")
    held = make_task(EXAMPLES / "manifest.csv", "feature_memory_mb=1024")
    assert all(isinstance(r.source, torch.Tensor) for r in held.features + held.valid_features)
    for a, b in zip(on_disk.features, held.features):
        assert torch.equal(a.load(), b.load())
