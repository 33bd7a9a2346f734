"""`rnnsuite plugin new NAME`: a complete third-party plugin package to start from.

The package (pyproject with the entry point, a light Domain, a Task, a test, a README) trains a
classifier of noisy wave shapes on toy data it generates, so that it works before it is edited.
"""

from __future__ import annotations

import re
from pathlib import Path

from rnnsuite.core.errors import UserError

__all__ = ["new_plugin"]

TEMPLATE = Path(__file__).with_name("scaffold_template")


def new_plugin(name: str, out: Path | None = None) -> Path:
    """Write the package `rnnsuite-NAME` into `out` (default: ./rnnsuite-NAME); returns it."""
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,30}", name):
        raise UserError(f"plugin name {name!r}: use lower-case letters, digits and _ (a Python "
                        "identifier that is also the CLI group's name)")
    root = Path(out) if out is not None else Path(f"rnnsuite-{name.replace('_', '-')}")
    if root.exists() and any(root.iterdir()):
        raise UserError(f"{root}: already exists and is not empty")
    package = f"rnnsuite_{name}"
    files = {
        "pyproject.toml": "pyproject.toml.tmpl",
        "README.md": "README.md.tmpl",
        f"{package}/__init__.py": "init.py.tmpl",
        f"{package}/task.py": "task.py.tmpl",
        f"tests/test_{name}.py": "test.py.tmpl",
    }
    title = name.replace("_", " ")
    for target, source in files.items():
        text = (TEMPLATE / source).read_text(encoding="utf-8")
        text = (text.replace("{{name}}", name).replace("{{package}}", package)
                .replace("{{dist}}", f"rnnsuite-{name.replace('_', '-')}")
                .replace("{{Class}}", "".join(p.capitalize() for p in name.split("_")))
                .replace("{{title}}", title))
        path = root / target
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root
