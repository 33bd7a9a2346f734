"""The speech domain: `rnnsuite speech train|evaluate|transcribe|synth`. Imports no torch."""

from __future__ import annotations

import math

from rnnsuite.core import Domain
from rnnsuite.core.config import at_least, between, one_of

__all__ = ["SpeechDomain", "decoder_options"]


def decoder_options(click) -> list:
    """The decoding options of `evaluate` and `transcribe` (names are `data` config keys)."""
    return [click.Option(["--beam"], type=int,
                         help="Beam width of the CTC prefix search (1: greedy)."),
            click.Option(["--lm-weight"], type=float,
                         help="Weight of the character n-gram LM (0: none)."),
            click.Option(["--lexicon"], metavar="on|off|PATH",
                         help="Spell only words of a lexicon, scored by a word n-gram LM: 'on' "
                              "(default) uses the run's, built from its training transcripts; "
                              "PATH builds one from a manifest or a text file of transcripts "
                              "(for runs trained without one)."),
            click.Option(["--word-weight"], type=float,
                         help="Weight of the word n-gram LM with --lexicon (0: trie only).")]


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _f_max(value):
    # With f_max the filters start at 20 Hz (features.LogMel) and torchaudio refuses a top below
    # the bottom; the audio is read at 16 kHz, so nothing lies above 8 kHz.
    if not (_number(value) and (value == 0 or 20 < value <= 8000)):
        return "must be 0 (up to 8000 Hz) or in (20, 8000]"


_f_max.bad = [10.0, 9000.0]


def _tempo(value):
    if not (isinstance(value, list) and all(_number(v) and v > 0 for v in value)):
        return "must be a list of positive tempo factors, e.g. [0.9, 1.0, 1.1] ([]: none)"


_tempo.bad = [[0.0], [1.0, -1.0]]


def _vtlp(value):
    if not (value == [] or (isinstance(value, list) and len(value) == 2
                            and all(_number(v) and v > 0 for v in value))):
        return "must be two positive warp factors [low, high], e.g. [0.9, 1.1] ([]: none)"


_vtlp.bad = [[0.9], [0.0, 1.1]]


def _lexicon(value):
    if not (isinstance(value, str) and value):
        return "must be on, off or the path of a manifest or a text file"


_lexicon.bad = [""]


class SpeechDomain(Domain):
    name = "speech"
    help = "Speech recognition: a CTC recogniser on log-mel features (synth, train, transcribe)."
    data_help = "a manifest (CSV/TSV with path,text columns) or a folder of x.wav + x.txt"
    train_help = ("The default schedule is time-driven: training stops after --max-time seconds "
                  "(default 1500, 25 minutes; with `speech synth` and loading, under 30 minutes "
                  "on 2 CPU cores) and the learning rate's cosine spans that time, so a faster "
                  "machine trains more steps in the same time. --max-time 0 removes the limit "
                  "(then set --epochs).")

    def config_defaults(self) -> dict:
        return {
            "model": {
                "cell": "lstm",
                "hidden_size": 160,          # 192: no better per step, 1.3x slower
                "num_layers": 3,
                "bidirectional": True,       # the recogniser reads the whole utterance
                "dropout": 0.0,              # undertrained at this budget: dropout cost 1.6 points
                "subsample": 4,              # 1, 2 or 4: output frames of 10, 20 or 40 ms
                "conv_channels": 192,
                "frontend_norm": True,       # layer norm between the front end and the LSTMs
            },
            "train": {
                # Time-driven: the cosine schedule spans max_time; epochs only bound it.
                "epochs": 1000,
                "max_time": 1500.0,
                "batch_size": 16,
                "lr": 2e-3,
                "warmup_steps": 200,
                "clip_grad_norm": 5.0,
                "monitor": "wer",
            },
            "data": {
                "units": "phones",           # phones (CMUdict) or chars
                "n_mels": 40,
                "f_max": 4000.0,             # features up to 4 kHz: wide band and telephone alike
                "min_seconds": 0.2,
                "max_seconds": 20.0,
                "cache": True,               # features cached on disk ($RNNSUITE_CACHE_DIR/speech)
                "feature_memory_mb": 1024,   # features up to this size are held in memory; beyond, read a batch at a time from the cache
                "valid_fraction": 0.05,
                "tempo": [0.9, 1.0, 1.1],    # feature-domain tempo factors drawn per utterance
                "vtlp": [0.9, 1.1],          # vocal-tract-length warp factor range
                "spec_augment": False,       # at this budget it cost 1.6 points of held-out WER
                "spec_augment_from": 1,      # the epoch SpecAugment starts (0: from the start)
                "freq_masks": 2,
                "freq_width": 8,
                "time_masks": 2,
                "time_fraction": 0.05,
                "time_width": 40,
                "beam": 16,                  # lexicon search width (chars without a lexicon: 1 is greedy)
                "lm_order": 5,               # chars: character n-gram LM from the transcripts
                "lm_weight": 0.5,
                "lm_bonus": 1.0,
                # Lexicon decoding: words of the training transcripts, their pronunciations
                # (phones) or spellings (chars) in a trie, scored by a word n-gram LM
                # (Kneser-Ney). "on": the run's own; "off" (chars only); or a manifest / text
                # file to build it from.
                "lexicon": "on",
                "word_lm_order": 3,          # 0: the lexicon only constrains, no word LM
                "word_weight": 1.0,
                "word_bonus": 1.0,           # per word, on top of the word LM
            },
        }

    def config_rules(self) -> dict:
        subsample = one_of(1, 2, 4)
        subsample.bad = [3]
        return {
            "model": {"subsample": subsample, "conv_channels": at_least(1)},
            "data": {
                "units": one_of("phones", "chars"),
                "n_mels": at_least(1),
                "f_max": _f_max,
                "min_seconds": at_least(0),
                "feature_memory_mb": at_least(0),
                "max_seconds": at_least(0),  # 0: no limit
                "valid_fraction": between(0, 1, high_open=True),
                "tempo": _tempo,
                "vtlp": _vtlp,
                "spec_augment_from": at_least(0),
                "freq_masks": at_least(0),
                "freq_width": at_least(0),
                "time_masks": at_least(0),
                "time_fraction": between(0, 1),
                "time_width": at_least(0),
                "beam": at_least(0),  # 0 and 1: greedy without a lexicon
                "lm_order": at_least(0),  # 0: no character LM
                "lm_weight": at_least(0),
                "lexicon": _lexicon,
                "word_lm_order": at_least(0),
                "word_weight": at_least(0),
            },
        }

    def metric_names(self, config) -> tuple:
        return ("loss", "per" if config["data"]["units"] == "phones" else "cer", "wer")

    def legacy_config(self) -> dict:
        # runs saved before these keys: characters, features to half the sample rate, no
        # layer norm after the front end
        return {"data": {"units": "chars", "f_max": 0.0}, "model": {"frontend_norm": False}}

    def create_task(self, config, data, state):
        from rnnsuite.plugins.speech.task import SpeechTask

        return SpeechTask(config, data, state)

    def cli_options(self, verb):
        import click

        if verb != "evaluate":
            return []
        return decoder_options(click)

    def commands(self) -> list:
        from rnnsuite.plugins.speech.commands import synth, transcribe

        return [synth, transcribe]
