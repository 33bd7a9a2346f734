"""Run configuration: core defaults, domain defaults, a TOML file and `--set key=value`.

A config is a plain dict of sections `model`, `train` and `data`. Only keys that exist in the
defaults may be set (unknown keys and wrong types are a UserError), so a typo never trains
silently with a default.
"""

from __future__ import annotations

import contextlib
import copy
import math
import sys
from pathlib import Path

from rnnsuite.core.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["CORE_DEFAULTS", "CORE_RULES", "default_config", "apply_overrides", "load_config_file",
           "merge_config", "check_config", "complete_config", "one_of", "at_least", "between"]

SECTIONS = ("model", "train", "data")

CORE_DEFAULTS: dict = {
    "model": {
        "cell": "lstm",  # any registered cell: rnn, rnn_relu, lstm, gru, or a plugin's
        "backend": "auto",  # auto | reference | fused
        "hidden_size": 128,
        "num_layers": 1,
        "dropout": 0.0,  # between recurrent layers
        "bidirectional": False,
        "weight_drop": 0.0,  # DropConnect on W_hh
    },
    "train": {
        "epochs": 10,
        "max_steps": 0,  # 0: no limit
        "max_time": 0.0,  # seconds; 0: no limit. Stops cleanly and saves.
        "batch_size": 32,
        "bptt": 64,  # truncated-BPTT window for stream tasks
        "optimizer": "adamw",  # sgd | adam | adamw | rmsprop
        "lr": 2e-3,
        "weight_decay": 0.01,
        "momentum": 0.9,  # sgd / rmsprop
        "betas": [0.9, 0.999],  # adam / adamw
        "schedule": "cosine",  # constant | step | cosine | plateau
        "warmup_steps": 0,
        "min_lr": 0.0,  # cosine floor, as a fraction of lr
        "step_size": 1000,  # step schedule: steps between decays
        "gamma": 0.5,  # step / plateau decay factor
        "plateau_patience": 2,  # evaluations without improvement before decaying
        "clip_grad_norm": 1.0,  # 0: off
        "ema": 0.0,  # decay of an exponential moving average of the weights, validated and saved
                     # in their place (e.g. 0.999); 0: off
        "eval_every": 0,  # steps between validations; 0: once per epoch
        "patience": 0,  # early stopping after this many evaluations without improvement; 0: off
        "monitor": "loss",  # validation metric for early stopping, plateau and best weights
        "monitor_mode": "min",  # min | max
        "seed": 0,
        "device": "auto",  # auto | cpu | cuda | cuda:N | mps
        "threads": 0,  # torch intra-op CPU threads; 0: torch's default
        # processes training the run on the CPU (the main one starts the others; torchrun is not
        # needed); 0: auto, as many as the task asks for (Task.parallel_processes), else 1
        "processes": 0,
        "amp": "auto",  # auto (fp16/bf16 on GPU, off on CPU) | off | bf16 | fp16
        "deterministic": False,
        "grad_norms": False,  # per-time-step ||dL/dh_t|| diagnostics
        "checkpoint_every": 0,  # steps between checkpoints; 0: at every evaluation
        "log_every": 20,  # steps between progress-bar updates
        "on_nan": "skip",  # non-finite loss/gradient: skip (the step) | rollback (to the last checkpoint)
        "rollback_lr_factor": 0.5,  # on_nan=rollback: the learning rate is multiplied by this
        "logger": "csv",  # csv (metrics.csv, always written) | tensorboard (also RUN/tensorboard/)
        # `train --resume --extend-steps N`: each extension of a finished run, in order:
        # {"start_step": S, "steps": N, "schedule": "restart" | "constant", "factor": f}
        "extensions": [],
    },
    "data": {},
}


# -- allowed values ------------------------------------------------------------------------------
# A rule is a callable value -> None (allowed) or what the value must be ("must be ..."). Types
# are checked where a value is set (`--set`, a TOML file); rules check what a type cannot say.


def one_of(*choices):
    """The value is one of `choices`. (Each rule carries `bad`: values it refuses, for tests.)"""
    def rule(value):
        if value not in choices:
            return "must be " + (" or ".join(", ".join(map(repr, choices)).rsplit(", ", 1)))
    rule.bad = ["no-such-" + "-".join(map(str, choices))[:20]]   # what tests feed it
    return rule


