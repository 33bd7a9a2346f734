"""Corpus loading: the token cache, bad files, the split by file, augmentation bounds."""

import numpy as np
import pytest
import torch
from rnnsuite.core import UserError
from rnnsuite.core.config import default_config
from rnnsuite.plugins.music import data as music_data
from rnnsuite.plugins.music.data import Settings, load_corpus, split_files
from rnnsuite.plugins.music.domain import MusicDomain


def test_second_load_parses_no_midi(midi_folder, music_cache, monkeypatch):
    first, _ = load_corpus(midi_folder, Settings())
    assert len(list(music_cache.glob("*.npz"))) == 5

    def no_parsing(*args, **kwargs):
        raise AssertionError("MIDI was parsed despite the cache")

    monkeypatch.setattr(music_data, "parse_midi_bytes", no_parsing)
    again, _ = load_corpus(midi_folder, Settings())
    assert [p.key for p in again] == [p.key for p in first]
    assert all((a.data == b.data).all() for a, b in zip(first, again))
    with pytest.raises(AssertionError):  # other settings: another key, so parsed again
        load_corpus(midi_folder, Settings(representation="pianoroll"))


def test_an_unwritable_cache_encodes_in_memory_and_says_so_once(midi_folder, monkeypatch, capsys):
    monkeypatch.setenv("RNNSUITE_CACHE_DIR", "/proc/no-such-cache-music")   # cannot be created
    pieces, _ = load_corpus(midi_folder, Settings())
    again, _ = load_corpus(midi_folder, Settings())
    assert len(pieces) == len(again) == 5
    assert all((a.data == b.data).all() for a, b in zip(pieces, again))
    warnings = [line for line in capsys.readouterr().err.splitlines() if "cannot write the cache" in line]
    assert warnings == ["Warning: /proc/no-such-cache-music/music: cannot write the cache "
                        "(No such file or directory); what it would hold stays in memory and is "
                        "derived again next time"]


def test_cache_key_follows_file_content(midi_folder, make_chorale):
    before = {p.name: p.key for p in load_corpus(midi_folder, Settings())[0]}
    make_chorale(99).save(str(midi_folder / "piece0.mid"))
    after = {p.name: p.key for p in load_corpus(midi_folder, Settings())[0]}
    assert before["piece0.mid"] != after["piece0.mid"]
    assert before["piece1.mid"] == after["piece1.mid"]


def test_bad_files_are_skipped_with_a_warning(broken_folder, capsys):
    pieces, skipped = load_corpus(broken_folder, Settings())
    assert len(pieces) == 5 and len(skipped) == 3
    err = capsys.readouterr().err
    assert "Warning: skipped" in err and "5 files read, 3 skipped" in err


def test_a_single_bad_file_is_a_user_error(broken_folder):
    with pytest.raises(UserError, match="truncated.mid: not a valid MIDI file"):
        load_corpus(broken_folder / "truncated.mid", Settings())


def test_split_is_by_file_and_reproducible(midi_folder):
    pieces, _ = load_corpus(midi_folder, Settings())
    train, valid, test = split_files(pieces * 4, 0.2, 0.2, seed=0)  # duplicates stay together
    keys = [{p.key for p in s} for s in (train, valid, test)]
    assert not (keys[0] & keys[1]) and not (keys[0] & keys[2]) and not (keys[1] & keys[2])
    assert [len(k) for k in keys] == [3, 1, 1]
    assert split_files(pieces, 0.2, 0.2, seed=0)[1][0].key == valid[0].key


@pytest.mark.parametrize("representation", ["events", "pianoroll"])
def test_epochs_replay_exactly_and_transposition_keeps_notes_in_range(midi_folder, representation):
    config = default_config(MusicDomain())
    config["data"].update(representation=representation, transpose=12, stretch=0.1)
    config["train"].update(batch_size=2, bptt=16)
    task = MusicDomain().create_task(config, midi_folder, None)
    a = list(task.train_batches(3, torch.Generator().manual_seed(5)))
    b = list(task.train_batches(3, torch.Generator().manual_seed(5)))
    assert len(a) == len(b) == len(task.train_batches(3, torch.Generator().manual_seed(5)))
    assert all((x["x"] == y["x"]).all() and (x["mask"] == y["mask"]).all() for x, y in zip(a, b))
    assert sum(int(x["reset"]) for x in a) == 2  # 3 training pieces in groups of 2
    for batch in a:
        if representation == "events":
            assert int(batch["x"].max()) < len(task.vocab)
        else:
            assert batch["x"].shape[-1] == 88


