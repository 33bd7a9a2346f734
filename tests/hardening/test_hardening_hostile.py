"""Hostile files: loading a run folder never executes code, and files whose headers lie about
their sizes are refused without allocating the memory they ask for."""

import json
import os
import pickle
import resource
import shutil
import struct

import pytest
import torch
from hardening_helpers import EXAMPLES, error_lines, folder_digest, invoke

EXAMPLES_MIDI = EXAMPLES / "midi"

TEXT = "Double, double toil and trouble;\nFire burn and caldron bubble.\n" * 10
NLP_TINY = ["--set", "hidden_size=8", "--set", "embedding_dim=8", "--set", "batch_size=2",
            "--set", "bptt=8", "--set", "eval_streams=2", "--device", "cpu"]


class Payload:
    """Unpickling this runs `touch MARKER`: if the marker appears, code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def payloads(marker, tmp_path):
    """Ways to smuggle a pickle into a file: raw pickle, torch.save (a zip with a pickle), and a
    pickle behind a valid-looking safetensors length prefix."""
    raw = pickle.dumps(Payload(marker))
    torch.save({"weight": Payload(marker)}, tmp_path / "torch.pt")
    zipped = (tmp_path / "torch.pt").read_bytes()
    framed = struct.pack("<Q", len(raw)) + raw
    return {"pickle": raw, "torch_save": zipped, "framed_pickle": framed}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    (base / "spell.txt").write_text(TEXT, encoding="utf-8")
    result = invoke("nlp", "train", base / "spell.txt", "--out", base / "run", "--max-steps", 2, *NLP_TINY)
    assert result.exit_code == 0, result.output
    return base


def test_the_payload_really_runs_when_unpickled(tmp_path):
    """The control: the planted bytes are live, so a missing marker below means nothing ran."""
    marker = tmp_path / "ran"
    pickle.loads(payloads(marker, tmp_path)["pickle"])
    assert marker.exists()


# every file that `evaluate` (load_run) or `train --resume` reads from a run folder
TARGETS = [("model.safetensors", "evaluate"), ("config.json", "evaluate"),
           ("trainer_state.safetensors", "resume"), ("metrics.csv", "resume"), ("config.json", "resume")]


@pytest.mark.parametrize("kind", ["pickle", "torch_save", "framed_pickle"])
@pytest.mark.parametrize("target, verb", TARGETS, ids=[f"{t}-{v}" for t, v in TARGETS])
def test_a_pickle_planted_in_a_run_folder_never_runs(trained, tmp_path, target, verb, kind):
    run = tmp_path / "run"
    shutil.copytree(trained / "run", run)
    marker = tmp_path / "code_ran"
    (run / target).write_bytes(payloads(marker, tmp_path)[kind])
    before = folder_digest(run)
    if verb == "evaluate":
        result = invoke("nlp", "evaluate", run, trained / "spell.txt", "--json", "--device", "cpu")
    else:
        result = invoke("nlp", "train", trained / "spell.txt", "--out", run, "--resume", "--max-steps", 3,
                        "--device", "cpu")
    assert not marker.exists()
    assert result.exit_code == 2, result.output
    [line] = error_lines(result.stderr)
    assert target in line and "Traceback" not in result.output
    assert folder_digest(run) == before


def test_pickled_values_inside_the_task_state_are_only_data(trained, tmp_path):
    """The vocabulary and other task state live in config.json as JSON: a pickle stored there
    is a string, never loaded."""
    run = tmp_path / "run"
    shutil.copytree(trained / "run", run)
    marker = tmp_path / "code_ran"
    config = json.loads((run / "config.json").read_text())
    blob = pickle.dumps(Payload(marker)).decode("latin-1")
    for key, value in list(config["task_state"].items()):
        config["task_state"][key] = [blob] if isinstance(value, list) else blob
    (run / "config.json").write_text(json.dumps(config))
    result = invoke("nlp", "evaluate", run, trained / "spell.txt", "--json", "--device", "cpu")
    assert not marker.exists()
    assert result.exit_code == 2, result.output
    [line] = error_lines(result.stderr)
    assert str(run) in line and "Traceback" not in result.output


# -- lying headers ---------------------------------------------------------------------------

def within_memory(fn, cap_mb=300):
    """Run `fn` in a forked child whose address space may grow by at most `cap_mb`: a reader
    that believes a lying size and allocates it dies with MemoryError there, not here.
    Returns the child's outcome: "user_error: <message>", "ok", or what else went wrong."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(read_fd)
        outcome = "ok"
        try:
            with open("/proc/self/statm") as f:
                vsize = int(f.read().split()[0]) * resource.getpagesize()
            resource.setrlimit(resource.RLIMIT_AS, (vsize + cap_mb * 2**20, resource.RLIM_INFINITY))
            fn()
        except MemoryError:
            outcome = "memory_error"
        except Exception as exc:
            from rnnsuite.core import UserError

            outcome = (f"user_error: {exc}" if isinstance(exc, UserError)
                       else f"crash: {type(exc).__name__}: {exc}")
        os.write(write_fd, outcome.encode()[:4000])
        os._exit(0)
    os.close(write_fd)
    chunks = []
    while chunk := os.read(read_fd, 4096):
        chunks.append(chunk)
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    return b"".join(chunks).decode() or f"died: status {status}"


def safetensors_with(header_len: int, header: bytes = b"", body: bytes = b"") -> bytes:
    return struct.pack("<Q", header_len) + header + body