def held_out_fraction(value: float, default: float, separate_valid: bool) -> float:
    """The share of DATA a task holds out for a split (its test part, say) whose configured
    fraction is `value`: the value when the user set one (>= 0); with -1 (auto), `default`, or
    nothing when a separate validation set was given: a user who brings one brings the test
    set too, and means all of DATA to train. Music and NLP follow this one rule."""
    if value >= 0:
        return float(value)
    return 0.0 if separate_valid else float(default)


def at_least(low, *, above: bool = False):
    """A number >= low (> low with `above`)."""
    def rule(value):
        if not _is_number(value) or (value <= low if above else value < low):
            return f"must be {'>' if above else '>='} {low}"
    rule.bad = [low] if above else [low - 1]
    return rule


def between(low, high, *, low_open: bool = False, high_open: bool = False):
    """A number in the interval from low to high ((low, high] with low_open, ...)."""
    def rule(value):
        ok = _is_number(value) and (value > low if low_open else value >= low) \
            and (value < high if high_open else value <= high)
        if not ok:
            return f"must be in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    rule.bad = [low if low_open else low - 1, high if high_open else high + 1]
    return rule


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _betas(value):
    if not (isinstance(value, list) and len(value) == 2
            and all(_is_number(b) and 0 <= b < 1 for b in value)):
        return "must be two numbers in [0, 1), e.g. [0.9, 0.99]"


_betas.bad = [[0.9], [0.9, 1.0]]


def _extensions(value):
    ok = isinstance(value, list) and all(
        isinstance(e, dict) and e.get("schedule") in ("restart", "constant")
        and isinstance(e.get("start_step"), int) and isinstance(e.get("steps"), int)
        and (e["steps"] > 0 or isinstance(e.get("seconds"), (int, float)) and e["seconds"] > 0)
        for e in value)
    if not ok:
        return "must be a list of extensions written by `train --resume --extend-steps`"


_extensions.bad = [[{"schedule": "sideways", "start_step": 1, "steps": 1}]]


CORE_RULES: dict = {
    "model": {
        "backend": one_of("auto", "reference", "fused"),
        "hidden_size": at_least(1),
        "num_layers": at_least(1),
        "dropout": between(0, 1, high_open=True),
        "weight_drop": between(0, 1, high_open=True),
    },
    "train": {
        "epochs": at_least(0), "max_steps": at_least(0), "max_time": at_least(0),
        "batch_size": at_least(1), "bptt": at_least(1),
        "optimizer": one_of("sgd", "adam", "adamw", "rmsprop"),
        "lr": at_least(0), "weight_decay": at_least(0),
        "momentum": between(0, 1, high_open=True), "betas": _betas,
        "schedule": one_of("constant", "step", "cosine", "plateau"),
        "warmup_steps": at_least(0), "min_lr": between(0, 1), "step_size": at_least(1),
        "gamma": between(0, 1, low_open=True), "plateau_patience": at_least(0),
        "clip_grad_norm": at_least(0), "ema": between(0, 1, high_open=True),
        "eval_every": at_least(0), "patience": at_least(0), "monitor_mode": one_of("min", "max"),
        "threads": at_least(0), "processes": at_least(0), "amp": one_of("auto", "off", "bf16", "fp16"),
        "checkpoint_every": at_least(0), "log_every": at_least(0),
        "on_nan": one_of("skip", "rollback"),
        "rollback_lr_factor": between(0, 1, low_open=True),
        "logger": one_of("csv", "tensorboard"),
        "extensions": _extensions,
    },
    "data": {},
}


