"""rnnsuite-digits: a third-party domain plugin, written only against rnnsuite's public API.

It classifies scikit-learn's bundled 8x8 handwritten digits, each image read row by row as a
sequence of 8 steps of 8 pixels: the classic "RNNs on images" exercise.
"""

from rnnsuite.core import Domain, hookimpl
from rnnsuite.core.config import between

__all__ = ["DigitsDomain"]


class DigitsDomain(Domain):
    name = "digits"
    help = "Classify handwritten digits (scikit-learn's 8x8 images, read row by row)."
    data_required = False  # the data ships with scikit-learn

    def config_defaults(self) -> dict:
        return {
            "model": {"cell": "gru", "hidden_size": 128, "dropout": 0.2},
            "train": {"epochs": 15, "batch_size": 32, "lr": 5e-3, "weight_decay": 1e-4,
                      "monitor": "accuracy", "monitor_mode": "max", "schedule": "cosine"},
            "data": {"valid_fraction": 0.1, "test_fraction": 0.2, "split_seed": 0, "shift": False},
        }

    def config_rules(self) -> dict:
        return {"data": {"valid_fraction": between(0, 1, high_open=True),
                         "test_fraction": between(0, 1, high_open=True)}}

    def metric_names(self, config) -> tuple:
        return ("loss", "accuracy")

    def create_task(self, config, data, state):
        from rnnsuite_digits.task import DigitsTask

        return DigitsTask(config, data, state)


@hookimpl
def rnnsuite_register_domains(register):
    register(DigitsDomain())


@hookimpl
def rnnsuite_register_cells(register):
    from rnnsuite_digits.cells import LayerNormLSTMCell

    register("lnlstm", LayerNormLSTMCell)
