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
    train_help = ("The default schedule is time-driven: training stops after --max-time seconds "
                  "(default 1320, 22 minutes; with `speech synth` and loading, under 30 minutes "
                  "on 2 CPU cores) and the learning rate's cosine spans that time, so a faster "
                  "machine trains more steps in the same time. --max-time 0 removes the limit "
                  "(then set --epochs).")

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
                "frontend_norm": True,       # layer norm between the front end and the LSTMs
            },
            "train": {
                # Time-driven: the cosine schedule spans max_time; epochs only bound it.
                "epochs": 1000,
                "max_time": 1320.0,
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
                "valid_fraction": 0.05,
                "tempo": [0.9, 1.0, 1.1],    # feature-domain tempo factors drawn per utterance
                "vtlp": [0.9, 1.1],          # vocal-tract-length warp factor range
                "spec_augment": True,
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
