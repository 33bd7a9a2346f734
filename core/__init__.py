"""rnnsuite.core: the recurrent engine. It knows no domain: no text, audio, CSV or MIDI.

Light names (`Domain`, `Task`, `UserError`, `hookimpl`, ...) import without torch so that
`rnnsuite --help` stays fast; the torch-based names load on first access (PEP 562).
"""

from importlib import import_module

from rnnsuite.core.domain import Domain, ExportGraph, StepOutput, Task
from rnnsuite.core.errors import UserError, warn
from rnnsuite.core.hookspecs import hookimpl

# name -> module that defines it; imported on first attribute access.
_LAZY = {
    "Cell": "rnnsuite.core.cells",
    "cell_names": "rnnsuite.core.cells",
    "get_cell": "rnnsuite.core.cells",
    "RecurrentStack": "rnnsuite.core.cells",
    "recurrent_weight_grads": "rnnsuite.core.cells",
    "SequenceModel": "rnnsuite.core.model",
    "detach_hidden": "rnnsuite.core.bptt",
    "batchify": "rnnsuite.core.bptt",
    "tbptt_windows": "rnnsuite.core.bptt",
    "Callback": "rnnsuite.core.callbacks",
    "train_run": "rnnsuite.core.run_lifecycle",
    "evaluate_run": "rnnsuite.core.run_lifecycle",
    "load_run": "rnnsuite.core.run_lifecycle",
    "LoadedRun": "rnnsuite.core.run_lifecycle",
    "resolve_run": "rnnsuite.core.run_folder",
    "default_config": "rnnsuite.core.config",
    "apply_overrides": "rnnsuite.core.config",
    "load_config_file": "rnnsuite.core.config",
    "set_value": "rnnsuite.core.config",
    "one_of": "rnnsuite.core.config",
    "at_least": "rnnsuite.core.config",
    "between": "rnnsuite.core.config",
    "held_out_fraction": "rnnsuite.core.config",
    "save_figure": "rnnsuite.core.plots",
    "sample_next": "rnnsuite.core.sampling",
    "filter_logits": "rnnsuite.core.sampling",
    "select_device": "rnnsuite.core.device",
    "rank_part": "rnnsuite.core.sharding",
    "seed_everything": "rnnsuite.core.device",
    "atomic_write_bytes": "rnnsuite.core.checkpoint",
    "atomic_write_text": "rnnsuite.core.checkpoint",
    "save_weights": "rnnsuite.core.checkpoint",
    "load_weights": "rnnsuite.core.checkpoint",
    "progress": "rnnsuite.core._progress",
    "get_domains": "rnnsuite.core.plugins",
    "export_run": "rnnsuite.core.export",
    "step_graph": "rnnsuite.core.export",
}

__all__ = ["Domain", "ExportGraph", "StepOutput", "Task", "UserError", "hookimpl", "warn", *_LAZY]


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rnnsuite.core' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
