"""The cell registry: built-in cells plus those plugins register through the hook."""

from __future__ import annotations

from rnnsuite.core.cells._reference import Cell, ElmanCell, ElmanReluCell, GRUCell, LSTMCell
from rnnsuite.core.errors import UserError

BUILTIN_CELLS: dict[str, type[Cell]] = {
    "rnn": ElmanCell,
    "rnn_tanh": ElmanCell,
    "rnn_relu": ElmanReluCell,
    "lstm": LSTMCell,
    "gru": GRUCell,
}

_registry: dict[str, type[Cell]] = dict(BUILTIN_CELLS)
_sources: dict[str, str] = {name: "builtin" for name in BUILTIN_CELLS}
_plugins_loaded = False


def register_cell(name: str, cell_class: type, source: str = "") -> None:
    """Add a cell under `name`; built-in names and duplicates are refused."""
    if not (isinstance(cell_class, type) and issubclass(cell_class, Cell)):
        raise TypeError(f"cell {name!r} must be a subclass of rnnsuite.core.Cell")
    if name in BUILTIN_CELLS:
        raise ValueError(f"cell {name!r} is built in and cannot be replaced")
    if name in _registry and _registry[name] is not cell_class:
        raise ValueError(f"cell {name!r} is already registered by {_sources[name]}")
    _registry[name] = cell_class
    _sources[name] = source or cell_class.__module__


def _load_plugin_cells() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from rnnsuite.core.errors import warn
    from rnnsuite.core.plugins import call_register_hook, default_manager

    pm = default_manager()
    before = {name: info.status for name, info in pm.infos.items()}
    call_register_hook(pm, "rnnsuite_register_cells", register_cell)
    for name, info in pm.infos.items():  # cells load lazily: say so when a plugin's fail
        if info.status != before.get(name) and info.status.startswith("error"):
            warn(f"plugin {name!r} could not register its cells ({info.status}); they are unavailable")


def cell_names() -> list[str]:
    """Names of every registered cell, plugins' included."""
    _load_plugin_cells()
    return sorted(_registry)


def get_cell(name: str) -> type[Cell]:
    """The cell class registered as `name`; an unknown name is a UserError listing the known."""
    _load_plugin_cells()
    try:
        return _registry[name]
    except KeyError:
        raise UserError(f"unknown cell {name!r}; known cells: {', '.join(sorted(_registry))}") from None
