"""Labelled speech corpora: a manifest (CSV/TSV `path,text`) or a folder of `x.wav` + `x.txt`.

Loading reads every recording once (in threads: soundfile and soxr release the GIL), resamples
to 16 kHz mono and normalises the transcript. Without a feature store the waveform is kept as
int16 in memory; with one (training), its features go to the store's disk cache and the audio is
dropped (read again on demand), so that memory does not grow with the corpus, and a recording
already in the cache is not read at all. A file that cannot be used is reported on stderr and
counted in `Corpus.skipped`; it never stops training.
"""

from __future__ import annotations

import csv
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rnnsuite.core import UserError
from rnnsuite.plugins.speech.audio import SAMPLE_RATE, AudioError, check_signal, read_audio
from rnnsuite.plugins.speech.text import normalize

__all__ = ["Entry", "Utterance", "Corpus", "read_entries", "load_corpus", "AUDIO_SUFFIXES"]

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
_PATH_COLUMNS = ("path", "audio", "file", "filename", "wav")
_TEXT_COLUMNS = ("text", "transcript", "transcription", "sentence")
# Faster than anyone speaks: a transcript this dense for its audio belongs to another file.
MAX_CHARS_PER_SECOND = 40.0


@dataclass
class Entry:
    """One line of a manifest (or one audio/transcript pair) before the audio is read."""

    path: Path
    text: str
    speaker: str = ""
    group: str = ""
    name: str = ""                # the path as the manifest writes it (or relative to the folder)


@dataclass
class Utterance:
    path: str
    text: str                     # normalised transcript
    audio: np.ndarray | None      # int16 (N,) at 16 kHz; None: read from `path` on demand
    speaker: str = ""
    group: str = ""               # the manifest's `group` column: evaluate reports WER per group
    name: str = ""                # Entry.name: the same wherever the corpus is read from
    samples: int = -1             # N, known without the audio
    features: object = None       # a FeatureRef when loaded through a feature store

    def __post_init__(self):
        if self.samples < 0:
            self.samples = len(self.audio)

    @property
    def seconds(self) -> float:
        return self.samples / SAMPLE_RATE

    def waveform(self) -> np.ndarray:
        pcm = self.audio if self.audio is not None else _pcm(read_audio(self.path))
        return pcm.astype(np.float32) / 32768.0


def _pcm(audio: np.ndarray) -> np.ndarray:
    return np.clip(np.round(audio * 32767.0), -32768, 32767).astype(np.int16)


@dataclass
class Corpus:
    utterances: list = field(default_factory=list)
    skipped: list = field(default_factory=list)     # (path, reason)

    @property
    def seconds(self) -> float:
        return sum(u.seconds for u in self.utterances)


def _pick(header: list[str], names, manifest: Path, what: str) -> int:
    lowered = [h.strip().lower() for h in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    raise UserError(f"{manifest}: no {what} column (expected one of {', '.join(names)}; "
                    f"found {', '.join(header) or 'nothing'})")


def _cell(cells: list[str], index: int | None) -> str:
    return cells[index] if index is not None and index < len(cells) else ""


def _read_manifest(manifest: Path) -> list[Entry]:
    try:
        raw = manifest.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"{manifest}: not a UTF-8 text manifest") from None
    except OSError as exc:
        raise UserError(f"{manifest}: cannot read ({exc.strerror})") from None
    lines = raw.splitlines()
    if not any(line.strip() for line in lines):
        raise UserError(f"{manifest}: manifest is empty")
    if manifest.suffix.lower() == ".tsv" or ("\t" in lines[0] and "," not in lines[0]):
        delimiter = "\t"
    else:
        delimiter = ","
    rows = list(csv.reader(lines, delimiter=delimiter))
    header = rows[0]
    path_col = _pick(header, _PATH_COLUMNS, manifest, "'path'")
    text_col = _pick(header, _TEXT_COLUMNS, manifest, "'text'")
    lowered = [h.strip().lower() for h in header]
    speaker_col = lowered.index("speaker") if "speaker" in lowered else None
    group_col = lowered.index("group") if "group" in lowered else None
    entries = []
    for row in rows[1:]:
        if not row or not any(cell.strip() for cell in row):
            continue
        cells = [c.strip() for c in row]
        rel, text = _cell(cells, path_col), _cell(cells, text_col)
        audio = Path(rel) if Path(rel).is_absolute() else manifest.parent / rel
        entries.append(Entry(audio, text, _cell(cells, speaker_col), _cell(cells, group_col), rel))
    if not entries:
        raise UserError(f"{manifest}: manifest has a header but no recordings")
    return entries