def check_config(config: dict, domain=None) -> None:
    """Check a whole run config before anything is created: core's rules, the domain's
    (`Domain.config_rules`), the cell name, the device, and train.monitor against the metrics
    the domain's task reports (`Domain.metric_names`). The first problem is a UserError.
    (The device is checked where it is chosen, `select_device`, before this.)"""
    rules = merge_config(CORE_RULES, domain.config_rules() if domain is not None else {})
    for section, keys in rules.items():
        for key, rule in keys.items():
            if key in config.get(section, {}):
                value = config[section][key]
                problem = rule(value)
                if problem:
                    raise UserError(f"{section}.{key} {problem}, got {value!r}")
    train = config["train"]
    if train["epochs"] <= 0 and not (train["max_steps"] or train["max_time"]):
        raise UserError("train.epochs must be positive unless max_steps or max_time is set")
    metrics = domain.metric_names(config) if domain is not None else None
    if metrics and train["monitor"] not in metrics:
        raise UserError(f"train.monitor={train['monitor']!r} is not among the validation metrics: "
                        f"{', '.join(metrics)}")
    if train.get("logger") == "tensorboard":
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            raise UserError("logger=tensorboard needs TensorBoard: pip install 'rnnsuite[tensorboard]'") from None
    from rnnsuite.core.cells import get_cell  # torch: only here, when a run is about to start

    get_cell(config["model"]["cell"])


def merge_config(base: dict, extra: dict, *, allow_new: bool = True, origin: str = "") -> dict:
    """Return base updated with extra section by section; new keys only if allow_new."""
    result = copy.deepcopy(base)
    for section, values in extra.items():
        if section not in SECTIONS:
            raise UserError(f"{origin}unknown config section {section!r}; sections: {', '.join(SECTIONS)}")
        if not isinstance(values, dict):
            raise UserError(f"{origin}config section {section!r} must be a table")
        for key, value in values.items():
            if not allow_new and key not in result[section]:
                raise UserError(f"{origin}unknown config key {section}.{key}; known: {', '.join(sorted(result[section])) or 'none'}")
            if not allow_new:
                value = _check_type(f"{section}.{key}", result[section][key], value, origin)
            result[section][key] = value
    return result


def default_config(domain) -> dict:
    """Core defaults with the domain's defaults on top (a domain may add new keys). `domain`
    is a Domain, a registered domain name (as `load_run` takes), or None for core's alone."""
    if isinstance(domain, str):
        from rnnsuite.core.plugins import domain_named

        domain = domain_named(domain)
    return merge_config(CORE_DEFAULTS, domain.config_defaults() if domain is not None else {})


def complete_config(config: dict, domain) -> dict:
    """A saved run's config with the keys it lacks (the run predates them): the domain's
    `legacy_config()` value, which keeps the old behaviour, else today's default. Applied once
    when a run is loaded, so that task code reads every key directly."""
    if not isinstance(config, dict):
        return config               # a damaged config.json: the reader reports it
    legacy = domain.legacy_config() if domain is not None else {}
    out = copy.deepcopy(config)
    for section, keys in default_config(domain).items():
        present = out.setdefault(section, {})
        if not isinstance(present, dict):
            continue
        for key, value in keys.items():
            if key not in present:
                present[key] = copy.deepcopy(legacy.get(section, {}).get(key, value))
    return out


def _check_type(name: str, default, value, origin: str = ""):
    if default is None or value is None:
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif isinstance(default, str):
        if isinstance(value, str):
            return value
    elif isinstance(default, list):
        if isinstance(value, list):
            return value
    else:
        return value
    raise UserError(f"{origin}{name} must be {type(default).__name__}, got {value!r}")


