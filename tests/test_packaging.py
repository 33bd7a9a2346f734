"""The built wheel holds every subpackage of the three roots, and no tests."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROOTS = {"core": "rnnsuite/core", "plugins": "rnnsuite/plugins", "apps": "rnnsuite/apps"}


def test_wheel_contains_every_subpackage_and_no_tests(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path)], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("rnnsuite-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for folder, package in ROOTS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.relative_to(ROOT / folder).as_posix()
            if "tests" in rel.split("/"):
                continue
            assert f"{package}/{rel}" in names, f"{package}/{rel} missing from the wheel"
    assert not [n for n in names if "/tests/" in n or n.startswith("tests/")]
    assert any(n.endswith("entry_points.txt") for n in names)


def test_version_comes_from_package_metadata():
    from importlib.metadata import version

    from click.testing import CliRunner
    from rnnsuite.apps.cli import cli

    assert CliRunner().invoke(cli, ["--version"]).stdout.strip() == f"rnnsuite {version('rnnsuite')}"


def test_code_never_imports_the_top_level_folders():
    """`import core` would load a second copy beside rnnsuite.core."""
    import re

    bad = re.compile(r"^\s*(from|import)\s+(core|plugins|apps)(\.|\s|$)", re.M)
    offenders = [str(p) for folder in ROOTS for p in (ROOT / folder).rglob("*.py") if bad.search(p.read_text())]
    assert offenders == []
