"""The `music` domain: train on a folder of MIDI files, evaluate NLL, generate new MIDI.

Imported when the CLI starts, so nothing here imports torch, numpy or mido.
"""

from __future__ import annotations

import copy
import math

from rnnsuite.core import Domain
from rnnsuite.core.config import at_least, between, one_of

__all__ = ["MusicDomain", "MUSIC_DEFAULTS", "AUTO_REGULARISATION"]

#: Defaults on top of core's: the recipes of bench/RESULTS.md (music). Piano rolls (JSB
#: Chorales): LSTM-256 with a NADE over each frame's keys, DropConnect on W_hh and input/output
#: dropout, batches of 4 pieces, no transposition (the JSB set is all in C). Events (examples/midi, in ~2 CPU minutes): the
#: same LSTM-256 and batches, no dropout, +-5 transposition, pitch-class sharing, keys-down input.
MUSIC_DEFAULTS = {
    "data": {
        "representation": "events",  # events (Performance-RNN tokens) | pianoroll (88 keys)
        "steps_per_beat": 1,  # pianoroll frames per quarter note
        "drums": "drop",  # drop | keep (events only: DRUM tokens, channel 10)
        "sustain": True,  # sustain pedal (CC64) extends notes
        # augmentation: random transposition within +-N semitones; -1: auto, 5 for events and 0
        # for piano rolls (the JSB benchmark is all in C: transposing it cost 0.3 nats/frame)
        "transpose": -1,
        "stretch": 0.0,  # augmentation (events): random tempo stretch within +-fraction
        "valid_fraction": 0.1,  # files, not windows
        # -1: auto, 0.1, or 0 when `valid` is given: a user who keeps a separate validation
        # folder keeps a separate test folder too, and trains on everything in DATA
        "test_fraction": -1.0,
        "split_seed": 0,
        "valid": "",  # a separate validation file/folder instead of the split of DATA
        "test": "",  # a separate test file/folder instead of the split of DATA
        "cache": True,  # cache encoded files on disk ($RNNSUITE_CACHE_DIR/music)
    },
    "model": {
        "cell": "lstm",
        "hidden_size": 256,
        "num_layers": 1,
        "embedding_dim": 64,  # events: token embedding; pianoroll: linear encoder (0: none)
        "dropout": 0.0,  # between recurrent layers
        # regularisation, -1: auto (AUTO_REGULARISATION): the JSB recipe for piano rolls, none
        # for events, which need every update they get on a small folder
        "input_dropout": -1.0,  # on the encoded input
        "output_dropout": -1.0,  # on the recurrent output, before the head
        "weight_drop": -1.0,  # DropConnect on W_hh (AWD-LSTM)
        # events: NOTE_ON/NOTE_OFF tokens share a pitch-class part of the embedding and of the
        # output, so the model can hear the key (plugins/music/model.py)
        "pitch_classes": True,
        # events, with pitch_classes: the model also reads which keys are down after every
        # token, so it knows which notes it has to end (no droning notes)
        "keys_down": True,
        # pianoroll: how a frame's 88 keys are predicted. independent: one sigmoid per key;
        # nade: jointly, key by key given the keys below (plugins/music/nade.py); auto: nade
        "output": "auto",
        "nade_hidden": 150,  # the NADE's hidden units
    },
    "train": {
        "epochs": 60,  # JSB overfits after ~35 epochs at full LR: a 60-epoch cosine anneals there
        "batch_size": 0,  # pieces per batch; 0: auto, 4 (piano rolls and events)
        "bptt": 128,
        "lr": 2e-3,
        "weight_decay": 0.01,
        "schedule": "cosine",
        "min_lr": 0.05,
        "clip_grad_norm": 1.0,
    },
}


#: What `-1` (auto) means for the model's regularisation, per representation and frame output.
#: Piano rolls: the JSB recipes (bench/RESULTS.md, music): the joint (NADE) output fits the
#: training chorales far more closely and gains from stronger dropout than independent keys
#: (JSB test 5.38 against 5.51 nats/frame with the independent recipe's values). Events: none;
#: on examples/midi the JSB values cost 0.09 nats/event of validation NLL and most of the
#: tonality of the generated pieces.
AUTO_REGULARISATION = {
    "pianoroll": {"input_dropout": 0.2, "output_dropout": 0.4, "weight_drop": 0.3},
    "nade": {"input_dropout": 0.2, "output_dropout": 0.6, "weight_drop": 0.5},
    "events": {"input_dropout": 0.0, "output_dropout": 0.0, "weight_drop": 0.0},
}


def _fraction_or_auto(value):
    # MusicTask.regularisation and the test split: any negative value is auto
    if not (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and value < 1):
        return "must be in [0, 1), or -1 (auto)"


_fraction_or_auto.bad = [1.0]


class MusicDomain(Domain):
    name = "music"
    help = "Music from MIDI files: train, evaluate NLL, generate new MIDI."
    data_help = "a .mid file or a folder of .mid/.midi files (searched recursively)"

    def config_defaults(self) -> dict:
        return copy.deepcopy(MUSIC_DEFAULTS)

    def config_rules(self) -> dict:
        return {
            "data": {
                "representation": one_of("events", "pianoroll"),
                "steps_per_beat": at_least(1),
                "drums": one_of("drop", "keep"),
                "stretch": between(0, 1, high_open=True),
                "valid_fraction": between(0, 1, high_open=True),
                "test_fraction": _fraction_or_auto,
                "split_seed": at_least(0),  # numpy's generators take no negative seed
            },
            "model": {
                "embedding_dim": at_least(0),  # 0: none (events: hidden_size)
                "input_dropout": _fraction_or_auto,
                "output_dropout": _fraction_or_auto,
                "weight_drop": _fraction_or_auto,
                "output": one_of("auto", "independent", "nade"),
                "nade_hidden": at_least(1),
            },
            "train": {"batch_size": at_least(0)},  # 0: auto
        }

    def legacy_config(self) -> dict:
        # runs saved before the pitch-class tables, the keys-down input and the joint frame
        # output: plain tables, independent keys
        return {"model": {"pitch_classes": False, "keys_down": False, "output": "independent"}}

    def metric_names(self, config) -> tuple:
        return ("loss", "nll")

    def create_task(self, config, data, state):
        from rnnsuite.plugins.music.task import MusicTask

        return MusicTask(config, data, state)

    def cli_options(self, verb):
        import click

        if verb != "train":
            return []
        return [
            click.Option(["--representation"], type=click.Choice(["events", "pianoroll"]),
                         help="events (expressive, default) or pianoroll (88 keys, beat frames)."),
            click.Option(["--drums"], type=click.Choice(["drop", "keep"]),
                         help="Drums (channel 10): drop (default) or keep as separate tokens."),
        ]

    def commands(self) -> list:
        from rnnsuite.plugins.music.commands import generate

        return [generate]