def _parse_value(text: str):
    """A TOML literal (1, 2.5, true, "x", [1, 2]) or, failing that, the bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def resolve_key(config: dict, key: str) -> tuple[str, str]:
    """`section.key` or a bare key that exists in exactly one section."""
    if "." in key:
        section, name = key.split(".", 1)
        if section in SECTIONS and name in config[section]:
            return section, name
        raise UserError(f"unknown config key {key!r}")
    found = [s for s in SECTIONS if key in config[s]]
    if not found:
        raise UserError(f"unknown config key {key!r}")
    if len(found) > 1:
        raise UserError(f"config key {key!r} is ambiguous; write one of {', '.join(f'{s}.{key}' for s in found)}")
    return found[0], key


def apply_overrides(config: dict, overrides: list[str]) -> dict:
    """Apply `key=value` strings (from `--set`); unknown keys and wrong types are UserErrors."""
    config = copy.deepcopy(config)
    for item in overrides:
        if "=" not in item:
            raise UserError(f"--set expects key=value, got {item!r}")
        key, text = item.split("=", 1)
        section, name = resolve_key(config, key.strip())
        config[section][name] = _check_type(f"{section}.{name}", config[section][name], _parse_value(text.strip()))
    return config


def set_value(config: dict, key: str, value) -> None:
    """Set one key in place (used by CLI options such as --epochs), type-checked."""
    section, name = resolve_key(config, key)
    config[section][name] = _check_type(f"{section}.{name}", config[section][name], value)


def load_config_file(config: dict, path: str | Path) -> dict:
    """Apply a TOML file: `[model]`, `[train]`, `[data]` tables and/or bare keys."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: config file not found") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"{path}: not a valid TOML file ({exc})") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read config file ({exc.strerror})") from None
    sections = {k: v for k, v in raw.items() if isinstance(v, dict) and k in SECTIONS}
    bare = {k: v for k, v in raw.items() if k not in sections}
    for key in bare:
        if isinstance(bare[key], dict):
            raise UserError(f"{path}: unknown config section {key!r}; sections: {', '.join(SECTIONS)}")
    config = merge_config(config, sections, allow_new=False, origin=f"{path}: ")
    config = copy.deepcopy(config)
    for key, value in bare.items():
        try:
            section, name = resolve_key(config, key)
            config[section][name] = _check_type(f"{section}.{name}", config[section][name], value)
        except UserError as exc:
            raise UserError(f"{path}: {exc}") from None
    if "cell" in sections.get("model", {}) or "cell" in bare:
        from rnnsuite.core.cells import get_cell  # torch: only when the file names a cell

        try:
            get_cell(config["model"]["cell"])
        except UserError as exc:
            raise UserError(f"{path}: {exc}") from None
    return config


# -- keys a task must honour ------------------------------------------------------------------

#: Core keys that only the domain's Task can act on (core's trainer reads the other train keys
#: itself): set by the user and never read during a run, they had no effect, and train says so.
TASK_KEYS = ("model.cell", "model.hidden_size", "model.num_layers", "model.dropout",
             "model.bidirectional", "model.weight_drop", "model.backend",
             "train.batch_size", "train.bptt")


class ReadLog(dict):
    """A config section that notes which of its keys were read (`read`). Bulk access (iterating,
    items, copies) counts as reading every key, so a copy never hides a read; `paused` stops
    the noting, e.g. while the config is written to config.json."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read: set = set()
        self.paused = False

    def _note(self, keys) -> None:
        if not self.paused:
            self.read.update(keys)

    def __getitem__(self, key):
        self._note((key,))
        return super().__getitem__(key)

    def get(self, key, default=None):
        self._note((key,))
        return super().get(key, default)

    def __iter__(self):
        self._note(super().keys())
        return super().__iter__()

    def keys(self):
        self._note(super().keys())
        return super().keys()

    def items(self):
        self._note(super().keys())
        return super().items()

    def values(self):
        self._note(super().keys())
        return super().values()

    def copy(self):
        self._note(super().keys())
        return dict(super().items())


def track_reads(config: dict) -> None:
    """Make config's model, train and data sections ReadLogs (in place)."""
    for section in ("model", "train", "data"):
        if isinstance(config.get(section), dict) and not isinstance(config[section], ReadLog):
            config[section] = ReadLog(config[section])


@contextlib.contextmanager
def reads_paused(config: dict):
    """Reads of config's tracked sections inside the block are not noted."""
    logs = [v for v in config.values() if isinstance(v, ReadLog)]
    for log in logs:
        log.paused = True
    try:
        yield
    finally:
        for log in logs:
            log.paused = False


def unread_task_keys(config: dict, user_keys) -> list:
    """The TASK_KEYS among `user_keys` ("section.key") that no one read from config."""
    out = []
    for key in user_keys:
        section, _, name = key.partition(".")
        log = config.get(section)
        if key in TASK_KEYS and isinstance(log, ReadLog) and name not in log.read:
            out.append(key)
    return out
