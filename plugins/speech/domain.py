"""The speech domain: `rnnsuite speech train|evaluate|transcribe|synth`. Imports no torch."""

from __future__ import annotations

from rnnsuite.core import Domain

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


class SpeechDomain(Domain):
    name = "speech"
    help = "Speech recognition: a CTC recogniser on log-mel features (synth, train, transcribe)."
    data_help = "a manifest (CSV/TSV with path,text columns) or a folder of x.wav + x.txt"

    def config_defaults(self) -> dict:
        return {
            "model": {
                "cell": "lstm",
                "hidden_size": 192,
                "num_layers": 3,
                "bidirectional": True,       # the recogniser reads the whole utterance
                "dropout": 0.1,
                "subsample": 4,              # 1, 2 or 4: output frames of 10, 20 or 40 ms
                "conv_channels": 192,
            },
            "train": {
                "epochs": 30,
                "batch_size": 32,
                "lr": 2e-3,
                "warmup_steps": 200,
                "clip_grad_norm": 5.0,
                "monitor": "wer",
            },
            "data": {
                "n_mels": 80,
                "min_seconds": 0.2,
                "max_seconds": 20.0,
                "valid_fraction": 0.05,
                "speed_perturb": [0.9, 1.0, 1.1],
                "spec_augment": True,
                "freq_masks": 2,
                "freq_width": 15,
                "time_masks": 2,
                "time_fraction": 0.05,
                "time_width": 40,
                "beam": 8,                   # 1: greedy decoding
                "lm_order": 5,               # character n-gram LM from the transcripts; 0: none
                "lm_weight": 0.5,
                "lm_bonus": 1.0,
                # Lexicon decoding: words from the training transcripts, spelled through a
                # character trie, scored by a word n-gram LM (Kneser-Ney). "on": the run's own
                # (built at training time); "off"; or a manifest / text file to build it from.
                "lexicon": "on",
                "word_lm_order": 3,          # 0: the lexicon only constrains, no word LM
                "word_weight": 0.6,
                "word_bonus": 0.0,           # per word, on top of the word LM
                "lexicon_lm_bonus": 2.0,     # per character with the lexicon (lm_bonus without)
            },
        }

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
