"""`rnnsuite music train / evaluate / generate` end to end, tiny and on CPU."""

import io
import json

import mido
import pytest
from click.testing import CliRunner
from rnnsuite.apps.cli import cli

TINY = ["--set", "hidden_size=8", "--set", "embedding_dim=8", "--set", "batch_size=2",
        "--set", "bptt=16", "--max-steps", "2", "--device", "cpu"]


def _train(runner, data, out, *extra):
    result = runner.invoke(cli, ["music", "train", str(data), "--out", str(out), *TINY, *extra])
    assert result.exit_code == 0, result.output
    return result


def _assert_valid_midi(path):
    """Parses with mido, every NOTE_ON has its NOTE_OFF, tempo and time signature are set."""
    mid = mido.MidiFile(str(path))
    metas = {m.type for m in mid.tracks[0]}
    assert {"set_tempo", "time_signature"} <= metas
    sounding = set()
    notes = 0
    for msg in mido.merge_tracks(mid.tracks):
        if msg.type == "note_on" and msg.velocity > 0:
            assert (msg.channel, msg.note) not in sounding, "note on while sounding"
            sounding.add((msg.channel, msg.note))
            notes += 1
        elif msg.type in ("note_on", "note_off"):
            assert (msg.channel, msg.note) in sounding, "note off without note on"
            sounding.remove((msg.channel, msg.note))
    assert not sounding, "dangling note on"
    return notes


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_train_generate_evaluate_events(runner, midi_folder, tmp_path, cell):
    run = tmp_path / "run"
    _train(runner, midi_folder, run, "--cell", cell)
    assert (run / "model.safetensors").is_file() and (run / "config.json").is_file()
    out = tmp_path / "new.mid"
    result = runner.invoke(cli, ["music", "generate", str(run), "--out", str(out), "--length", "3",
                                 "--seed", "1"])
    assert result.exit_code == 0, result.output
    _assert_valid_midi(out)
    assert mido.MidiFile(str(out)).length == pytest.approx(3.0, abs=0.02)
    result = runner.invoke(cli, ["music", "evaluate", str(run), str(midi_folder), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert {"nll", "representation", "files", "skipped"} <= set(metrics)
    assert metrics["representation"] == "events" and metrics["skipped"] == 0
    assert metrics["files"] == 1 and metrics["seen"] == 4  # 5 files: 3 train, 1 valid, 1 test
    assert 0 < metrics["nll"] < 10


def test_same_seed_gives_the_same_file_and_wav_and_plot_are_written(runner, midi_folder, tmp_path):
    run = tmp_path / "run"
    _train(runner, midi_folder, run)
    files = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.mid"
        args = ["music", "generate", str(run), "--out", str(out), "--length", "2", "--seed", "7",
                "--temperature", "1.2", "--top-k", "40"]
        if name == "a":
            args += ["--wav", str(tmp_path / "a.wav"), "--plot", str(tmp_path / "a.png")]
        assert runner.invoke(cli, args).exit_code == 0
        files.append(out.read_bytes())
    assert files[0] == files[1]
    import soundfile

    audio, rate = soundfile.read(str(tmp_path / "a.wav"))
    assert rate == 22050 and len(audio) > rate
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"


def test_pianoroll_train_generate_bars_with_primer(runner, midi_folder, tmp_path):
    run = tmp_path / "run"
    _train(runner, midi_folder, run, "--representation", "pianoroll", "--set", "transpose=2")
    config = json.loads((run / "config.json").read_text())
    assert config["config"]["data"]["representation"] == "pianoroll"
    out = tmp_path / "new.mid"
    result = runner.invoke(cli, ["music", "generate", str(run), "--out", str(out), "--bars", "2",
                                 "--primer", str(midi_folder / "piece0.mid"), "--seed", "0"])
    assert result.exit_code == 0, result.output
    _assert_valid_midi(out)
    mid = mido.MidiFile(str(out))
    ts = [m for m in mid.tracks[0] if m.type == "time_signature"][0]
    assert (ts.numerator, ts.denominator) == (4, 4)
    result = runner.invoke(cli, ["music", "evaluate", str(run), str(midi_folder), "--json"])
    metrics = json.loads(result.stdout)
    assert metrics["representation"] == "pianoroll" and metrics["frames"] > 0


def test_broken_files_are_skipped_and_counted(runner, broken_folder, tmp_path):
    run = tmp_path / "run"
    result = _train(runner, broken_folder, run)
    assert "skipped" in result.stderr and "truncated.mid" in result.stderr
    result = runner.invoke(cli, ["music", "evaluate", str(run), str(broken_folder), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["skipped"] == 3


def test_folder_without_usable_midi_is_an_error(runner, tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.mid").write_bytes(b"garbage")
    result = runner.invoke(cli, ["music", "train", str(folder), "--out", str(tmp_path / "r"), *TINY])
    assert result.exit_code == 2
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1 and "bad: no usable MIDI file (1 skipped)" in errors[0]
    (folder / "a.mid").unlink()
    result = runner.invoke(cli, ["music", "train", str(folder), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "bad: no .mid or .midi files" in result.stderr


def test_bad_primer_and_missing_run_are_errors(runner, midi_folder, tmp_path):
    run = tmp_path / "run"
    _train(runner, midi_folder, run)
    bad = tmp_path / "bad.mid"
    bad.write_text("nope")
    result = runner.invoke(cli, ["music", "generate", str(run), "--out", str(tmp_path / "o.mid"),
                                 "--primer", str(bad)])
    assert result.exit_code == 2 and "bad.mid" in result.stderr
    assert not (tmp_path / "o.mid").exists()
    result = runner.invoke(cli, ["music", "generate", str(tmp_path / "nothing"), "--out",
                                 str(tmp_path / "o.mid")])
    assert result.exit_code == 2 and result.stderr.splitlines()[-1].startswith("Error:")


def test_generated_midi_parses_with_the_plugin_reader_too(runner, midi_folder, tmp_path):
    from rnnsuite.plugins.music.midi import read_midi

    run = tmp_path / "run"
    _train(runner, midi_folder, run)
    out = tmp_path / "g.mid"
    runner.invoke(cli, ["music", "generate", str(run), "--out", str(out), "--length", "2", "--seed", "3"])
    piece = read_midi(out)
    assert (piece.end > piece.start).all()
    assert io.BytesIO(out.read_bytes()).read(4) == b"MThd"


def test_resume_continues_bit_exact(runner, midi_folder, tmp_path):
    from safetensors.numpy import load_file

    straight, split = tmp_path / "straight", tmp_path / "split"
    # a constant LR: a cosine schedule would follow each command's own --max-steps budget
    args = [a for a in TINY if a not in ("--max-steps", "2")] + ["--set", "schedule=constant"]
    for run, steps in ((straight, ["--max-steps", "4"]), (split, ["--max-steps", "2"])):
        result = runner.invoke(cli, ["music", "train", str(midi_folder), "--out", str(run),
                                     *args, *steps, "--set", "checkpoint_every=1"])
        assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["music", "train", str(midi_folder), "--out", str(split), *args,
                                 "--max-steps", "4", "--resume"])
    assert result.exit_code == 0, result.output
    a = load_file(str(straight / "trainer_state.safetensors"))
    b = load_file(str(split / "trainer_state.safetensors"))
    weights = [k for k in a if k.startswith("model.")]
    assert weights and all((a[k] == b[k]).all() for k in weights)
