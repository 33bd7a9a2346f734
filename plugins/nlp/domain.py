"""The `nlp` domain: train language models on text, evaluate perplexity, generate text.

Imported when the CLI starts, so nothing here imports torch.
"""

from __future__ import annotations

from rnnsuite.core import Domain, UserError
from rnnsuite.core.config import at_least, between, one_of

__all__ = ["LanguageModelDomain", "NLP_DEFAULTS"]

#: Defaults on top of core's. The recipe trains well on a few CPU cores without tuning: a 2-layer
#: LSTM over characters, AdamW with warm-up and cosine decay, clipping at 1, locked (variational)
#: dropout 0.2 between the layers and before the decoder. Small steps of 16 streams x 32 characters
#: at lr 4e-3 with weight decay 0.05, and a moving average of the weights: on tiny-shakespeare in 15
#: wall-clock minutes on 2 CPU cores they reach 1.497 nats/char on average (seeds 0-4: 1.482, 1.506,
#: 1.492, 1.507, 1.497), where per-step dropout masks gave 1.505 on average and windows of 64 1.514
#: (seed 0) (bench/RESULTS.md, NLP).
NLP_DEFAULTS = {
    "data": {
        "tokenizer": "char",  # char | word | bpe (bpe needs `pip install tokenizers`)
        "lowercase": False,  # word/bpe tokeniser: fold case
        "vocab_size": 1000,  # bpe tokeniser: merges learnt up to this vocabulary size
        "min_count": 1,  # word tokeniser: rarer words become <unk>
        "encoding": "utf-8",
        "valid": None,  # a separate validation text (file or folder) instead of the split
        "test": None,  # a separate test text instead of the split
        # contiguous train,valid,test fractions of DATA, by position; auto: 0.9,0.05,0.05, or
        # all of DATA to train when a separate `valid` is given (an explicit split is followed)
        "split": "auto",
        "variable_bptt": False,  # AWD-LSTM: window length drawn around bptt each step
        "eval_streams": 16,  # parallel streams when validating during training (evaluate uses 1)
    },
    "model": {
        "cell": "lstm",
        "hidden_size": 256,
        "num_layers": 2,
        "embedding_dim": 64,
        "tie_weights": True,  # share embedding and decoder when embedding_dim == hidden_size
        "dropout": 0.2,  # between recurrent layers
        "embedding_dropout": 0.0,  # on the embedded input
        "output_dropout": 0.2,  # on the last layer's output, before the decoder
        "weight_drop": 0.0,  # DropConnect on W_hh (AWD-LSTM)
        "locked_dropout": True,  # one dropout mask over a window's time steps (AWD-LSTM)
    },
    "train": {
        "batch_size": 16,
        "bptt": 32,
        "lr": 4e-3,
        "weight_decay": 0.05,
        "schedule": "cosine",
        "warmup_steps": 100,
        "min_lr": 0.05,
        "clip_grad_norm": 1.0,
        "ema": 0.999,  # validate and keep a moving average of the weights
    },
}


def _optional_path(value):
    if value is not None and not isinstance(value, str):
        return "must be a file or folder path"


_optional_path.bad = [1]


def _encoding(value):
    from rnnsuite.plugins.nlp.data import _check_encoding

    if value:  # empty: utf-8
        try:
            _check_encoding(value)
        except UserError:
            return "must be a text encoding Python knows (utf-8, latin-1, cp1252...)"


_encoding.bad = ["no-such-encoding"]


def _split(value):
    from rnnsuite.plugins.nlp.data import parse_split

    if value == "auto":
        return None
    try:
        parse_split(value)
    except UserError:
        return ("must be auto or three non-negative numbers train,valid,test (train > 0) like "
                "0.9,0.05,0.05")


_split.bad = ["0.9,0.1", "0,0.5,0.5"]


def _left_to_right(value):
    if value:
        return "must be false: a language model reads left to right"


_left_to_right.bad = [True]


class LanguageModelDomain(Domain):
    name = "nlp"
    help = "Language models on text: train, evaluate perplexity and bits/char, generate."
    data_help = "a text file or a folder of .txt/.md files"

    def config_defaults(self) -> dict:
        import copy

        return copy.deepcopy(NLP_DEFAULTS)

    def config_rules(self) -> dict:
        return {
            "data": {
                "tokenizer": one_of("char", "word", "bpe"),
                "vocab_size": at_least(1),
                "min_count": at_least(0),  # 0 keeps every word, as 1 does
                "encoding": _encoding,
                "valid": _optional_path,
                "test": _optional_path,
                "split": _split,
                "eval_streams": at_least(1),
            },
            "model": {
                "embedding_dim": at_least(0),  # 0: hidden_size
                "embedding_dropout": between(0, 1, high_open=True),
                "output_dropout": between(0, 1, high_open=True),
                "bidirectional": _left_to_right,
            },
        }

    def legacy_config(self) -> dict:
        # what runs saved before each key did: no output dropout, per-step dropout masks,
        # untied weights, an embedding as wide as the hidden state, no weight averaging
        return {"model": {"output_dropout": 0.0, "locked_dropout": False, "tie_weights": False,
                          "embedding_dim": 0},
                "train": {"ema": 0.0}}

    def metric_names(self, config) -> tuple:
        return ("loss", "perplexity", "bits_per_char")

    def create_task(self, config, data, state):
        from rnnsuite.plugins.nlp.task import LanguageModelTask

        return LanguageModelTask(config, data, state)

    def cli_options(self, verb):
        import click

        encoding = click.Option(["--encoding"], help="Text encoding of the input files (default utf-8).")
        if verb == "train":
            return [
                click.Option(["--valid"], type=click.Path(), help="Validation text (file or folder) instead of the split; then all of DATA trains "
                             "unless --set split=... asks for a test part."),
                click.Option(["--test"], type=click.Path(), help="Test text (file or folder) instead of the split."),
                click.Option(["--tokenizer"], type=click.Choice(["char", "word", "bpe"]),
                             help="Tokeniser (default char; bpe needs `pip install tokenizers`)."),
                encoding,
            ]
        if verb == "evaluate":
            return [encoding]
        return []

    def commands(self) -> list:
        from rnnsuite.plugins.nlp.commands import generate

        return [generate]
