"""rnnsuite.plugins.speech: speech recognition with a CTC recogniser.

Registered like any third-party plugin; light at import (no torch, no torchaudio).
"""

from rnnsuite.core import hookimpl


@hookimpl
def rnnsuite_register_domains(register):
    from rnnsuite.plugins.speech.domain import SpeechDomain

    register(SpeechDomain())
