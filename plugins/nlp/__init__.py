"""rnnsuite.plugins.nlp: character- and word-level language models (`rnnsuite nlp ...`).

Kept light: the Domain imports no torch; the Task, model and sampling load when a command runs.
"""

from rnnsuite.core import hookimpl

__all__ = ["rnnsuite_register_domains"]


@hookimpl
def rnnsuite_register_domains(register):
    from rnnsuite.plugins.nlp.domain import LanguageModelDomain

    register(LanguageModelDomain())
