"""The public API equals its documentation: `rnnsuite.core.__all__` and the table of
docs/plugin-guide.md section 5 name the same things."""

import re
from pathlib import Path

import rnnsuite.core as core

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "plugin-guide.md"


def documented_names() -> set:
    text = GUIDE.read_text(encoding="utf-8")
    section = text.split("## 5. Core API", 1)[1].split("\n## ", 1)[0]
    names = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            names.update(re.match(r"[A-Za-z_]\w*", code).group()
                         for code in re.findall(r"`([^`]+)`", first_cell))
    return names


def test_core_all_is_the_documented_table():
    assert documented_names() == set(core.__all__)


def test_every_public_name_resolves():
    for name in core.__all__:
        assert getattr(core, name) is not None


def test_the_guides_pyproject_snippet_is_installable_metadata():
    import tomllib

    text = GUIDE.read_text(encoding="utf-8")
    snippet = text.split("```toml", 1)[1].split("```", 1)[0]
    meta = tomllib.loads(snippet)
    assert meta["build-system"]["build-backend"] == "setuptools.build_meta"
    assert {"name", "version", "dependencies"} <= set(meta["project"])
    assert meta["project"]["entry-points"]["rnnsuite"]       # how rnnsuite finds the plugin
