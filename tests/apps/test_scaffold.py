"""`rnnsuite plugin new NAME` writes a package that installs, shows up in `rnnsuite plugins`,
trains with `rnnsuite NAME train` and passes its own test."""

import os
import subprocess
import sys

from click.testing import CliRunner
from rnnsuite.apps.cli import cli


def test_a_new_plugin_installs_trains_and_passes_its_tests(tmp_path):
    root = tmp_path / "rnnsuite-waves"
    result = CliRunner().invoke(cli, ["plugin", "new", "waves", "--out", str(root)])
    assert result.exit_code == 0, result.output
    site = tmp_path / "site"      # installed beside, not into, this environment
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                          "--no-build-isolation", "--target", str(site), str(root)],
                         capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stderr
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
           "RNNSUITE_PROGRESS": "0"}

    def rnnsuite(*args):
        return subprocess.run([sys.executable, "-c", "from rnnsuite.apps.cli import main; main()", *args],
                              capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)

    listed = rnnsuite("plugins")
    assert listed.returncode == 0 and "waves" in listed.stdout, listed.stderr
    trained = rnnsuite("waves", "train", "--out", "run", "--epochs", "1")
    assert trained.returncode == 0, trained.stderr
    evaluated = rnnsuite("waves", "evaluate", "run", "--json")
    assert evaluated.returncode == 0 and "accuracy" in evaluated.stdout, evaluated.stderr
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert tests.returncode == 0, tests.stdout + tests.stderr


def test_a_bad_name_or_a_full_folder_is_one_error_line(tmp_path):
    bad = CliRunner().invoke(cli, ["plugin", "new", "Bad-Name", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and bad.stderr.startswith("Error: plugin name 'Bad-Name'")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    full = CliRunner().invoke(cli, ["plugin", "new", "waves", "--out", str(tmp_path / "full")])
    assert full.exit_code == 2 and "not empty" in full.stderr
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