SAFETENSORS = {
    "length_2_to_63": safetensors_with(2**63),
    "length_past_the_end": safetensors_with(10_000, b'{"a": 1}'),
    "offsets_past_the_end": safetensors_with(
        len(h := b'{"w":{"dtype":"F32","shape":[100000,100000],"data_offsets":[0,40000000000]}}'), h, b"\0" * 16),
    "shape_lies_about_size": safetensors_with(
        len(h := b'{"w":{"dtype":"F32","shape":[1000000000],"data_offsets":[0,16]}}'), h, b"\0" * 16),
}


@pytest.mark.parametrize("name", list(SAFETENSORS))
def test_lying_safetensors_headers_are_refused_cheaply(tmp_path, name):
    from rnnsuite.core.checkpoint import load_weights

    path = tmp_path / "model.safetensors"
    path.write_bytes(SAFETENSORS[name])
    outcome = within_memory(lambda: load_weights(path))
    assert outcome.startswith(f"user_error: {path}: "), outcome


def smf(*chunks, tpb=96, fmt=0, ntracks=1):
    return b"MThd" + struct.pack(">IHHH", 6, fmt, ntracks, tpb) + b"".join(chunks)


def track(body: bytes, length=None):
    return b"MTrk" + struct.pack(">I", len(body) if length is None else length) + body


MAX_DELTA = b"\xff\xff\xff\x7f"  # 2**28 - 1 ticks, the largest variable-length delta
MIDI = {
    "track_length_4gb": smf(track(b"\x00\x90\x3c\x40\x00\xff\x2f\x00", length=0xFFFFFFF0)),
    "header_length_4gb": b"MThd" + struct.pack(">IHHH", 0xFFFFFFF0, 0, 1, 96) + track(b"\x00\xff\x2f\x00"),
    "meta_length_lies": smf(track(b"\x00\xff\x01\x8f\xff\xff\x7f" + b"x" * 8)),
    "sysex_length_lies": smf(track(b"\x00\xf0\x8f\xff\xff\x7f" + b"x" * 8)),
    "note_lasting_years": smf(track(b"\x00\x90\x3c\x40" + MAX_DELTA * 1 + b"\x80\x3c\x40" + b"\x00\xff\x2f\x00"),
                              tpb=1),
    "silence_lasting_years": smf(track(b"\x00\x90\x3c\x40\x10\x80\x3c\x40"
                                       + b"".join(MAX_DELTA + b"\xff\x01\x00" for _ in range(40))
                                       + b"\x00\xff\x2f\x00"), tpb=1),
}


@pytest.mark.parametrize("representation", ["events", "pianoroll"])
@pytest.mark.parametrize("name", list(MIDI))
def test_lying_midi_lengths_are_refused_cheaply(tmp_path, name, representation):
    from rnnsuite.plugins.music.data import Settings, load_corpus

    folder = tmp_path / "midi"
    folder.mkdir()
    (folder / f"{name}.mid").write_bytes(MIDI[name])
    settings = Settings(representation=representation)
    outcome = within_memory(lambda: load_corpus(folder / f"{name}.mid", settings, use_cache=False, quiet=True))
    assert outcome.startswith(f"user_error: {folder / name}.mid: "), outcome


def wav(channels=1, rate=16000, bits=16, riff_size=None, data_size=None, frames=b"\0\0" * 8):
    fmt = struct.pack("<HHIIHH", 1, channels, rate, (rate * channels * bits // 8) & 0xFFFFFFFF,
                      (channels * bits // 8) & 0xFFFF, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack(
        "<I", len(frames) if data_size is None else data_size) + frames
    return b"RIFF" + struct.pack("<I", len(body) if riff_size is None else riff_size) + body


WAVS = {
    "data_size_4gb": wav(data_size=0xFFFFFFF0),
    "riff_size_4gb": wav(riff_size=0xFFFFFFF0, data_size=0xFFFFFFE0),
    "65535_channels": wav(channels=65535, data_size=0xFFFFFFF0),
    "rate_zero": wav(rate=0),
    "fmt_chunk_4gb": b"RIFF" + struct.pack("<I", 36) + b"WAVEfmt " + struct.pack("<I", 0xFFFFFFF0) + b"\0" * 16,
}


@pytest.mark.parametrize("name", list(WAVS))
def test_lying_wav_sizes_are_refused_or_read_as_they_are(tmp_path, name):
    from rnnsuite.plugins.speech.audio import read_audio

    path = tmp_path / f"{name}.wav"
    path.write_bytes(WAVS[name])

    def read():
        audio = read_audio(path)
        assert len(audio) < 1000  # only what is really in the file

    outcome = within_memory(read)
    assert outcome == "ok" or outcome.startswith(f"user_error: {path}: "), outcome


def test_a_pickle_planted_in_the_music_cache_never_runs(tmp_path, monkeypatch):
    """The MIDI encoding cache lives outside the run folder, in a shared place: a pickle put
    where an entry belongs is treated as a damaged entry and re-made."""
    import numpy as np
    from rnnsuite.plugins.music import data as music_data

    monkeypatch.setenv("RNNSUITE_CACHE_DIR", str(tmp_path / "cache"))
    settings = music_data.Settings()
    midi = sorted((EXAMPLES_MIDI).glob("*.mid"))[0]
    first = music_data.encode_file(midi, settings)
    [entry] = list((tmp_path / "cache" / "music").glob("*.npz"))
    marker = tmp_path / "code_ran"
    np.savez(entry.with_suffix(""), data=np.array([Payload(marker)], dtype=object), meta=np.zeros(3))
    again = music_data.encode_file(midi, settings)
    assert not marker.exists()
    assert np.array_equal(first.data, again.data)