def test_pianoroll_targets_are_next_frames(midi_folder):
    config = default_config(MusicDomain())
    config["data"].update(representation="pianoroll", transpose=0)
    task = MusicDomain().create_task(config, midi_folder, None)
    x, y, mask = task._pad([p.data for p in task.train_pieces])
    first = task.train_pieces[0].data
    assert (x[: len(first) - 1, 0].numpy() == first[:-1]).all()
    assert (y[: len(first) - 1, 0].numpy() == first[1:]).all()
    assert int(mask[:, 0].sum()) == len(first) - 1  # the first frame is never a target


def test_pianoroll_head_starts_at_key_log_odds(midi_folder):
    config = default_config(MusicDomain())
    config["data"].update(representation="pianoroll")
    task = MusicDomain().create_task(config, midi_folder, None)
    frames = np.concatenate([p.data for p in task.train_pieces]).astype(float)
    p = (frames.sum(0) + 1) / (len(frames) + 2)
    bias = task.build_model().head.bias.detach().numpy()
    assert np.allclose(1 / (1 + np.exp(-bias)), p, atol=1e-6)


def test_plugin_import_and_cli_setup_stay_light():
    import subprocess
    import sys

    code = ("import sys, rnnsuite.plugins.music\n"
            "from rnnsuite.plugins.music.domain import MusicDomain\n"
            "d = MusicDomain(); d.config_defaults(); d.cli_options('train'); d.commands()\n"
            "print(','.join(m for m in ('torch', 'mido', 'numpy', 'librosa', 'matplotlib')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("representation, expected", [("pianoroll", 4), ("events", 4)])
def test_batch_size_zero_picks_the_representations_default(midi_folder, representation, expected):
    config = default_config(MusicDomain())
    config["data"].update(representation=representation)
    config["train"].update(batch_size=0)
    task = MusicDomain().create_task(config, midi_folder, None)
    assert task.batch_size == expected
    config["train"].update(batch_size=2)
    assert task.batch_size == 2  # an explicit size wins


@pytest.mark.parametrize("representation, output, expected", [
    ("pianoroll", "auto", {"input_dropout": 0.2, "output_dropout": 0.6, "weight_drop": 0.5}),
    ("pianoroll", "independent", {"input_dropout": 0.2, "output_dropout": 0.4, "weight_drop": 0.3}),
    ("events", "auto", {"input_dropout": 0.0, "output_dropout": 0.0, "weight_drop": 0.0}),
])
def test_auto_regularisation_follows_the_representation(representation, output, expected):
    config = default_config(MusicDomain())
    config["data"].update(representation=representation)
    config["model"].update(output=output)
    task = MusicDomain().create_task(config, None, {"representation": representation})
    assert task.regularisation == expected
    config["model"].update(output_dropout=0.25)
    assert task.regularisation["output_dropout"] == 0.25  # an explicit value wins
    model = task.build_model()
    assert model.output_dropout.p == 0.25 and model.rnn.weight_drop == expected["weight_drop"]


def _folder(root, seeds, make_chorale):
    root.mkdir(parents=True)
    for i in seeds:
        make_chorale(i).save(str(root / f"piece{i}.mid"))
    return root


def test_a_separate_validation_folder_holds_nothing_else_out_unless_asked(tmp_path, make_chorale,
                                                                          capsys):
    train = _folder(tmp_path / "train", range(10), make_chorale)
    valid = _folder(tmp_path / "valid", range(10, 13), make_chorale)
    config = default_config(MusicDomain())
    config["data"].update(valid=str(valid))
    task = MusicDomain().create_task(config, train, None)
    assert (len(task.train_pieces), len(task.valid_pieces), len(task.test_pieces)) == (10, 3, 0)
    err = capsys.readouterr().err
    assert f"10 training files from {train}" in err and f"3 validation files from {valid}" in err
    assert "no test files (nothing held out" in err
    # asked for: a test split of the training folder, named on stderr
    config["data"].update(test_fraction=0.2)
    task = MusicDomain().create_task(config, train, None)
    assert (len(task.train_pieces), len(task.test_pieces)) == (8, 2)
    err = capsys.readouterr().err
    names = sorted(p.name for p in task.test_pieces)
    assert f"2 test files held out of {train} (0.2 of its files): {names[0]}, {names[1]}" in err
    assert task.state["test_files"] == names


def test_without_a_validation_folder_a_tenth_goes_to_each_split(tmp_path, make_chorale, capsys):
    train = _folder(tmp_path / "train", range(20), make_chorale)
    task = MusicDomain().create_task(default_config(MusicDomain()), train, None)
    assert (len(task.train_pieces), len(task.valid_pieces), len(task.test_pieces)) == (16, 2, 2)
    err = capsys.readouterr().err
    assert "2 validation files held out" in err and "2 test files held out" in err