def read_entries(data) -> tuple[list[Entry], list]:
    """Entries of a manifest file or folder; returns (entries, skipped (path, reason))."""
    data = Path(data)
    if not data.exists():
        raise UserError(f"{data}: no such file or folder")
    if data.is_file():
        if data.suffix.lower() in AUDIO_SUFFIXES:
            raise UserError(f"{data}: expected a manifest (CSV/TSV with path,text columns) or a "
                            "folder of audio files with .txt transcripts, not one audio file")
        return _read_manifest(data), []
    for name in ("manifest.csv", "manifest.tsv"):
        if (data / name).is_file():
            return _read_manifest(data / name), []
    entries, skipped = [], []
    for audio in sorted(p for p in data.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES):
        transcript = audio.with_suffix(".txt")
        if not transcript.is_file():
            skipped.append((str(audio), f"no transcript ({transcript.name})"))
            continue
        try:
            text = transcript.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            skipped.append((str(transcript), f"cannot read transcript ({type(exc).__name__})"))
            continue
        entries.append(Entry(audio, " ".join(text.split()), name=str(audio.relative_to(data))))
    if not entries:
        raise UserError(f"{data}: no audio files with .txt transcripts "
                        f"({', '.join(AUDIO_SUFFIXES)}) and no manifest.csv")
    return entries, skipped


def other_script(text: str) -> str | None:
    """The name of the first letter of `text` outside the Latin script (e.g. "CYRILLIC"), or None:
    the recogniser's units are English, so such a transcript cannot be learnt."""
    import unicodedata

    for c in text:
        if c.isalpha():
            name = unicodedata.name(c, "")
            if name and not name.startswith("LATIN"):
                return name.split()[0]
    return None


def _load_one(entry: Entry, min_seconds: float, max_seconds: float, store=None,
              keep_audio: bool = True):
    script = other_script(entry.text)
    if script is not None:
        # never a transcript with words silently dropped
        return None, (str(entry.path), f"transcript in another script ({script.lower()}): "
                                       "the recogniser's units are English letters or phones")
    text = normalize(entry.text)
    if not text:
        return None, (str(entry.path), "empty transcript")
    try:
        # in the store: its audio passed these checks when it was cached (the settings, in the
        # key, include min and max seconds)
        hit = store.cached(entry.path) if store is not None else None
        if hit is None:
            audio = read_audio(entry.path)
            check_signal(entry.path, audio, min_seconds, max_seconds)
    except AudioError as exc:
        return None, (str(entry.path), str(exc).split(": ", 1)[-1])
    samples = hit[1] if hit is not None else len(audio)
    seconds = samples / SAMPLE_RATE
    if len(text) / seconds > MAX_CHARS_PER_SECOND:
        return None, (str(entry.path), f"transcript too long for the audio ({len(text)} "
                      f"characters in {seconds:.2f} s): mislabelled?")
    where = (str(entry.path), text)
    who = {"speaker": entry.speaker, "group": entry.group, "name": entry.name}
    if hit is not None:
        return Utterance(*where, None, **who, samples=samples, features=hit[0]), None
    pcm = _pcm(audio)
    if store is not None:
        features = store.make(entry.path, pcm.astype(np.float32) / 32768.0)
        return Utterance(*where, None, **who, samples=samples, features=features), None
    return Utterance(*where, pcm if keep_audio else None, **who, samples=samples), None


def report_skipped(skipped, stream=None) -> None:
    stream = stream or sys.stderr
    for path, reason in skipped:
        print(f"skipped {path}: {reason}", file=stream)


def load_corpus(data, min_seconds: float = 0.2, max_seconds: float = 30.0, workers: int = 0,
                report: bool = True, store=None, keep_audio: bool = True) -> Corpus:
    """Read and check every recording of `data` (manifest or folder). With a `store`
    (feature_store.FeatureStore), each utterance gets its features from it (computed and cached
    if new) and keeps no audio; with keep_audio=False, it keeps only its length (its audio is
    read again when asked for: memory flat however large the corpus)."""
    import os

    entries, skipped = read_entries(data)
    workers = workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda e: _load_one(e, min_seconds, max_seconds, store, keep_audio), entries))
    corpus = Corpus(skipped=list(skipped))
    for utterance, problem in results:
        if utterance is not None:
            corpus.utterances.append(utterance)
        else:
            corpus.skipped.append(problem)
    if report:
        report_skipped(corpus.skipped)
    scripts = [reason for _, reason in corpus.skipped if reason.startswith("transcript in another script")]
    if scripts and len(scripts) >= len(entries) / 2:
        raise UserError(f"{data}: {len(scripts)} of {len(entries)} transcripts are in another script "
                        f"({scripts[0].split('(')[1].split(')')[0]}); the speech domain recognises "
                        "English (letters or CMUdict phones)")
    return corpus
