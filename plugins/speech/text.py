"""Transcript normalisation and the vocabulary of output units.

Every transcript (training, evaluation, the n-gram LM) goes through `normalize` so that the model
only ever sees lower-case letters, apostrophes and single spaces: "Call 555-0123 at 3:30pm!"
becomes "call five five five zero one two three at three thirty p m". No heavy imports here.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["normalize", "cardinal", "ordinal", "digits", "Vocabulary", "BLANK"]

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
         "fourteen fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINAL_IRREGULAR = {"one": "first", "two": "second", "three": "third", "five": "fifth",
                      "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}


def cardinal(n: int) -> str:
    """Spell a non-negative integer: 1205 -> "one thousand two hundred five"."""
    if n < 0:
        return "minus " + cardinal(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return _ONES[hundreds] + " hundred" + ("" if rest == 0 else " " + cardinal(rest))
    for scale, word in _SCALES:
        if n >= scale:
            high, rest = divmod(n, scale)
            return cardinal(high) + " " + word + ("" if rest == 0 else " " + cardinal(rest))
    raise AssertionError(n)  # unreachable


def ordinal(n: int) -> str:
    """Spell an ordinal: 21 -> "twenty first", 100 -> "one hundredth"."""
    words = cardinal(n).split()
    last = words[-1]
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last = last + "th"
    return " ".join(words[:-1] + [last])


def digits(s: str) -> str:
    """Spell a digit string one digit at a time: "0123" -> "zero one two three"."""
    return " ".join(_ONES[int(d)] for d in s)


def _number(s: str) -> str:
    # Phone numbers, account numbers and codes are read digit by digit; quantities as cardinals.
    if len(s) > 4 or (len(s) > 1 and s[0] == "0"):
        return digits(s)
    return cardinal(int(s))


def _money(m: re.Match) -> str:
    unit, whole, cents = {"$": ("dollar", "cent"), "£": ("pound", "penny"),
                          "€": ("euro", "cent")}[m.group(1)], m.group(2), m.group(3)
    big = int(whole.replace(",", ""))
    out = cardinal(big) + " " + unit[0] + ("" if big == 1 else "s")
    if cents and int(cents):
        small = int(cents)
        sub = unit[1] if small == 1 else ("pence" if unit[1] == "penny" else unit[1] + "s")
        out += " and " + cardinal(small) + " " + sub
    return " " + out + " "


def _time(m: re.Match) -> str:
    hour, minute, half = int(m.group(1)), m.group(2), m.group(3)
    words = cardinal(hour)
    if minute is not None:
        mm = int(minute)
        if mm == 0:
            words += "" if half else " o'clock"
        elif mm < 10:
            words += " oh " + cardinal(mm)
        else:
            words += " " + cardinal(mm)
    if half:
        words += " " + half[0].lower() + " m"
    return " " + words + " "


_RE_MONEY = re.compile(r"([$£€])\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{2}))?")
_RE_TIME = re.compile(r"\b(\d{1,2})(?::(\d{2}))?\s*([ap]\.?m\b\.?)", re.IGNORECASE)
_RE_CLOCK = re.compile(r"\b(\d{1,2}):(\d{2})()\b")
_RE_ORDINAL = re.compile(r"\b(\d+)(st|nd|rd|th)\b", re.IGNORECASE)
_RE_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s?%")
_RE_DECIMAL = re.compile(r"\b(\d+)\.(\d+)\b")
_RE_GROUPED = re.compile(r"\b\d{1,3}(?:,\d{3})+\b")
_RE_INTEGER = re.compile(r"\d+")
_RE_DASHED = re.compile(r"\b\d+(?:-\d+)+\b")  # 555-0123, 1-800-555-0199: read digit by digit
_RE_AMPM_WORD = re.compile(r"\b([ap])\.m\.?", re.IGNORECASE)
_SYMBOLS = {"&": " and ", "*": " star ", "#": " pound ", "+": " plus ", "@": " at ",
            "%": " percent ", "=": " equals "}
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
_NOT_ALLOWED = re.compile(r"[^a-z' ]+")


def normalize(text: str) -> str:
    """Lower case, numbers spelled out, punctuation removed except word-internal apostrophes."""
    s = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES)
    s = _RE_DASHED.sub(lambda m: " " + digits(m.group(0).replace("-", "")) + " ", s)
    s = _RE_MONEY.sub(_money, s)
    s = _RE_TIME.sub(_time, s)
    s = _RE_CLOCK.sub(_time, s)
    s = _RE_ORDINAL.sub(lambda m: " " + ordinal(int(m.group(1))) + " ", s)
    s = _RE_PERCENT.sub(lambda m: " " + m.group(1) + " percent ", s)
    s = _RE_DECIMAL.sub(lambda m: " " + cardinal(int(m.group(1))) + " point "
                        + digits(m.group(2)) + " ", s)
    s = _RE_GROUPED.sub(lambda m: " " + cardinal(int(m.group(0).replace(",", ""))) + " ", s)
    s = _RE_INTEGER.sub(lambda m: " " + _number(m.group(0)) + " ", s)
    s = _RE_AMPM_WORD.sub(lambda m: " " + m.group(1).lower() + " m ", s)
    for symbol, word in _SYMBOLS.items():
        s = s.replace(symbol, word)
    # Accented letters lose their accents (café -> cafe); other scripts are dropped.
    s = "".join(c for c in unicodedata.normalize("NFKD", s.lower())
                if not unicodedata.combining(c))
    s = _NOT_ALLOWED.sub(" ", s)
    words = (w.strip("'") for w in s.split())
    return " ".join(w for w in words if w)


BLANK = 0  # CTC blank is always index 0; units start at 1.


class Vocabulary:
    """Output units <-> CTC label ids (0 is the blank): characters, or phones (pronounce.py).

    `kind` is "chars" or "phones"; a transcript becomes units by its characters or through a
    lexicon's pronunciations, and `decode` joins characters into text, phones with spaces.
    """

    def __init__(self, units, kind: str = "chars"):
        self.units = list(units)
        self.kind = kind
        self.index = {u: i + 1 for i, u in enumerate(self.units)}

    @classmethod
    def from_texts(cls, texts) -> "Vocabulary":
        """The characters of `texts`."""
        return cls(sorted({c for t in texts for c in t}))

    @property
    def labels(self) -> list:
        """label id -> unit, with "" for the blank (index 0)."""
        return [""] + self.units

    def __len__(self) -> int:  # number of model outputs, blank included
        return len(self.units) + 1

    def encode(self, units) -> list[int]:
        """Label ids of a sequence of units (a string is its characters); unknown ones dropped."""
        return [self.index[u] for u in units if u in self.index]

    def decode(self, ids) -> str:
        sep = "" if self.kind == "chars" else " "
        return sep.join(self.units[i - 1] for i in ids if i != BLANK)

    def unknown(self, text: str) -> set[str]:
        return {c for c in text if c not in self.index}
