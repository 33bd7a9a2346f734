"""Build a labelled speech corpus with Debian's text-to-speech engines (nothing is downloaded).

    texts (telephone/voice-menu vocabulary, or sentences, or --texts FILE)
      └─ voice: espeak-ng accent+variant, speed, pitch | flite voice | festival voice
           └─ 16 kHz, random level and padding ─┬─ clean
                                                ├─ noise (white / pink / brown, 5-30 dB SNR)
                                                └─ telephone band: 300-3400 Hz, mu-law, 8 kHz
    DIR/manifest.csv (training voices)   DIR/test.csv (held-out voices)   DIR/wav/*.wav

Voices are written `engine:name`; espeak-ng names are `ACCENT+VARIANT`, where `*` picks one at
random per utterance (`espeak:*+f4` is variant f4 in any accent). The held-out voices never
occur in training, so test.csv measures speaker-independent recognition.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rnnsuite.core import UserError
from rnnsuite.plugins.speech.text import cardinal, normalize, ordinal

__all__ = ["build_corpus", "available_engines", "DEFAULT_VOICES", "DEFAULT_TEST_VOICES",
           "alphanumeric_text", "sentence_text"]

ESPEAK_ACCENTS = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
                  "en-gb-x-gbcwmd", "en-029", "en-us-nyc"]
ESPEAK_TRAIN_VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "f1", "f2", "f3", "f5", "klatt",
                         "klatt2", "klatt4", "croak", "Andy", "edward", "linda", "steph", "max"]
DEFAULT_VOICES = ([f"espeak:*+{v}" for v in ESPEAK_TRAIN_VARIANTS]
                  + ["flite:kal16", "flite:awb", "flite:slt", "flite:kal",
                     "festival:kal_diphone", "festival:cmu_us_slt_arctic_hts"])
DEFAULT_TEST_VOICES = ["espeak:*+m7", "espeak:*+f4", "espeak:*+klatt3", "flite:rms"]
FESTIVAL_SHARE = 0.08   # festival takes ~0.5 s per call against ~0.02 s for espeak-ng

# ---------------------------------------------------------------------------------------------
# Texts. Each generator returns (label, spoken): the label is the normalised transcript, the
# spoken form is what the engine is asked to say (letter names spelled so every engine says
# "bee", not "b" as a word).
# ---------------------------------------------------------------------------------------------

_LETTER_NAMES = dict(zip("abcdefghijklmnopqrstuvwxyz", (
    "ay bee see dee ee eff gee aitch eye jay kay el em en oh pee queue are ess tee you vee "
    "double-you ex why zee").split()))
_NATO = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november "
         "oscar papa quebec romeo sierra tango uniform victor whiskey x-ray yankee zulu").split()
_WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
_MONTHS = ("january february march april may june july august september october november "
           "december").split()
_DIGITS = "zero one two three four five six seven eight nine".split()
_COMMANDS = ["yes", "no", "yes please", "no thanks", "cancel", "repeat that", "operator",
             "main menu", "help", "go back", "next", "previous", "start over", "speak to an agent",
             "customer service", "billing", "technical support", "check my balance",
             "make a payment", "account balance", "transfer", "confirm", "stop", "continue",
             "representative", "sales", "order status", "reset my password", "hold", "hang up",
             "that's correct", "that's wrong", "i don't know", "call me back", "leave a message",
             "check status", "new account", "close my account", "open", "pay my bill"]
_DIGIT_PREFIXES = ["", "", "my number is", "call", "extension", "account number", "my pin is",
                   "dial", "the code is", "card number", "order number", "zip code"]


def _spell_letters(letters):
    return " ".join(letters), " ".join(_LETTER_NAMES[c] for c in letters)


def _time_phrase(rng):
    hour = int(rng.integers(1, 13))
    kind = rng.integers(0, 6)
    if kind == 0:
        return f"{cardinal(hour)} o'clock"
    if kind == 1:
        return ["noon", "midnight", "half past " + cardinal(hour),
                "quarter to " + cardinal(hour), "quarter past " + cardinal(hour)][rng.integers(0, 5)]
    minute = int(rng.choice([0, 5, 10, 15, 20, 30, 45, int(rng.integers(1, 60))]))
    words = cardinal(hour)
    if minute == 0:
        words += " o'clock" if rng.random() < 0.5 else ""
    elif minute < 10:
        words += " oh " + cardinal(minute)
    else:
        words += " " + cardinal(minute)
    if kind >= 3 or minute == 0 and not words.endswith("o'clock"):
        words += rng.choice([" a m", " p m"])
    return words.strip()


def _speak_ampm(label: str) -> str:
    return label.replace(" a m", " ay em").replace(" p m", " pee em")


def alphanumeric_text(rng) -> tuple[str, str]:
    """One telephone / voice-menu utterance: (label, spoken)."""
    kind = int(rng.choice(10, p=[0.17, 0.1, 0.07, 0.12, 0.11, 0.1, 0.08, 0.08, 0.07, 0.1]))
    if kind == 0:  # digit strings
        n = int(rng.integers(3, 11))
        ds = [_DIGITS[int(d)] for d in rng.integers(0, 10, n)]
        ds = ["oh" if d == "zero" and rng.random() < 0.3 else d for d in ds]
        label = " ".join(filter(None, [str(rng.choice(_DIGIT_PREFIXES)), " ".join(ds)]))
        return label, label
    if kind == 1:  # cardinals
        n = int(rng.choice([rng.integers(0, 20), rng.integers(20, 100), rng.integers(100, 10000)]))
        label = " ".join(filter(None, [str(rng.choice(["", "", "i need", "quantity", "about",
                                                          "room", "number", "flight"])),
                                       cardinal(n)]))
        return label, label
    if kind == 2:  # ordinals
        n = int(rng.integers(1, 32))
        label = str(rng.choice(["the {}", "{} floor", "the {} option", "{}", "{} in line"])
                    ).format(ordinal(n))
        return label, label
    if kind == 3:  # dates
        day = ordinal(int(rng.integers(1, 32)))
        month, weekday = str(rng.choice(_MONTHS)), str(rng.choice(_WEEKDAYS))
        label = str(rng.choice([f"{weekday} {month} {day}", f"{month} the {day}",
                                f"{month} {day}", f"next {weekday}", "today", "tomorrow",
                                f"{weekday} the {day}", f"tomorrow at {_time_phrase(rng)}",
                                f"today at {_time_phrase(rng)}",
                                f"{weekday} at {_time_phrase(rng)}"]))
        return label, _speak_ampm(label)
    if kind == 4:  # times
        label = str(rng.choice(["{}", "at {}", "{}", "after {}", "before {}"])
                    ).format(_time_phrase(rng))
        return label, _speak_ampm(label)
    if kind == 5:  # money
        dollars, cents = int(rng.integers(1, 1000)), int(rng.integers(1, 100))
        unit = "dollar" if dollars == 1 else "dollars"
        label = str(rng.choice([f"{cardinal(dollars)} {unit}",
                                f"{cardinal(dollars)} {unit} and {cardinal(cents)} cents",
                                f"pay {cardinal(dollars)} {unit}",
                                f"{cardinal(cents)} cents"]))
        return label, label
    if kind == 6:  # keypad
        key = str(rng.choice(_DIGITS[1:] + ["star", "pound", "zero"]))
        label = str(rng.choice(["press {}", "press {} for billing", "{} key", "press {} now",
                                "star {}", "{} pound", "press star", "press pound", "hash"])
                    ).format(key)
        return label, label
    if kind == 7:  # spelled letters
        letters = [chr(97 + int(i)) for i in rng.integers(0, 26, int(rng.integers(2, 7)))]
        label, spoken = _spell_letters(letters)
        if rng.random() < 0.3:
            label, spoken = "my initials are " + label, "my initials are " + spoken
        return label, spoken
    if kind == 8:  # NATO alphabet
        if rng.random() < 0.35:
            i = int(rng.integers(0, 26))
            letter = chr(97 + i)
            return f"{letter} as in {_NATO[i]}", f"{_LETTER_NAMES[letter]} as in {_NATO[i]}"
        words = [_NATO[int(i)] for i in rng.integers(0, 26, int(rng.integers(2, 6)))]
        label = " ".join(words)
        return normalize(label), label
    label = str(rng.choice(_COMMANDS))   # short commands
    if rng.random() < 0.25:
        label = f"{label} {rng.choice(['please', 'now', 'thanks'])}"
    return label, label


_SUBJECTS = ["the caller", "my friend", "the agent", "our team", "the manager", "a customer",
             "the driver", "my neighbour", "the doctor", "this office"]
_VERBS = ["needs", "wants", "found", "lost", "ordered", "returned", "checked", "moved", "paid for",
          "asked about"]
_OBJECTS = ["a new phone", "the blue car", "the last payment", "two tickets", "an old letter",
            "the train schedule", "my account", "the red box", "a small table", "the green card"]
_TAILS = ["", "yesterday", "last week", "this morning", "on monday", "before noon",
          "after lunch", "again", "right away", "in the evening"]


def sentence_text(rng) -> tuple[str, str]:
    """A short declarative sentence from a small grammar: (label, spoken)."""
    label = " ".join(filter(None, [str(rng.choice(_SUBJECTS)), str(rng.choice(_VERBS)),
                                   str(rng.choice(_OBJECTS)), str(rng.choice(_TAILS))]))
    return label, label


# ---------------------------------------------------------------------------------------------
# Engines
# ---------------------------------------------------------------------------------------------


def _flite_voices() -> set:
    try:
        out = subprocess.run(["flite", "-lv"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    return set(out.split(":", 1)[-1].split())


def _festival_voices() -> set:
    found = set()
    for root in ("/usr/share/festival/voices", "/usr/lib/festival/voices"):
        for lang in Path(root).glob("*"):
            found.update(p.name for p in lang.glob("*") if p.is_dir())
    return found


def available_engines() -> dict:
    """{engine: set of voices (None: any)} for the engines found on PATH."""
    engines = {}
    if shutil.which("espeak-ng"):
        engines["espeak"] = None
    if shutil.which("flite"):
        engines["flite"] = _flite_voices()
    if shutil.which("text2wave"):
        voices = _festival_voices()
        if voices:
            engines["festival"] = voices
    return engines


@dataclass
class _Voice:
    engine: str
    name: str

    @property
    def spec(self) -> str:
        return f"{self.engine}:{self.name}"


def _parse_voices(specs, engines, what) -> list[_Voice]:
    voices, missing = [], []
    for spec in specs:
        spec = spec.strip()
        if not spec:
            continue
        engine, _, name = spec.partition(":")
        engine = {"espeak-ng": "espeak", "text2wave": "festival"}.get(engine, engine)
        if engine not in ("espeak", "flite", "festival") or not name:
            raise UserError(f"--{what}: {spec!r} is not ENGINE:VOICE with ENGINE espeak, flite "
                            "or festival")
        if engine not in engines or (engines[engine] is not None and name not in engines[engine]):
            missing.append(spec)
            continue
        voices.append(_Voice(engine, name))
    if missing:
        print(f"synth: voices not installed, left out: {', '.join(missing)}", file=sys.stderr)
    return voices


def _synthesise(voice: _Voice, spoken: str, rng, workdir: Path) -> tuple[np.ndarray, int, str]:
    """Run one engine; returns (audio float32, rate, concrete voice description)."""
    import soundfile

    out = workdir / "tts.wav"
    if voice.engine == "espeak":
        accent, _, variant = voice.name.partition("+")
        if accent == "*":
            accent = str(rng.choice(ESPEAK_ACCENTS))
        if variant == "*":
            variant = str(rng.choice(ESPEAK_TRAIN_VARIANTS))
        name = accent + (f"+{variant}" if variant else "")
        speed, pitch = int(rng.integers(130, 210)), int(rng.integers(25, 76))
        cmd = ["espeak-ng", "-v", name, "-s", str(speed), "-p", str(pitch), "-w", str(out), spoken]
        concrete = f"espeak:{name} s{speed} p{pitch}"
    elif voice.engine == "flite":
        stretch = round(float(rng.uniform(0.85, 1.2)), 2)
        cmd = ["flite", "-voice", voice.name, "--setf", f"duration_stretch={stretch}",
               "-t", spoken, "-o", str(out)]
        concrete = f"flite:{voice.name} d{stretch}"
    else:
        stretch = round(float(rng.uniform(0.85, 1.2)), 2)
        text_file = workdir / "text.txt"
        text_file.write_text(spoken + "\n", encoding="utf-8")
        cmd = ["text2wave", "-eval", f"(voice_{voice.name})",
               "-eval", f"(Parameter.set 'Duration_Stretch {stretch})", "-o", str(out),
               str(text_file)]
        concrete = f"festival:{voice.name} d{stretch}"
    result = subprocess.run(cmd, capture_output=True, timeout=60)
    if result.returncode != 0 or not out.is_file():
        raise RuntimeError(f"{cmd[0]} failed: {result.stderr.decode(errors='replace')[:200]}")
    audio, rate = soundfile.read(str(out), dtype="float32", always_2d=True)
    return audio.mean(axis=1), rate, concrete


# ---------------------------------------------------------------------------------------------
# Augmentation
# ---------------------------------------------------------------------------------------------


def _coloured_noise(n: int, rng, colour: str) -> np.ndarray:
    white = rng.standard_normal(n)
    if colour == "white":
        return white
    spectrum = np.fft.rfft(white)
    f = np.arange(len(spectrum), dtype=np.float64)
    f[0] = 1.0
    spectrum /= np.sqrt(f) if colour == "pink" else f       # 1/f or 1/f^2 power
    noise = np.fft.irfft(spectrum, n)
    return noise / (noise.std() + 1e-12)


def _telephone(audio: np.ndarray, rng) -> np.ndarray:
    """16 kHz -> 8 kHz telephone channel: 300-3400 Hz band-pass and G.711 mu-law."""
    from rnnsuite.plugins.speech.audio import resample
    from scipy.signal import butter, sosfilt

    narrow = resample(audio.astype(np.float32), 16000, 8000)
    low, high = float(rng.uniform(250, 350)), float(rng.uniform(3200, 3500))
    sos = butter(4, [low, high], btype="bandpass", fs=8000, output="sos")
    narrow = sosfilt(sos, narrow)
    mu = 255.0
    companded = np.sign(narrow) * np.log1p(mu * np.clip(np.abs(narrow), 0, 1)) / np.log1p(mu)
    quantised = np.round(companded * 127) / 127             # 8-bit code words
    return (np.sign(quantised) * np.expm1(np.abs(quantised) * np.log1p(mu)) / mu).astype(np.float32)


def _augment(audio: np.ndarray, rate: int, rng, noise: float, telephone: float):
    """Resample to 16 kHz, vary speed, level and padding, maybe add noise / telephone band.

    Returns (audio, rate to write, description of what was applied)."""
    from rnnsuite.plugins.speech.audio import resample

    applied = []
    factor = float(rng.uniform(0.92, 1.08))                  # speed and pitch together
    audio = resample(audio.astype(np.float32), rate, int(round(16000 * factor)))
    pad = lambda: np.zeros(int(rng.uniform(0.05, 0.35) * 16000), np.float32)  # noqa: E731
    audio = np.concatenate([pad(), audio, pad()])
    peak = float(np.abs(audio).max()) or 1.0
    audio = audio / peak * float(rng.uniform(0.2, 0.9))
    if rng.random() < noise:
        colour = str(rng.choice(["white", "pink", "brown"]))
        snr = float(rng.uniform(5, 30))
        speech_power = float(np.mean(audio ** 2)) + 1e-12
        n = _coloured_noise(len(audio), rng, colour)
        audio = audio + n * math.sqrt(speech_power / 10 ** (snr / 10))
        applied.append(f"{colour} noise {snr:.0f} dB")
    out_rate = 16000
    if rng.random() < telephone:
        audio = _telephone(audio, rng)
        out_rate = 8000
        applied.append("telephone 8 kHz")
    peak = float(np.abs(audio).max())
    if peak > 0.99:
        audio = audio * (0.99 / peak)
    return audio, out_rate, ", ".join(applied) or "clean"


# ---------------------------------------------------------------------------------------------
# Corpus
# ---------------------------------------------------------------------------------------------


def _read_texts(path: Path) -> list[tuple[str, str]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read texts ({type(exc).__name__})") from None
    texts = [(normalize(line), normalize(line)) for line in lines]
    texts = [t for t in texts if t[0]]
    if not texts:
        raise UserError(f"{path}: no text lines to synthesise")
    return texts


def _make_one(job, texts, task, noise, telephone, out_dir: Path, fmt: str = "wav"):
    index, split, voice, seed = job
    rng = np.random.default_rng([seed, index, 0 if split == "train" else 1])
    if texts is not None:
        label, spoken = texts[int(rng.integers(0, len(texts)))]
    else:
        label, spoken = (alphanumeric_text if task == "alphanumeric" else sentence_text)(rng)
    from rnnsuite.plugins.speech.audio import write_wav

    with tempfile.TemporaryDirectory(prefix="rnnsuite-tts-") as tmp:
        try:
            audio, rate, concrete = _synthesise(voice, spoken, rng, Path(tmp))
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            return None, f"{voice.spec}: {exc}"
    if len(audio) == 0 or float(np.abs(audio).max()) == 0.0:
        return None, f"{voice.spec}: produced no audio for {spoken!r}"
    audio, out_rate, applied = _augment(audio, rate, rng, noise, telephone)
    name = f"wav/{split}-{index:05d}.{fmt}"
    write_wav(out_dir / name, audio, out_rate)
    return {"path": name, "text": label, "speaker": voice.spec, "voice": concrete,
            "augment": applied, "seconds": round(len(audio) / out_rate, 3)}, None


def build_corpus(out, n: int = 2000, task: str = "alphanumeric", texts_file=None,
                 voices=None, test_voices=None, test_n: int | None = None, noise: float = 0.3,
                 telephone: float = 0.3, seed: int = 0, jobs: int = 0, fmt: str = "wav",
                 progress=True) -> dict:
    """Synthesise `n` training and `test_n` held-out-voice utterances into `out`.

    Returns a summary dict (counts, seconds, voices); writes manifest.csv, test.csv and
    corpus.json (how the corpus was made). `fmt`: wav, flac or ogg (Vorbis: ~6x smaller).
    """
    out = Path(out)
    engines = available_engines()
    if not engines:
        raise UserError("synth: no text-to-speech engine found; install espeak-ng, flite or "
                        "festival (apt-get install espeak-ng flite festival)")
    if task not in ("alphanumeric", "sentences"):
        raise UserError(f"synth: unknown task {task!r} (alphanumeric or sentences)")
    if fmt not in ("wav", "flac", "ogg"):
        raise UserError(f"synth: unknown audio format {fmt!r} (wav, flac or ogg)")
    if n < 1:
        raise UserError("synth: --n must be at least 1")
    texts = _read_texts(Path(texts_file)) if texts_file else None
    train_voices = _parse_voices(voices or DEFAULT_VOICES, engines, "voices")
    held_out = _parse_voices(test_voices if test_voices is not None else DEFAULT_TEST_VOICES,
                             engines, "test-voices")
    if not train_voices:
        raise UserError("synth: none of the requested voices is installed")
    overlap = {v.spec for v in train_voices} & {v.spec for v in held_out}
    if overlap:
        raise UserError(f"synth: voices both in training and test: {', '.join(sorted(overlap))}")
    test_n = (max(20, n // 10) if held_out else 0) if test_n is None else test_n
    if test_n and not held_out:
        raise UserError("synth: no held-out test voice is installed (see --test-voices)")
    (out / "wav").mkdir(parents=True, exist_ok=True)

    def assign(count, pool, split):
        # Festival is ~25x slower than espeak-ng: give it a small share of the utterances.
        slow = [v for v in pool if v.engine == "festival"]
        fast = [v for v in pool if v.engine != "festival"] or slow
        jobs_ = []
        rng = np.random.default_rng([seed, 7, 0 if split == "train" else 1])
        for i in range(count):
            use_slow = slow and (not fast or fast is slow or rng.random() < FESTIVAL_SHARE)
            group = slow if use_slow else fast
            jobs_.append((i, split, group[i % len(group)], seed))
        return jobs_

    all_jobs = assign(n, train_voices, "train") + assign(test_n, held_out, "test")
    from rnnsuite.core import progress as progress_bar

    workers = jobs or max(1, (os.cpu_count() or 1))
    rows = {"train": [], "test": []}
    failures = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(lambda j: (j[1], _make_one(j, texts, task, noise, telephone, out, fmt)),
                           all_jobs)
        for split, (row, problem) in progress_bar(results, total=len(all_jobs), desc="synth",
                                                  disable=not progress):
            if row is None:
                failures.append(problem)
            else:
                rows[split].append(row)
    for problem in failures[:20]:
        print(f"synth: skipped {problem}", file=sys.stderr)
    if not rows["train"]:
        raise UserError(f"synth: every synthesis failed ({failures[0] if failures else '?'})")
    for split, name in (("train", "manifest.csv"), ("test", "test.csv")):
        if split == "test" and not rows["test"]:
            continue
        with open(out / name, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=["path", "text", "speaker", "voice", "augment"],
                                    extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows[split])
    summary = {
        "task": task if texts is None else f"texts from {texts_file}",
        "train_utterances": len(rows["train"]), "test_utterances": len(rows["test"]),
        "train_seconds": round(sum(r["seconds"] for r in rows["train"]), 1),
        "test_seconds": round(sum(r["seconds"] for r in rows["test"]), 1),
        "failed": len(failures), "seed": seed, "format": fmt, "noise": noise, "telephone": telephone,
        "train_voices": [v.spec for v in train_voices],
        "test_voices": [v.spec for v in held_out],
        "engines": sorted(engines),
    }
    (out / "corpus.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
