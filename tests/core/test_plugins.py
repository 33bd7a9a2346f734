"""The plugin system: hooks, loading control, and broken plugins that never break the rest."""

import inspect
import sys
import types
from pathlib import Path

import pytest
from rnnsuite.core import Domain, hookimpl, hookspecs
from rnnsuite.core.plugins import get_domains, get_plugin_manager, plugin_infos

ROOT = Path(__file__).resolve().parents[2]


def fake_module(name, **attrs):
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    return module


class EchoDomain(Domain):
    name = "echo"


def test_builtins_are_registered_by_module_name():
    pm = get_plugin_manager(load_entrypoints=False)
    assert {"nlp", "speech", "forecast", "music"} <= set(pm.infos)
    assert all(info.source == "builtin" for info in pm.infos.values())


def test_entry_point_plugins_load_unless_autoload_is_disabled(monkeypatch):
    assert "digits" in get_plugin_manager().infos
    monkeypatch.setenv("RNNSUITE_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert "digits" not in get_plugin_manager().infos


def test_allow_list_narrows_what_loads(monkeypatch):
    monkeypatch.setenv("RNNSUITE_PLUGINS", "digits,nlp")
    assert set(get_plugin_manager().infos) == {"digits", "nlp"}


def test_plugin_failing_at_registration_is_reported_and_others_register():
    @hookimpl
    def rnnsuite_register_domains(register):
        raise RuntimeError("boom in register")

    @hookimpl
    def good_register(register):
        register(EchoDomain())

    pm = get_plugin_manager(load_builtins=False, load_entrypoints=False)
    from rnnsuite.core.plugins import PluginInfo

    for name, fn in (("bad", rnnsuite_register_domains), ("good", good_register)):
        pm.infos[name] = PluginInfo(name, "1", "test")
        pm.register(fake_module(name, rnnsuite_register_domains=fn), name=name)
    domains = get_domains(pm)
    assert "echo" in domains
    infos = {i.name: i for i in plugin_infos(pm)}
    assert infos["bad"].status.startswith("error: RuntimeError: boom in register")
    assert infos["good"].status == "ok" and infos["good"].domains == ["echo"]


def test_duplicate_domain_name_is_an_error_of_the_second_plugin():
    @hookimpl
    def rnnsuite_register_domains(register):
        register(EchoDomain())

    pm = get_plugin_manager(load_builtins=False, load_entrypoints=False)
    from rnnsuite.core.plugins import PluginInfo

    for name in ("first", "second"):
        pm.infos[name] = PluginInfo(name, "1", "test")
        pm.register(fake_module(name, rnnsuite_register_domains=rnnsuite_register_domains), name=name)
    get_domains(pm)
    statuses = sorted(i.status for i in plugin_infos(pm))
    assert statuses[0].startswith("error: ValueError: domain 'echo' is already registered")
    assert statuses[1] == "ok"


def test_plugin_failing_on_import_is_listed_and_cli_still_works(tmp_path, monkeypatch):
    """A third-party plugin whose import raises, installed through an entry point."""
    import subprocess

    pkg = tmp_path / "site"
    (pkg / "broken_plugin_xyz").mkdir(parents=True)
    (pkg / "broken_plugin_xyz" / "__init__.py").write_text("raise ImportError('broken on purpose')\n")
    dist = pkg / "broken_plugin_xyz-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin-xyz\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[rnnsuite]\nbroken = broken_plugin_xyz\n")
    env = {**__import__("os").environ, "PYTHONPATH": str(pkg)}
    out = subprocess.run([sys.executable, "-m", "rnnsuite.apps.cli", "plugins", "--json"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    import json

    infos = {p["name"]: p for p in json.loads(out.stdout)}
    assert infos["broken"]["status"] == "error: ImportError: broken on purpose"
    assert infos["digits"]["status"] == "ok"
    help_out = subprocess.run([sys.executable, "-m", "rnnsuite.apps.cli", "--help"],
                              capture_output=True, text=True, env=env, timeout=120)
    assert help_out.returncode == 0 and "digits" in help_out.stdout


def hook_names():
    return [n for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if n.startswith("rnnsuite_")]


@pytest.mark.parametrize("hook", hook_names())
def test_every_hook_is_documented_and_tested(hook):
    """Meta-test (as datasette does): each hook has a docstring, a docs entry and a test."""
    assert getattr(hookspecs, hook).__doc__.strip()
    assert hook in (ROOT / "docs" / "plugin-guide.md").read_text()
    tests = "".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    tests += "".join(p.read_text() for p in (ROOT / "examples").rglob("test_*.py"))
    assert tests.count(hook) >= 2  # used by a test beyond this meta-test's own text


def test_add_commands_hook_adds_a_top_level_command(monkeypatch):
    import click
    from click.testing import CliRunner
    from rnnsuite.apps import cli as cli_module
    from rnnsuite.core import plugins

    @click.command("hello")
    def hello():
        click.echo("hi from a plugin")

    @hookimpl
    def rnnsuite_add_commands(cli):
        cli.add_command(hello)

    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(fake_module("adder", rnnsuite_add_commands=rnnsuite_add_commands), name="adder")
    monkeypatch.setattr(plugins, "_default_manager", pm)
    group = cli_module.RnnsuiteGroup(name="rnnsuite")
    result = CliRunner().invoke(group, ["hello"])
    assert result.exit_code == 0 and "hi from a plugin" in result.stdout


def test_register_cells_hook_makes_a_cell_usable_by_name(monkeypatch):
    from rnnsuite.core import plugins
    from rnnsuite.core.cells import get_cell
    from test_cells import LayerNormLSTMCell

    @hookimpl
    def rnnsuite_register_cells(register):
        register("hooked_lnlstm", LayerNormLSTMCell)

    pm = get_plugin_manager(load_builtins=False, load_entrypoints=False)
    pm.register(fake_module("cellplug", rnnsuite_register_cells=rnnsuite_register_cells), name="cellplug")
    monkeypatch.setattr(plugins, "_default_manager", pm)
    assert get_cell("hooked_lnlstm") is LayerNormLSTMCell


def test_a_fresh_manager_has_fresh_registries(monkeypatch):
    """Cells and domains live on the plugin manager: a new one does not see the old one's."""
    from rnnsuite.core import plugins
    from rnnsuite.core.cells import cell_names, register_cell
    from test_cells import LayerNormLSTMCell

    monkeypatch.setattr(plugins, "_default_manager", get_plugin_manager(load_builtins=False, load_entrypoints=False))
    register_cell("only_here", LayerNormLSTMCell)
    assert "only_here" in cell_names()
    monkeypatch.setattr(plugins, "_default_manager", get_plugin_manager(load_builtins=False, load_entrypoints=False))
    assert "only_here" not in cell_names()


def test_a_hook_passes_each_implementation_only_the_arguments_it_names():
    """An implementation may take fewer arguments than the hook offers (so hooks can gain
    arguments without breaking old plugins): it gets just the ones it names."""
    from rnnsuite.core.plugins import PluginInfo, call_hook

    seen = []

    @hookimpl
    def rnnsuite_register_domains():
        seen.append("called without register")

    pm = get_plugin_manager(load_builtins=False, load_entrypoints=False)
    pm.infos["bare"] = PluginInfo("bare", "1", "test")
    pm.register(fake_module("bare", rnnsuite_register_domains=rnnsuite_register_domains), name="bare")
    call_hook(pm, "rnnsuite_register_domains", lambda plugin: {"register": lambda d: None,
                                                                "future_argument": 1})
    assert seen == ["called without register"] and pm.infos["bare"].status == "ok"
