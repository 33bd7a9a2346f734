"""Broken plugins: one that raises on import, on registration or inside a hook call is
reported against its name, and the rest of the CLI keeps working. (Import and registration
failures of single plugins are in tests/core/test_plugins.py; this file installs a whole set of
broken third-party plugins at once, as entry points, and adds hook-call failures.)"""

import json
import subprocess
import textwrap
import types

import pytest
from hardening_helpers import CLI, cli_env
from rnnsuite.core import hookimpl

BROKEN = {
    # name: module source
    "exits_on_import": "import sys\nsys.exit(3)\n",
    "raises_on_import": "raise RuntimeError('import went wrong')\n",
    "raises_on_register": textwrap.dedent("""
        from rnnsuite.core import hookimpl

        @hookimpl
        def rnnsuite_register_domains(register):
            raise ValueError('registration went wrong')
        """),
    "raises_in_add_commands": textwrap.dedent("""
        from rnnsuite.core import hookimpl

        @hookimpl
        def rnnsuite_add_commands(cli):
            raise KeyError('add_commands went wrong')
        """),
    "raises_in_domain_verbs": textwrap.dedent("""
        from rnnsuite.core import Domain, hookimpl

        class Verbless(Domain):
            name = "verbless"

            def commands(self):
                raise TypeError('commands went wrong')

        @hookimpl
        def rnnsuite_register_domains(register):
            register(Verbless())
        """),
    "exits_in_cli_options": textwrap.dedent("""
        from rnnsuite.core import Domain, hookimpl

        class Optionless(Domain):
            name = "optionless"

            def cli_options(self, verb):
                raise SystemExit('cli_options called sys.exit')

        @hookimpl
        def rnnsuite_register_domains(register):
            register(Optionless())
        """),
    "missing_module": None,  # the entry point names a module that does not exist
}

EXPECTED = {
    "exits_on_import": "error: SystemExit: 3",
    "raises_on_import": "error: RuntimeError: import went wrong",
    "raises_on_register": "error: ValueError: registration went wrong",
    "raises_in_add_commands": "error: KeyError: 'add_commands went wrong'",
    "raises_in_domain_verbs": "error: TypeError: commands went wrong",
    "exits_in_cli_options": "error: SystemExit: cli_options called sys.exit",
    "missing_module": "error: ModuleNotFoundError: No module named 'hardening_no_such_module'",
}


@pytest.fixture(scope="module")
def broken_site(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    lines = ["[rnnsuite]"]
    for name, source in BROKEN.items():
        module = f"hardening_{name}" if source is not None else "hardening_no_such_module"
        if source is not None:
            (site / f"{module}.py").write_text(source)
        lines.append(f"{name} = {module}")
    dist = site / "hardening_broken_plugins-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: hardening-broken-plugins\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return cli_env(PYTHONPATH=str(site))


def rnnsuite(env, *args):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=120)


def test_every_broken_plugin_is_listed_by_name_with_its_error(broken_site):
    result = rnnsuite(broken_site, "plugins", "--json")
    assert result.returncode == 0, result.stderr
    infos = {p["name"]: p for p in json.loads(result.stdout)}
    for name, status in EXPECTED.items():
        assert infos[name]["status"] == status, infos[name]
    for name in ("nlp", "speech", "forecast", "music", "digits"):
        assert infos[name]["status"] == "ok", infos[name]


def test_the_rest_of_the_cli_works_beside_broken_plugins(broken_site):
    result = rnnsuite(broken_site, "--help")
    assert result.returncode == 0, result.stderr
    for name in ("nlp", "speech", "forecast", "music", "digits"):
        assert name in result.stdout
    assert "verbless" not in result.stdout and "optionless" not in result.stdout
    result = rnnsuite(broken_site, "forecast", "train", "--help")
    assert result.returncode == 0 and "--resume" in result.stdout, result.stderr
    result = rnnsuite(broken_site, "verbless", "train")  # left out: an unknown command, cleanly
    assert result.returncode == 2 and result.stderr.startswith("Error: unknown command 'verbless'")


def test_a_cell_plugin_failing_when_cells_load_is_named_and_the_others_work(monkeypatch, capsys):
    from rnnsuite.core import plugins
    from rnnsuite.core.cells import get_cell
    from rnnsuite.core.plugins import PluginInfo, get_plugin_manager

    @hookimpl
    def rnnsuite_register_cells(register):
        raise RuntimeError("cell registration went wrong")

    pm = get_plugin_manager(load_builtins=False, load_entrypoints=False)
    pm.infos["badcells"] = PluginInfo("badcells", "1", "test")
    pm.register(types.SimpleNamespace(rnnsuite_register_cells=rnnsuite_register_cells), name="badcells")
    monkeypatch.setattr(plugins, "_default_manager", pm)
    assert get_cell("gru").__name__ == "GRUCell"
    err = capsys.readouterr().err
    assert err.strip() == ("Warning: plugin 'badcells' could not register its cells (error: RuntimeError: "
                           "cell registration went wrong); they are unavailable")
    assert pm.infos["badcells"].status == "error: RuntimeError: cell registration went wrong"


def test_keyboard_interrupt_in_a_plugin_is_not_swallowed():
    """Only errors are contained: Ctrl-C while a plugin loads still stops the program."""
    from rnnsuite.core.plugins import PluginInfo, call_hook, get_plugin_manager

    @hookimpl
    def rnnsuite_register_domains(register):
        raise KeyboardInterrupt

    pm = get_plugin_manager(load_builtins=False, load_entrypoints=False)
    pm.infos["ctrlc"] = PluginInfo("ctrlc", "1", "test")
    pm.register(types.SimpleNamespace(rnnsuite_register_domains=rnnsuite_register_domains), name="ctrlc")
    with pytest.raises(KeyboardInterrupt):
        call_hook(pm, "rnnsuite_register_domains", lambda plugin: {"register": lambda d: None})
