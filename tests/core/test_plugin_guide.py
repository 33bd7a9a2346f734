"""docs/plugin-guide.md is a contract: its code blocks, copied into a package as their first
lines name, install and pass the package's own tests (train, resume, evaluate, a verb, an error),
so the guide cannot drift from the code."""

import os
import re
import subprocess
import sys
from pathlib import Path

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "plugin-guide.md"


def guide_files() -> dict:
    """{path: text} from every python/toml block; blocks naming the same file are joined."""
    files: dict = {}
    for lang, body in re.findall(r"```(\w+)\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S):
        if lang not in ("python", "toml"):
            continue
        first, _, rest = body.partition("\n")
        assert first.startswith("# file: "), f"a {lang} block of the guide names no file: {first!r}"
        path = first.removeprefix("# file: ").strip()
        files[path] = files.get(path, "") + ("\n\n" if path in files else "") + rest
    return files


def test_every_code_block_of_the_guide_is_part_of_its_plugin():
    files = guide_files()
    assert {"pyproject.toml", "rnnsuite_shapes/__init__.py", "rnnsuite_shapes/domain.py",
            "rnnsuite_shapes/task.py", "tests/test_shapes.py"} <= set(files)
    for path, text in files.items():
        if path.endswith(".py"):
            compile(text, path, "exec")


def test_the_guides_plugin_installs_and_passes_its_tests(tmp_path):
    root = tmp_path / "rnnsuite-shapes"
    for path, text in guide_files().items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    site = tmp_path / "site"      # installed beside, not into, this environment
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                          "--no-build-isolation", "--target", str(site), str(root)],
                         capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stderr
    env = {**os.environ, "RNNSUITE_PROGRESS": "0",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}
    listed = subprocess.run([sys.executable, "-c", "from rnnsuite.apps.cli import main; main()",
                             "plugins"], capture_output=True, text=True, env=env, timeout=120)
    assert listed.returncode == 0 and "shapes" in listed.stdout, listed.stderr
    cell = subprocess.run([sys.executable, "-c", "from rnnsuite.core.cells import get_cell; "
                           "print(get_cell('shapes_lnlstm').__name__)"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert cell.stdout.strip() == "LayerNormLSTMCell", cell.stderr
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            str(root / "tests")], capture_output=True, text=True, env=env,
                           cwd=tmp_path, timeout=300)
    assert tests.returncode == 0, tests.stdout + tests.stderr
