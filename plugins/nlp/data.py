"""Text loading and the contiguous train/valid/test split. Pure Python: no torch here.

A corpus is one string. A folder is read as the concatenation of its `.txt`/`.md` files in
sorted path order, each ending with a newline, so that a split by position cuts the folder the
same way on every machine.
"""

from __future__ import annotations

import encodings
from dataclasses import dataclass
from pathlib import Path

from rnnsuite.core import UserError

__all__ = ["TEXT_SUFFIXES", "CORPUS_NOTES", "Corpus", "describe_split", "read_text", "read_corpus", "text_files",
           "contiguous_split", "parse_split", "load_corpus"]

TEXT_SUFFIXES = (".txt", ".md")
#: Files in a corpus folder that describe the corpus rather than belong to it
#: (`examples/text/PROVENANCE.md`). Matched on the upper-cased file stem.
CORPUS_NOTES = frozenset({"README", "PROVENANCE", "LICENSE", "LICENCE", "CHANGELOG", "NOTICE"})


def _check_encoding(encoding: str) -> str:
    # Python's own codec table only: third-party codec hooks (future_typing registers one that
    # accepts any name) would turn a typo into a silent non-text decoder.
    info = encodings.search_function(str(encoding).strip().lower().replace(" ", "_"))
    if info is None:
        raise UserError(f"--encoding: unknown text encoding {encoding!r}")
    return info.name


def read_text(path: Path | str, encoding: str = "utf-8") -> str:
    """Read one text file strictly: undecodable or binary bytes are a UserError with the byte offset.

    Line endings are normalised to "\\n" and a leading byte-order mark is dropped.
    """
    path = Path(path)
    encoding = _check_encoding(encoding)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, expected a text file") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not valid {encoding} text: undecodable byte 0x{raw[e.start]:02x} "
                        f"at byte offset {e.start} (use --encoding to read another encoding)") from None
    nul = text.find("\x00")
    if nul >= 0:
        offset = len(text[:nul].encode(encoding))
        raise UserError(f"{path}: looks binary, not text: NUL byte at byte offset {offset}")
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n")


def text_files(folder: Path) -> list[Path]:
    """The `.txt`/`.md` files under `folder` (recursively, sorted), minus hidden files and notes."""
    files = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES and p.stem.upper() not in CORPUS_NOTES:
            files.append(p)
    return files


def read_corpus(path: Path | str, encoding: str = "utf-8") -> str:
    """A text file, or a folder of `.txt`/`.md` files concatenated in sorted order."""
    path = Path(path)
    if path.is_dir():
        files = text_files(path)
        if not files:
            raise UserError(f"{path}: folder holds no {'/'.join(TEXT_SUFFIXES)} files")
        parts = []
        for f in files:
            t = read_text(f, encoding)
            parts.append(t if t.endswith("\n") or not t else t + "\n")
        text = "".join(parts)
    elif not path.exists():
        raise UserError(f"{path}: no such file or folder")
    else:
        text = read_text(path, encoding)
    if not text.strip():
        raise UserError(f"{path}: the text is empty")
    return text


def parse_split(split) -> tuple[float, float, float]:
    """`"0.9,0.05,0.05"` or a list of three numbers -> fractions (train, valid, test) summing to 1."""
    if isinstance(split, str):
        parts = [s for s in split.replace("/", ",").split(",") if s.strip()]
    else:
        parts = list(split)
    try:
        fractions = [float(s) for s in parts]
    except (TypeError, ValueError):
        raise UserError(f"split: expected three numbers like 0.9,0.05,0.05, got {split!r}") from None
    if len(fractions) != 3 or any(f < 0 for f in fractions) or sum(fractions) <= 0 or fractions[0] <= 0:
        raise UserError(f"split: expected three non-negative numbers (train > 0) like 0.9,0.05,0.05, "
                        f"got {split!r}")
    total = sum(fractions)
    return tuple(f / total for f in fractions)


def _cut_at_line(text: str, pos: int) -> int:
    """Move a cut position forward to just after the next line end, so no word is split."""
    if pos <= 0 or pos >= len(text) or text[pos - 1] == "\n":
        return max(0, min(pos, len(text)))
    nl = text.find("\n", pos)
    return len(text) if nl < 0 else nl + 1


def contiguous_split(text: str, fractions=(0.9, 0.05, 0.05)) -> tuple[str, str, str]:
    """Split by position, not shuffled: the first 90% trains, the next 5% validates, the last 5% tests.

    Cuts move forward to the next line end. Text order is kept, so a model is validated on text
    that comes after everything it trained on.
    """
    train_f, valid_f, _ = fractions
    n = len(text)
    a = _cut_at_line(text, round(n * train_f))
    b = _cut_at_line(text, round(n * (train_f + valid_f)))
    b = max(a, b)
    return text[:a], text[a:b], text[b:]


@dataclass
class Corpus:
    """The three splits of one run's text."""

    train: str
    valid: str
    test: str


def describe_split(corpus: Corpus, data, valid=None, test=None) -> str:
    """One line: how many characters each part holds and where it came from."""
    def part(text, given, name):
        if given:
            return f"{name} {len(text):,} from {given}"
        return f"{name} {len(text):,} held out of DATA" if text else f"no {name} part"

    return (f"nlp: {len(corpus.train):,} characters to train from {data}; "
            f"{part(corpus.valid, valid, 'validation')}; {part(corpus.test, test, 'test')}")


def load_corpus(data: Path | str, *, valid: str | None = None, test: str | None = None,
                split="auto", encoding: str = "utf-8") -> Corpus:
    """Read DATA and split it; `valid`/`test` files, when given, replace those parts of the split.

    `split` "auto": 0.9,0.05,0.05, except that with a separate `valid` nothing is held out of
    DATA (core's held_out_fraction): all of it trains. An explicit split is followed as given:
    with one file given, DATA is split between train and the other part in its proportions.
    """
    from rnnsuite.core import held_out_fraction

    if split == "auto":
        tr, va, te = 0.9, 0.05, held_out_fraction(-1, 0.05, bool(valid))
    else:
        tr, va, te = parse_split(split)
    text = read_corpus(data, encoding)
    valid_text = read_corpus(valid, encoding) if valid else None
    test_text = read_corpus(test, encoding) if test else None
    if valid_text is not None:
        va = 0.0
    if test_text is not None:
        te = 0.0
    train, v, t = contiguous_split(text, (tr / (tr + va + te), va / (tr + va + te), te / (tr + va + te)))
    if not train.strip():
        raise UserError(f"{data}: too little text to split off a training part")
    return Corpus(train=train, valid=valid_text if valid_text is not None else v,
                  test=test_text if test_text is not None else t)
