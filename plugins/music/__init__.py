"""rnnsuite.plugins.music: models of MIDI music (`rnnsuite music ...`).

Kept light: the Domain imports no torch or mido; the pipeline loads when a command runs.
"""

from rnnsuite.core import hookimpl

__all__ = ["rnnsuite_register_domains"]


@hookimpl
def rnnsuite_register_domains(register):
    from rnnsuite.plugins.music.domain import MusicDomain

    register(MusicDomain())
