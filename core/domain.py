"""The domain contract: what a plugin gives core so that `train` and `evaluate` work for it.

Nothing here imports torch: domains are registered when the CLI starts.
See docs/plugin-guide.md for a walk-through.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

__all__ = ["Domain", "Task", "StepOutput", "ExportGraph"]


class Domain:
    """A family of tasks with its own data pipeline and CLI group (`rnnsuite <name> ...`)."""

    #: CLI group name and the folder under `runs/`.
    name: str = ""
    #: One line shown by `rnnsuite --help`.
    help: str = ""
    #: False when `train`/`evaluate` take no DATA argument (the data ships with a package).
    data_required: bool = True
    #: Metavar and help for DATA in `train`/`evaluate`.
    data_help: str = "a data file or folder"
    #: More help for `train`, after its first line (e.g. how long the defaults train).
    train_help: str = ""

    def config_defaults(self) -> dict:
        """Defaults that add to or override core's: `{"model": {...}, "train": {...}, "data": {...}}`."""
        return {}

    def config_rules(self) -> dict:
        """Allowed values of this domain's keys, checked with core's before a run starts:
        `{"data": {"units": one_of("phones", "chars"), "n_mels": at_least(1)}, ...}` with the rules
        of `rnnsuite.core.config` (one_of, at_least, between) or any callable that returns None
        for an allowed value and else what it must be ("must be ...")."""
        return {}

    def search_space(self, config: dict) -> dict:
        """What `tune` searches: {"section.key": spec}, spec one of ("log", low, high),
        ("float", low, high), ("int", low, high[, step]) or ("choice", [values]). The default
        spans the learning rate (1/4 to 4 times the domain's), the hidden size (half to twice),
        the number of layers (1 to one more), dropout (0 to 0.5) and the cell (lstm, gru or the domain's)."""
        m, t = config["model"], config["train"]
        hidden, layers = int(m["hidden_size"]), int(m["num_layers"])
        return {"train.lr": ("log", t["lr"] / 4, t["lr"] * 4),
                "model.hidden_size": ("int", max(8, hidden // 2), hidden * 2, max(1, hidden // 8)),
                "model.num_layers": ("int", 1, layers + 1),
                "model.dropout": ("float", 0.0, 0.5),
                "model.cell": ("choice", sorted({"lstm", "gru", m["cell"]}))}

    def legacy_config(self) -> dict:
        """For keys added after runs were saved, whose default is not how those runs behave:
        the value that keeps the old behaviour, e.g. `{"data": {"blend": False}}`. A loaded
        run's config gets these for the keys it lacks, today's defaults for the others."""
        return {}

    def metric_names(self, config: dict) -> tuple | None:
        """The validation metrics the Task reports under `config` (what `train.monitor` may
        name), or None when not declared (then monitor is checked at the first validation)."""
        return None

    def create_task(self, config: dict, data: Path | None, state: dict | None) -> "Task":
        """Build the Task for one run.

        `state` is None for a new run (fit the vocabulary, scaler, ... on `data`), else the dict
        that `Task.state_dict()` returned when the run was created.
        """
        raise NotImplementedError(f"domain {self.name!r} is not yet implemented")

    def commands(self) -> list:
        """Extra click commands added under `rnnsuite <name>` (e.g. `generate`)."""
        return []

    def cli_options(self, verb: str) -> list:
        """Extra click options for the generic verbs (`verb` is "train" or "evaluate").

        Each option's value, when given, sets the `data` config key named like the option's
        parameter (e.g. `click.Option(["--freq"])` sets `config["data"]["freq"]`), so the key must
        exist in `config_defaults()["data"]`.
        """
        return []


@dataclass
class StepOutput:
    """What `Task.training_step` returns."""

    loss: Any  # scalar tensor to minimise
    hidden: Any = None  # state to carry into the next step (detached by the trainer), or None
    items: int = 0  # tokens/frames/samples in the batch, for the throughput shown


@dataclass
class ExportGraph:
    """What `Task.export_graph` returns: the network `rnnsuite export` writes as ONNX.

    `module(*inputs.values())` returns a tensor or a tuple named by `outputs`; `dynamic` names
    the axes that may change size ({"feats": {0: "batch", 1: "frames"}, ...}, outputs too);
    `check`, when given, is a second set of inputs with other sizes on those axes, run in both
    torch and onnxruntime to prove they are dynamic; `doc` says what each input and output
    means (stored in the file's metadata as `rnnsuite.doc`)."""

    module: Any
    inputs: dict
    outputs: tuple
    dynamic: dict
    check: dict | None = None
    doc: str = ""


class Task:
    """One run's data and model recipe. Subclass it in your domain; see docs/plugin-guide.md."""

    config: dict

    def state_dict(self) -> dict:
        """JSON-serialisable transform state saved in RUN/config.json (vocabulary, scaler, ...)."""
        return {}

    def build_model(self):
        """Return a fresh torch.nn.Module for this run's config."""
        raise NotImplementedError

    def steps_per_epoch(self) -> int | None:
        """Optional: batches per epoch, if cheap to know (else the trainer counts one epoch)."""
        return None

    def parallel_processes(self, cores: int) -> int:
        """Optional: how many processes train this run on `cores` usable CPU cores when
        `train.processes` is 0 (auto); the main process starts the others (core.launch)."""
        return 1

    def train_batches(self, epoch: int, generator) -> Iterable:
        """Yield one epoch of batches, deterministically given the seeded torch.Generator."""
        raise NotImplementedError

    def training_step(self, model, batch, hidden) -> StepOutput:
        """Compute the loss of one batch; `hidden` is the detached state from the last step."""
        raise NotImplementedError

    def validate(self, model) -> dict:
        """Metrics on the validation split (lower-case names), e.g. {"loss": 1.2}; {} if none."""
        return {}

    def media(self, model) -> dict:
        """Optional: examples of what the model makes, shown in TensorBoard at every validation
        (train.logger=tensorboard): {"name": value}, a value being text (str), a matplotlib
        figure (an image) or (waveform as a float array in [-1, 1], sample rate) (audio). Called
        in eval mode without gradients; keep it quick (a few seconds of output)."""
        return {}

    def finalize(self, model) -> None:
        """Optional: fit what belongs to the final weights (interval calibration, a blend
        weight) into the model's buffers. Called once after training on the weights the run
        keeps (the best ones, averaged under train.ema), in eval mode without gradients; the
        runner saves model.safetensors again afterwards. Anything `validate` writes into the
        model is not kept: validation may run on temporarily swapped (averaged) weights."""

    def export_graph(self, model) -> ExportGraph:
        """Optional: the part of `model` (in eval mode, on the CPU) that `rnnsuite export`
        writes, with example inputs; feature extraction and decoding stay outside the graph.
        `rnnsuite.core.export.step_graph` builds it for a SequenceModel run step by step."""
        raise NotImplementedError

    def evaluate(self, model, data: Path | None) -> dict:
        """Metrics of the `evaluate` verb on `data`, as one flat dict of lower-case names."""
        raise NotImplementedError
