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



def _cells() -> dict:
    """name -> (cell class, source): the built-in cells, and the plugins' on first use. The
    registry lives on the plugin manager, so a fresh manager starts from the built-ins."""
    from rnnsuite.core.errors import warn
    from rnnsuite.core.plugins import call_hook, default_manager

    pm = default_manager()
    if pm.cells is not None:
        return pm.cells
    pm.cells = {name: (cls, "builtin") for name, cls in BUILTIN_CELLS.items()}

    def register_for(plugin: str):
        def register(name, cell_class):
            register_cell(name, cell_class, source=plugin)
            if plugin in pm.infos:
                pm.infos[plugin].cells.append(name)
        return register

    before = {name: info.status for name, info in pm.infos.items()}
    call_hook(pm, "rnnsuite_register_cells", lambda plugin: {"register": register_for(plugin)})
    for name, info in pm.infos.items():  # cells load lazily: say so when a plugin's fail
        if info.status != before.get(name) and info.status.startswith("error"):
            warn(f"plugin {name!r} could not register its cells ({info.status}); they are unavailable")
    return pm.cells


def register_cell(name: str, cell_class: type, source: str = "") -> None:
    """Add a cell under `name`; built-in names and duplicates are refused."""
    if not (isinstance(cell_class, type) and issubclass(cell_class, Cell)):
        raise TypeError(f"cell {name!r} must be a subclass of rnnsuite.core.Cell")
    if name in BUILTIN_CELLS:
        raise ValueError(f"cell {name!r} is built in and cannot be replaced")
    cells = _cells()
    if name in cells and cells[name][0] is not cell_class:
        raise ValueError(f"cell {name!r} is already registered by {cells[name][1]}")
    cells[name] = (cell_class, source or cell_class.__module__)


def cell_names() -> list[str]:
    """Names of every registered cell, plugins' included."""
    return sorted(_cells())


def get_cell(name: str) -> type[Cell]:
    """The cell class registered as `name`; an unknown name is a UserError listing the known."""
    cells = _cells()
    if name not in cells:
        raise UserError(f"unknown cell {name!r}; known cells: {', '.join(sorted(cells))}")
    return cells[name][0]
