"""Every config value is checked before a run starts: each bad value of each key with a rule,
fed through the CLI, is one `Error:` line naming the key, exit 2, and no run folder."""

import pytest
from click.testing import CliRunner
from rnnsuite.apps.cli import cli
from rnnsuite.core.config import CORE_RULES, check_config, default_config
from rnnsuite.core.plugins import domain_named

DATA = {"nlp": "examples/text", "speech": "examples/speech/manifest.csv",
        "forecast": "examples/sales.csv", "music": "examples/midi", "digits": None}


def _cases():
    for name in DATA:
        domain = domain_named(name)
        rules = {s: {**CORE_RULES.get(s, {}), **domain.config_rules().get(s, {})}
                 for s in ("model", "train", "data")}
        defaults = default_config(domain)
        for section, keys in rules.items():
            for key, rule in keys.items():
                if key not in defaults[section]:
                    continue
                for bad in getattr(rule, "bad", []):
                    yield name, section, key, bad


CASES = list(_cases())


def _literal(value) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    return str(value).lower() if isinstance(value, bool) else str(value)


def test_every_domain_default_config_passes_its_rules():
    for name in DATA:
        domain = domain_named(name)
        check_config(default_config(domain), domain)


def test_the_cases_cover_core_and_every_domain():
    assert {name for name, *_ in CASES} == set(DATA)
    assert {("train", "on_nan"), ("train", "ema"), ("model", "dropout")} <= {(s, k) for _, s, k, _ in CASES}


@pytest.mark.parametrize("name, section, key, bad", CASES,
                         ids=[f"{n}-{s}.{k}={b!r}" for n, s, k, b in CASES])
def test_a_bad_value_is_one_error_line_and_no_run_folder(tmp_path, name, section, key, bad):
    out = tmp_path / "run"
    data = [DATA[name]] if DATA[name] else []
    result = CliRunner().invoke(cli, [name, "train", *data, "--out", str(out),
                                      "--set", f"{section}.{key}={_literal(bad)}"])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("Error: ") and f"{section}.{key}" in lines[0], lines
    assert not out.exists()


def test_monitor_is_checked_before_the_first_epoch(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["nlp", "train", "examples/text", "--out", str(out),
                                      "--set", "monitor=accuracy"])
    assert result.exit_code == 2 and "train.monitor='accuracy'" in result.stderr
    assert not out.exists()
