"""Fuzz targets shared by the suite (test_hardening_fuzz.py, a few hundred cases) and the long
run (scripts/fuzz.py, tens of thousands): each reader gets random bytes and mutations of a valid
input, and may only return or raise UserError -- never another exception."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from hypothesis import strategies as st
from rnnsuite.core import UserError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
_WORK = Path(tempfile.mkdtemp(prefix="rnnsuite-fuzz-"))
atexit.register(shutil.rmtree, _WORK, ignore_errors=True)   # nothing left in /tmp after a run


def _file(name: str, data: bytes) -> Path:
    path = _WORK / name
    path.write_bytes(data)
    return path


def _clean(fn, *args, **kwargs):
    """Run a reader: returning or a UserError is clean; anything else propagates (a bug)."""
    try:
        fn(*args, **kwargs)
    except UserError as exc:
        assert str(exc).strip(), "an empty error message"
        assert "\n" not in str(exc), "an error message must be one line"


def check_csv(data: bytes) -> None:
    from rnnsuite.plugins.forecast.data import load_csv

    _clean(load_csv, _file("fuzz.csv", data), echo=False)


def check_midi(data: bytes) -> None:
    from rnnsuite.plugins.music.data import Settings, load_corpus

    path = _file("fuzz.mid", data)
    for representation in ("events", "pianoroll"):
        _clean(load_corpus, path, Settings(representation=representation), use_cache=False, quiet=True)


def check_text(data: bytes, encoding: str = "utf-8") -> None:
    from rnnsuite.plugins.nlp.data import read_corpus

    _clean(read_corpus, _file("fuzz.txt", data), encoding=encoding)


def check_manifest(data: bytes) -> None:
    from rnnsuite.plugins.speech.data import read_entries

    _clean(read_entries, _file("fuzz_manifest.csv", data))


def check_wav(data: bytes) -> None:
    from rnnsuite.plugins.speech.audio import read_audio

    _clean(read_audio, _file("fuzz.wav", data))


def check_config(data: bytes) -> None:
    from rnnsuite.core.config import load_config_file

    _clean(load_config_file, _base_config(), _file("fuzz.toml", data))


def check_overrides(items: list[str]) -> None:
    from rnnsuite.core.config import apply_overrides

    _clean(apply_overrides, _base_config(), items)


_CONFIG = None


def _base_config() -> dict:
    global _CONFIG
    if _CONFIG is None:
        from rnnsuite.core.config import default_config
        from rnnsuite.core.plugins import get_domains

        _CONFIG = default_config(get_domains()["nlp"])
    return _CONFIG


# -- valid seeds ------------------------------------------------------------------------------

def _seeds() -> dict:
    sales = (EXAMPLES / "sales.csv").read_bytes()
    long_csv = b"id,date,value\n" + b"".join(
        f"{s},2021-{m:02d}-01,{m * (i + 1)}\n".encode() for i, s in enumerate("ab") for m in range(1, 13))
    toml = (b'[model]\ncell = "gru"\nhidden_size = 16\n[train]\nepochs = 2\nlr = 0.01\n'
            b'schedule = "cosine"\n[data]\ntokenizer = "word"\nsplit = "0.8,0.1,0.1"\nbptt = 32\n')
    text = (EXAMPLES / "text" / "macbeth.txt").read_bytes()[:1500] + "Ça, déjà vu — “quoted”\n".encode()
    import struct

    frames = b"".join(struct.pack("<h", (i * 37) % 2000 - 1000) for i in range(4000))
    fmt = struct.pack("<HHIIHH", 1, 1, 16000, 32000, 2, 16)
    wav = b"RIFF" + struct.pack("<I", 36 + len(frames)) + b"WAVEfmt " + struct.pack("<I", 16) + fmt \
        + b"data" + struct.pack("<I", len(frames)) + frames
    return {
        "csv": [sales[:1200], long_csv],
        "midi": [(EXAMPLES / "midi" / "001_bwv269.mid").read_bytes()],
        "text": [text],
        "manifest": [(EXAMPLES / "speech" / "manifest.csv").read_bytes(),
                     b"path\ttext\tspeaker\na.wav\thello there\tx\nb.flac\tgood bye\ty\n"],
        "wav": [wav],
        "config": [toml],
    }


SEEDS = _seeds()


@st.composite
def mutated(draw, seeds: list[bytes]) -> bytes:
    """A valid input with a few random edits: flipped/replaced bytes, insertions, deletions,
    truncation, a duplicated or swapped span, or an interesting value written in."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        n = len(data)
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "duplicate", "magic"]))
        i = draw(st.integers(0, max(0, n - 1)))
        if op == "flip" and n:
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and n:
            data[i] = draw(st.integers(0, 255))
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete" and n:
            del data[i:i + draw(st.integers(1, 64))]
        elif op == "truncate":
            del data[i:]
        elif op == "duplicate" and n:
            j = draw(st.integers(i, min(n, i + 256)))
            data[j:j] = data[i:j]
        elif op == "magic":
            magic = draw(st.sampled_from([b"\x00", b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"\x80",
                                          b"-1", b"1e308", b"nan", b"inf", b"\"", b",", b"\n", b"\r",
                                          b"\t", b"\xef\xbb\xbf", b"\xff\xfe", b"9" * 40, b"[", b"="]))
            data[i:i + len(magic)] = magic
    return bytes(data)


def inputs(kind: str):
    """Random bytes, or a mutated valid input of `kind`."""
    return st.one_of(st.binary(max_size=512), mutated(SEEDS[kind]))


TEXT_ENCODINGS = st.sampled_from(["utf-8", "latin-1", "utf-16", "cp1252", "ascii", "utf-8-sig"])
OVERRIDES = st.lists(st.one_of(
    st.text(max_size=40),
    st.builds(lambda k, v: f"{k}={v}",
              st.sampled_from(["hidden_size", "model.cell", "train.lr", "lr", "epochs", "data.split",
                               "bptt", "train.bogus", "model", "dropout", "seed", "amp", "on_nan"]),
              st.one_of(st.text(max_size=20), st.integers().map(str), st.floats().map(str),
                        st.sampled_from(["true", "[1, 2]", '"x"', "{a = 1}", "1e999", "nan", ""]))),
), max_size=4)

TARGETS = {
    # name: (check, strategy of its arguments)
    "csv": (check_csv, st.tuples(inputs("csv"))),
    "midi": (check_midi, st.tuples(inputs("midi"))),
    "text": (check_text, st.tuples(inputs("text"), TEXT_ENCODINGS)),
    "manifest": (check_manifest, st.tuples(inputs("manifest"))),
    "wav": (check_wav, st.tuples(inputs("wav"))),
    "config": (check_config, st.tuples(inputs("config"))),
    "overrides": (check_overrides, st.tuples(OVERRIDES)),
}
