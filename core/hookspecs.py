"""The rnnsuite plugin hooks. The docstrings are the documentation.

Hooks run at start-up only (registration), never inside the training loop: per-step events go
through `rnnsuite.core.Callback` objects. An implementation may accept only some of a hook's
arguments, so arguments can be added later without breaking plugins.
"""

from __future__ import annotations

from typing import Callable

import pluggy

__all__ = ["hookspec", "hookimpl", "PROJECT"]

PROJECT = "rnnsuite"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# ---------------------------------------------------------------------------------------------
# Registration
# ---------------------------------------------------------------------------------------------


@hookspec
def rnnsuite_register_domains(register: Callable) -> None:
    """Register domains: call `register(domain)` with a `rnnsuite.core.Domain` instance.

    Called once when the CLI starts, so keep the module that defines the Domain light (no torch
    import at module level). A domain name registered twice is reported as an error of the second
    plugin. Return value ignored.
    """


@hookspec
def rnnsuite_register_cells(register: Callable) -> None:
    """Register recurrent cells: call `register(name, cell_class)`.

    `cell_class` subclasses `rnnsuite.core.Cell`. Called lazily, the first time a model is built
    or cells are listed, so the implementation may import torch. Every domain can then use the
    cell by name (`--cell name`). Built-in names (rnn, rnn_relu, lstm, gru) cannot be replaced.
    Return value ignored.
    """


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


@hookspec
def rnnsuite_add_commands(cli) -> None:
    """Add top-level commands to the `rnnsuite` click group: `cli.add_command(command)`.

    A domain's own verbs belong in `Domain.commands()` instead. Return value ignored.
    """
