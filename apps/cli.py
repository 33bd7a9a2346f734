"""The `rnnsuite` command line. It parses arguments, builds a config and calls core and plugin
functions; no training or data logic lives here. Heavy modules load only inside commands so
that `rnnsuite --help` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

import click
from rnnsuite.core.errors import UserError

__all__ = ["cli", "main"]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rnnsuite")
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class RnnsuiteGroup(click.Group):
    """The top-level group: domain subgroups come from plugins, loaded on first use; errors
    follow the contract (one `Error:` line, exit 2 for bad input, traceback only with --debug)."""

    def _domain_groups(self) -> dict:
        """A click group per registered domain; a domain whose verbs fail to build is reported
        against its plugin (`rnnsuite plugins`) and left out, never breaking the CLI."""
        from rnnsuite.core.plugins import PLUGIN_ERRORS, default_manager, get_domains

        pm = default_manager()
        groups = {}
        for name, domain in get_domains(pm).items():
            try:
                groups[name] = make_domain_group(domain)
            except PLUGIN_ERRORS as exc:
                info = pm.infos.get(getattr(domain, "plugin", ""))
                if info is not None:
                    info.status = f"error: {type(exc).__name__}: {_one_line(exc)}"
        return groups

    def list_commands(self, ctx):
        self._add_plugin_commands()
        names = set(super().list_commands(ctx))
        names.update(self._domains_cached())
        return sorted(names)

    def _domains_cached(self):
        if getattr(self, "_domain_cache", None) is None:
            self._domain_cache = self._domain_groups()
        return self._domain_cache

    def _add_plugin_commands(self):
        if getattr(self, "_plugin_commands_added", False):
            return
        self._plugin_commands_added = True
        from rnnsuite.core.plugins import call_hook, default_manager

        def add(command):
            if command.name in self.commands or command.name in self._domains_cached():
                raise ValueError(f"command {command.name!r} already exists")
            self.add_command(command)

        call_hook(default_manager(), "rnnsuite_add_commands", lambda plugin: {"cli": _CommandSink(add)})

    def get_command(self, ctx, name):
        command = super().get_command(ctx, name)
        if command is not None:
            return command
        domains = self._domains_cached()
        if name in domains:
            return domains[name]
        self._add_plugin_commands()
        return super().get_command(ctx, name)

    def resolve_command(self, ctx, args):
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError:
            name = args[0] if args else ""
            known = ", ".join(self.list_commands(ctx))
            raise UserError(f"unknown command {name!r}; commands: {known}") from None

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        args = list(sys.argv[1:] if args is None else args)
        debug = "--debug" in args or os.environ.get("RNNSUITE_DEBUG") == "1"
        try:
            result = super().main(args=args, prog_name=prog_name or "rnnsuite",
                                  complete_var=complete_var, standalone_mode=False, **extra)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(130)
        except UserError as exc:
            if debug:
                traceback.print_exc()
            click.echo(f"Error: {_one_line(exc)}", err=True)
            sys.exit(2)
        except click.ClickException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError" and exc.ctx is not None:
                click.echo(exc.ctx.get_help())  # a bare group shows its help, as --help does
                sys.exit(0)
            message = exc.format_message()
            if isinstance(exc, click.UsageError) and exc.ctx is not None:
                message = f"{message} (see '{exc.ctx.command_path} --help')"
            click.echo(f"Error: {_one_line(message)}", err=True)
            sys.exit(2 if isinstance(exc, click.UsageError) else exc.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted: the last checkpoint is kept.", err=True)
            sys.exit(130)
        except Exception as exc:
            if debug:
                traceback.print_exc()
            click.echo(f"Error: internal error: {type(exc).__name__}: {_one_line(exc)}"
                       + ("" if debug else " (run with --debug for the traceback)"), err=True)
            sys.exit(1)
        if standalone_mode:
            sys.exit(result if isinstance(result, int) else 0)
        return result


class _CommandSink:
    """What `rnnsuite_add_commands(cli)` receives: only `add_command` is allowed."""

    def __init__(self, add):
        self._add = add

    def add_command(self, command, name=None):
        if name:
            command.name = name
        self._add(command)


@click.group(cls=RnnsuiteGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), "--version", prog_name="rnnsuite", message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def cli(debug):
    """rnnsuite: recurrent neural networks for language, speech, forecasting and music.

    \b
    Examples:
      rnnsuite forecast predict examples/sales.csv
      rnnsuite music train examples/midi && rnnsuite music generate --out new.mid
      rnnsuite plugins
    """


def main():
    cli.main()


# ---------------------------------------------------------------------------------------------
# plugins / devices
# ---------------------------------------------------------------------------------------------


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def plugins_command(as_json):
    """Installed plugins: name, version, source, status and hooks."""
    from rnnsuite.core.plugins import plugin_infos

    cli_group = click.get_current_context().find_root().command
    if isinstance(cli_group, RnnsuiteGroup):
        cli_group._domains_cached()  # building the groups records broken domains' errors
        cli_group._add_plugin_commands()
    infos = [i.as_dict() for i in plugin_infos()]
    if as_json:
        click.echo(json.dumps(infos, indent=2))
        return
    rows = [[i["name"], i["version"], i["source"], ",".join(i["domains"]) or "-", i["status"]]
            for i in infos]
    header = ["name", "version", "source", "domains", "status"]
    widths = [max(len(r[k]) for r in [header, *rows]) for k in range(4)]
    for row in [header, *rows]:   # columns as wide as their longest cell
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[4])


@cli.group("plugin")
def plugin_group():
    """Write a new plugin package."""


@plugin_group.command("new")
@click.argument("name")
@click.option("--out", type=click.Path(path_type=Path), help="Folder to write (default: ./rnnsuite-NAME).")
def plugin_new(name, out):
    """Write a complete plugin package for a new domain NAME: pyproject (entry point), a Domain, a
    Task, a test and a README. It trains on toy data it generates: `pip install -e DIR`, then
    `rnnsuite NAME train`."""
    from rnnsuite.apps.scaffold import new_plugin

    root = new_plugin(name, out)
    click.echo(f"wrote {root}: pip install -e {root} && rnnsuite {name} train", err=True)


@cli.command("devices")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def devices_command(as_json):
    """Devices the device manager sees, and what `--device auto` would pick."""
    from rnnsuite.core.device import describe_devices

    info = describe_devices()
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(f"torch {info['torch']}; auto picks {info['auto']} (amp: {info['amp_auto']})")
    for d in info["devices"]:
        extra = ", ".join(f"{k}={v}" for k, v in d.items() if k not in ("name", "type"))
        click.echo(f"  {d['name']:<8} {extra}")


@cli.command("export")
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["onnx"]), default="onnx", show_default=True,
              help="File format.")
@click.option("--out", type=click.Path(path_type=Path), help="File to write (default: RUN/model.onnx).")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as one JSON object.")
def export_command(run, fmt, out, as_json):
    """Export a trained RUN's network (any domain) as an ONNX graph, checked against torch with
    onnxruntime on two sets of input sizes before it is written. Feature extraction and
    decoding stay outside the graph: each domain's README shows how to run it. Needs the
    `onnx` extra."""
    from rnnsuite.core.export import export_run

    summary = export_run(run, fmt, out)
    if as_json:
        click.echo(json.dumps(summary))
        return
    shapes = "; ".join(f"{k} {v}" for k, v in summary["inputs"].items())
    click.echo(f"wrote {summary['path']} ({summary['bytes'] / 1e6:.1f} MB, {summary['domain']}, "
               f"opset {summary['opset']}): inputs {shapes}; outputs {', '.join(summary['outputs'])}; "
               f"onnxruntime matches torch within {summary['max_abs_diff']:.1g}")


# ---------------------------------------------------------------------------------------------
# generic verbs for every domain
# ---------------------------------------------------------------------------------------------


def _data_argument(domain):
    return click.argument("data", required=domain.data_required, type=click.Path(path_type=Path),
                          metavar="DATA" if domain.data_required else "[DATA]")


def _apply_data_options(config: dict, domain, values: dict) -> None:
    from rnnsuite.core.config import set_value

    for option in domain.cli_options("train") + domain.cli_options("evaluate"):
        name = option.name
        if name in values and values[name] is not None:
            set_value(config, f"data.{name}", values[name])


def build_config(domain, config_file=None, overrides=(), **options) -> dict:
    """Config the way the CLI builds it: defaults, then --config, then --set, then options."""
    from rnnsuite.core.config import apply_overrides, default_config, load_config_file, set_value

    config = default_config(domain)
    if config_file:
        config = load_config_file(config, config_file)
    config = apply_overrides(config, list(overrides))
    mapping = {"cell": "model.cell", "epochs": "train.epochs", "max_steps": "train.max_steps",
               "max_time": "train.max_time", "device": "train.device"}
    for key, target in mapping.items():
        if options.get(key) is not None:
            set_value(config, target, options[key])
    return config


def _typed_keys(domain, config, config_file, overrides, options) -> dict:
    """{"section.key": value} of every key the user set on this command line (--set, --config,
    --cell/--epochs/..., a plugin's options), with its checked value from `config`."""
    from rnnsuite.core.config import SECTIONS, resolve_key, tomllib

    keys = [item.split("=", 1)[0].strip() for item in overrides]
    if config_file:
        raw = tomllib.loads(Path(config_file).read_text(encoding="utf-8"))
        for key, value in raw.items():
            keys += [f"{key}.{k}" for k in value] if key in SECTIONS and isinstance(value, dict) else [key]
    keys += [target for name, target in (("cell", "model.cell"), ("epochs", "train.epochs"),
                                         ("max_steps", "train.max_steps"), ("max_time", "train.max_time"),
                                         ("device", "train.device")) if options.get(name) is not None]
    names = {o.name for o in domain.cli_options("train") + domain.cli_options("evaluate")}
    keys += [f"data.{name}" for name in names if options.get(name) is not None]
    typed = {}
    for key in keys:
        section, name = resolve_key(config, key)
        typed[f"{section}.{name}"] = config[section][name]
    return typed


def make_train_command(domain):
    def train(data=None, out=None, resume=False, config_file=None, overrides=(), extend_steps=None,
              extend_epochs=None, extend_time=None, extend_schedule="restart", **options):
        from rnnsuite.core.run_folder import RUNS_ROOT, latest_run_dir, next_run_dir
        from rnnsuite.core.run_lifecycle import train_run

        config = build_config(domain, config_file, overrides, **options)
        _apply_data_options(config, domain, options)
        typed = _typed_keys(domain, config, config_file, overrides, options)
        if options.get("max_time") and "train.epochs" not in typed:
            config["train"]["epochs"] = 0   # --max-time alone: train for that long (epochs unlimited)
        if out is None:
            if resume:
                out = latest_run_dir(domain.name)
                if out is None:
                    raise UserError(f"--resume: no {domain.name} run under {RUNS_ROOT / domain.name} to resume")
            else:
                out = next_run_dir(domain.name)
        from rnnsuite.core.callbacks import Callback

        class Announce(Callback):  # printed once every check has passed, so errors stay one line
            def on_train_start(self, trainer):
                if trainer.is_main:  # under torchrun: one line, not one per process
                    ranks = trainer.dist.world_size
                    click.echo(f"{'Resuming' if resume else 'Training'} {domain.name} run in {out} "
                               f"(step {trainer.step}, device {trainer.device}"
                               f"{f', {ranks} processes' if ranks > 1 else ''})", err=True)

        extend = None
        given = {k: v for k, v in (("steps", extend_steps), ("epochs", extend_epochs),
                                   ("seconds", extend_time)) if v is not None}
        flags = {"steps": "--extend-steps", "epochs": "--extend-epochs", "seconds": "--extend-time"}
        if len(given) > 1:
            raise UserError(f"{' and '.join(flags[k] for k in given)}: give one of them")
        if given:
            (kind, amount), = given.items()
            if not resume:
                raise UserError(f"{flags[kind]} continues a finished run: use it with --resume")
            extend = {kind: amount, "schedule": extend_schedule}
            click.echo(f"Extending {out}: {amount:g} more {kind}, learning rate "
                       + ("on a new cosine from the base rate (warm restart)" if extend_schedule == "restart"
                          else "held at the rate the run reached"), err=True)
        loaded = train_run(domain, config, data=data, out=out, resume=resume, callbacks=[Announce()],
                           resume_overrides=typed if resume else None, extend=extend,
                           user_keys=() if resume else tuple(typed))
        s = loaded.summary or {}
        from rnnsuite.core import rank_part

        if rank_part()[0] != 0:  # torchrun: the main process reports
            return
        best = f", best valid {config['train']['monitor']} {s['best']:.4g}" if s.get("best") is not None else ""
        faults = "".join(f", {s[k]} {what}" for k, what in (("skipped_steps", "non-finite steps skipped"),
                                                            ("rollbacks", "rollbacks")) if s.get(k))
        click.echo(f"Done: {s.get('steps', 0)} steps ({s.get('stop_reason', '')}) in {s.get('elapsed_s', 0)} s"
                   f"{best}{faults}; saved {out}", err=True)

    decorators = [
        click.option("--out", type=click.Path(path_type=Path), help="Run folder (default: next free runs/<domain>/<N>)."),
        click.option("--cell", help="Recurrent cell: rnn, rnn_relu, lstm, gru or a plugin's."),
        click.option("--epochs", type=int, help="Passes over the training data."),
        click.option("--max-steps", type=int, help="Stop after this many optimizer steps."),
        click.option("--max-time", type=float,
                     help="Train for this many seconds, then stop cleanly and save; without --epochs "
                          "the epochs do not end it first (0: no time limit)."),
        click.option("--device", help="auto, cpu, cuda, cuda:N or mps."),
        click.option("--config", "config_file", type=click.Path(path_type=Path), help="TOML config file."),
        click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key (repeatable)."),
        click.option("--resume", is_flag=True,
                     help="Continue the run in --out from its last checkpoint to its planned end "
                          "(exactly as if never stopped)."),
        click.option("--extend-steps", type=int, metavar="N",
                     help="With --resume: train a finished (or stopped) run N more steps, on the "
                          "schedule --extend-schedule names; recorded in the run's config."),
        click.option("--extend-epochs", type=int, metavar="N",
                     help="With --resume: like --extend-steps, N epochs of this run's steps per "
                          "completed epoch (printed)."),
        click.option("--extend-time", type=float, metavar="S",
                     help="With --resume: like --extend-steps, S more seconds of training, the "
                          "schedule running over them."),
        click.option("--extend-schedule", type=click.Choice(["restart", "constant"]), default="restart",
                     show_default=True,
                     help="restart: a new cosine from the base learning rate over the extension; "
                          "constant: keep the rate the run reached."),
        _data_argument(domain),
    ]
    fn = train
    for option in domain.cli_options("train"):
        fn = _attach(fn, option)
    for deco in reversed(decorators):
        fn = deco(fn)
    text = f"Train a {domain.name} model on DATA into a run folder."
    if domain.train_help:
        text += "\n\n" + domain.train_help
    return click.command("train", help=text)(fn)


def _attach(fn, option):
    params = getattr(fn, "__click_params__", [])
    params.append(option)
    fn.__click_params__ = params
    return fn


def make_evaluate_command(domain):
    def evaluate(run=None, data=None, as_json=False, device="auto", **options):
        from rnnsuite.core.run_lifecycle import evaluate_run

        data_options = {o.name: options[o.name] for o in domain.cli_options("evaluate")
                        if options.get(o.name) is not None}
        metrics = evaluate_run(domain, run or "latest", data, device=device, data_options=data_options)
        if as_json:
            click.echo(json.dumps(metrics))
        else:
            for key, value in _flatten(metrics).items():
                click.echo(f"{key:>28}: {value:.6g}" if isinstance(value, float) else f"{key:>28}: {value}")

    fn = evaluate
    for option in domain.cli_options("evaluate"):
        fn = _attach(fn, option)
    fn = click.option("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps.")(fn)
    fn = click.option("--json", "as_json", is_flag=True, help="Print one JSON object of metrics.")(fn)
    if domain.data_required:
        fn = click.argument("data", type=click.Path(path_type=Path))(fn)
        fn = click.argument("run")(fn)
        doc = f"Evaluate a trained {domain.name} run (a folder or 'latest') on DATA."
    else:
        fn = click.argument("data", required=False, type=click.Path(path_type=Path))(fn)
        fn = click.argument("run", required=False)(fn)
        doc = f"Evaluate a trained {domain.name} run (default: latest) on its held-out data."
    return click.command("evaluate", help=doc)(fn)


def _flatten(metrics: dict, prefix: str = "") -> dict:
    """{"baselines": {"naive": {"smape": 1}}} -> {"baselines.naive.smape": 1}"""
    flat = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def make_tune_command(domain):
    def tune(data=None, out=None, trials=20, max_time=0.0, storage=None, study="tune", seed=0,
             config_file=None, overrides=(), as_json=False, **options):
        from rnnsuite.core.run_folder import RUNS_ROOT
        from rnnsuite.core.tune import run_study

        config = build_config(domain, config_file, overrides)
        _apply_data_options(config, domain, options)
        if trials < 1:
            raise UserError(f"--trials must be at least 1, got {trials}")
        folder = out or RUNS_ROOT / domain.name / f"study-{study}"
        summary = run_study(domain, config, data, folder, trials, max_time or 0.0, storage, study, seed)
        if as_json:
            click.echo(json.dumps(summary))
            return
        click.echo(f"{'trial':>5}  {'state':<8} {'valid ' + summary['monitor']:>14}  params")
        for row in summary["trials"]:
            value = f"{row['value']:.6g}" if row["value"] is not None else "-"
            params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                               for k, v in row["params"].items())
            click.echo(f"{row['number']:>5}  {row['state']:<8} {value:>14}  {params}")
        best = summary["best"]
        if best:
            click.echo(f"best: trial {best['number']} ({summary['monitor']} {best['value']:.6g}); "
                       f"config {best['config']} (train --config {best['config']})", err=True)

    fn = tune
    for option in domain.cli_options("train"):
        fn = _attach(fn, option)
    decorators = [
        click.option("--out", type=click.Path(path_type=Path),
                     help="Study folder: trial runs, study.db, best.toml, history.png "
                          "(default: runs/<domain>/study-<study>)."),
        click.option("--trials", type=int, default=20, show_default=True,
                     help="Trials the study should hold (finished ones count: rerun to resume)."),
        click.option("--max-time", type=float, help="Stop starting trials after this many seconds."),
        click.option("--storage", metavar="URL",
                     help="SQLAlchemy URL of a shared study (e.g. postgresql://host/db); default: "
                          "an SQLite file in the study folder."),
        click.option("--study", default="tune", show_default=True, help="Study name in the storage."),
        click.option("--seed", type=int, default=0, show_default=True, help="Sampler seed."),
        click.option("--config", "config_file", type=click.Path(path_type=Path),
                     help="TOML config the trials start from."),
        click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                     help="Override a config key of every trial (e.g. max_time=60)."),
        click.option("--json", "as_json", is_flag=True, help="Print the study as one JSON object."),
        _data_argument(domain),
    ]
    for deco in reversed(decorators):
        fn = deco(fn)
    text = (f"Search {domain.name} hyper-parameters with Optuna: each trial trains a run on DATA and "
            "is scored on the validation metric (train.monitor); unpromising trials are pruned. "
            "Needs the `tune` extra.")
    return click.command("tune", help=text)(fn)


def make_domain_group(domain) -> click.Group:
    group = click.Group(domain.name, help=domain.help or f"The {domain.name} domain.")
    group.add_command(make_train_command(domain))
    group.add_command(make_evaluate_command(domain))
    group.add_command(make_tune_command(domain))
    for command in domain.commands():
        group.add_command(command)
    return group


if __name__ == "__main__":  # pragma: no cover
    main()
