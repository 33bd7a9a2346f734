"""Build a labelled speech corpus with Debian's text-to-speech engines (nothing is downloaded).

    texts (telephone/voice-menu vocabulary, or sentences, or --texts FILE)
      └─ voice: espeak-ng accent+variant, speed, pitch | flite, festival or Svox Pico voice,
         speed, and in training a random pitch | (opt-in) MBROLA through espeak-ng
           └─ 16 kHz, random speed ─ maybe a room, a band-limited microphone ─ silence before
              and after ─ a noise floor ─┬─ as it is
                                         ├─ noise (white / pink / brown, 10-30 dB SNR)
                                         └─ telephone: 300-3400 Hz, mu-law or A-law, 8 kHz
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
from rnnsuite.core import UserError, atomic_write_text
from rnnsuite.plugins.speech.text import cardinal, normalize, ordinal

__all__ = ["build_corpus", "available_engines", "DEFAULT_VOICES", "DEFAULT_TEST_VOICES",
           "alphanumeric_text", "sentence_text"]

ESPEAK_ACCENTS = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
                  "en-gb-x-gbcwmd", "en-029", "en-us-nyc"]
ESPEAK_TRAIN_VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "f1", "f2", "f3", "f5", "klatt",
                         "klatt2", "klatt4", "croak", "Andy", "edward", "linda", "steph", "max"]
DEFAULT_VOICES = ([f"espeak:*+{v}" for v in ESPEAK_TRAIN_VARIANTS]
                  + ["flite:kal16", "flite:awb", "flite:slt", "flite:kal",
                     "festival:kal_diphone", "festival:cmu_us_slt_arctic_hts",
                     "pico:en-US", "pico:en-GB"])
# Held out: other espeak-ng variants, and two speakers no training voice is built from (flite's
# rms, festival's ked), from engines that also train, so the test measures new speakers.
DEFAULT_TEST_VOICES = ["espeak:*+m7", "espeak:*+f4", "espeak:*+klatt3", "flite:rms",
                       "festival:ked_diphone"]
# Shares of the training utterances by engine (among the engines of the voices asked for).
# espeak-ng's many variants all come from one formant synthesiser; flite's and festival's voices
# are built from recordings of real speakers, closer to people, and get more than their count.
# Festival takes ~0.5 s per call against ~0.02 s for espeak-ng and flite: it keeps a small share.
ENGINE_PACKAGES = {"espeak": "espeak-ng", "flite": "flite", "festival": "festival",
                   "pico": "libttspico-utils [Debian non-free]"}
ENGINE_SHARES = {"espeak": 0.45, "flite": 0.3, "festival": 0.15, "pico": 0.1}
TEST_FESTIVAL_SHARE = 0.08   # held-out voices: one share each, festival's smaller
PITCH_HZ = (85, 231)         # mean pitch drawn for flite/festival training voices
PICO_PITCH = (55, 131)       # Svox Pico's pitch level (100: its own, ~180 Hz) in training
# MBROLA diphone voices, each built from one real speaker's recordings, spoken through
# espeak-ng (`--mbrola`). They live in Debian's contrib/non-free components and their licence
# forbids commercial use: never a default, only what the user opts into.
MBROLA_VOICES = ["espeak:mb-us1", "espeak:mb-us2", "espeak:mb-us3", "espeak:mb-en1"]
MBROLA_PACKAGES = "mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1"


def mbrola_installed() -> list[str]:
    """The MBROLA voices of MBROLA_VOICES that espeak-ng can use here."""
    if not shutil.which("mbrola"):
        return []
    return [v for v in MBROLA_VOICES
            if Path("/usr/share/mbrola", v.split("mb-")[1]).is_dir()]

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


def _single_word(rng) -> tuple[str, str]:
    """One word on its own, as callers answer a menu: a digit or small number, a letter, a NATO
    word or a one-word command."""
    kind = int(rng.integers(0, 4))
    if kind == 0:
        label = cardinal(int(rng.integers(0, 21))) if rng.random() < 0.8 else "oh"
        return label, label
    if kind == 1:
        return _spell_letters([chr(97 + int(rng.integers(0, 26)))])
    if kind == 2:
        word = _NATO[int(rng.integers(0, 26))]
        return normalize(word), word
    word = str(rng.choice([c for c in _COMMANDS if " " not in c]))
    return normalize(word), word


def alphanumeric_text(rng) -> tuple[str, str]:
    """One telephone / voice-menu utterance: (label, spoken)."""
    if rng.random() < 0.12:
        return _single_word(rng)
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
    if shutil.which("pico2wave"):
        engines["pico"] = {"en-US", "en-GB"}
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
        if engine not in ("espeak", "flite", "festival", "pico") or not name:
            raise UserError(f"--{what}: {spec!r} is not ENGINE:VOICE with ENGINE espeak, flite, "
                            "festival or pico")
        if engine not in engines or (engines[engine] is not None and name not in engines[engine]):
            missing.append(spec)
            continue
        voices.append(_Voice(engine, name))
    if missing:
        hints = sorted({ENGINE_PACKAGES[spec.split(":")[0]] for spec in missing
                        if spec.split(":")[0] not in engines})
        hint = f" (to add them: apt-get install {', '.join(hints)})" if hints else ""
        print(f"synth: voices not installed, left out: {', '.join(missing)}{hint}", file=sys.stderr)
    return voices


@dataclass
class _Request:
    """One utterance to make: its job, texts and voice settings, drawn from its own generator
    (which goes on to draw the augmentation), so a corpus is the same however it is rendered."""

    index: int
    split: str
    voice: _Voice
    label: str
    spoken: str
    concrete: str            # the voice as rendered, for the manifest
    settings: dict           # engine parameters
    rng: np.random.Generator


def _plan(job, texts, task) -> _Request:
    """Draw an utterance's text and voice settings. flite's voices and festival's diphone
    voices get a random mean pitch (PITCH_HZ) in training: each of their few real speakers then
    speaks at many pitches, as espeak-ng's variants do."""
    index, split, voice, seed = job
    rng = np.random.default_rng([seed, index, 0 if split == "train" else 1])
    if texts is not None:
        label, spoken = texts[int(rng.integers(0, len(texts)))]
    else:
        label, spoken = (alphanumeric_text if task == "alphanumeric" else sentence_text)(rng)
    settings: dict = {}
    if voice.engine == "espeak":
        accent, _, variant = voice.name.partition("+")
        if accent == "*":
            accent = str(rng.choice(ESPEAK_ACCENTS))
        if variant == "*":
            variant = str(rng.choice(ESPEAK_TRAIN_VARIANTS))
        if accent.startswith("en-gb") and rng.random() < 0.7:
            spoken = spoken.replace("zee", "zed")           # the British letter z
        settings = {"name": accent + (f"+{variant}" if variant else ""),
                    "speed": int(rng.integers(130, 210)), "pitch": int(rng.integers(25, 76))}
        concrete = f"espeak:{settings['name']} s{settings['speed']} p{settings['pitch']}"
    elif voice.engine == "pico":
        settings["speed"] = int(rng.integers(85, 121))
        concrete = f"{voice.spec} s{settings['speed']}"
        if split == "train":
            settings["pitch"] = int(rng.integers(*PICO_PITCH))
            concrete += f" p{settings['pitch']}"
    else:
        settings["stretch"] = round(float(rng.uniform(0.85, 1.2)), 2)
        concrete = f"{voice.spec} d{settings['stretch']}"
        if split == "train" and (voice.engine == "flite" or voice.name.endswith("_diphone")):
            settings["f0"] = int(rng.integers(*PITCH_HZ))
            concrete += f" f{settings['f0']}"
    return _Request(index, split, voice, label, spoken, concrete, settings, rng)


def _render(request: _Request, workdir: Path) -> tuple[np.ndarray, int]:
    """Run espeak-ng, flite or Svox Pico for one request: (audio float32, rate)."""
    out = workdir / "tts.wav"
    s = request.settings
    if request.voice.engine == "espeak":
        cmd = ["espeak-ng", "-v", s["name"], "-s", str(s["speed"]), "-p", str(s["pitch"]),
               "-w", str(out), request.spoken]
    elif request.voice.engine == "pico":
        text = f"<speed level='{s['speed']}'>{request.spoken}</speed>"
        if "pitch" in s:
            text = f"<pitch level='{s['pitch']}'>{text}</pitch>"
        cmd = ["pico2wave", "-l", request.voice.name, "-w", str(out), text]
    else:
        cmd = ["flite", "-voice", request.voice.name, "--setf", f"duration_stretch={s['stretch']}"]
        if "f0" in s:
            cmd += ["--setf", f"int_f0_target_mean={s['f0']}"]
        cmd += ["-t", request.spoken, "-o", str(out)]
    result = subprocess.run(cmd, capture_output=True, timeout=60)
    if result.returncode != 0 or not out.is_file():
        raise RuntimeError(f"{cmd[0]} failed: {result.stderr.decode(errors='replace')[:200]}")
    return _read_tts(out)


def _render_festival(requests: list[_Request], workdir: Path) -> list:
    """Festival in one process for many requests (it spends ~0.5 s starting and loading a
    voice, ~0.03 s per utterance after): [(audio, rate) or an exception] in request order."""
    lines = []
    for i, r in enumerate(requests):
        lines.append(f"(voice_{r.voice.name})")
        lines.append(f"(Parameter.set 'Duration_Stretch {r.settings['stretch']})")
        if "f0" in r.settings:
            lines.append(f"(set! int_lr_params '((target_f0_mean {r.settings['f0']}) "
                         "(target_f0_std 15) (model_f0_mean 170) (model_f0_std 34)))")
        lines.append(f'(utt.save.wave (utt.synth (Utterance Text "{r.spoken}")) '
                     f'"{workdir / f"{i}.wav"}" (quote riff))')
    script = workdir / "batch.scm"
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = subprocess.run(["festival", "-b", str(script)], capture_output=True,
                            timeout=60 + 5 * len(requests))
    out = []
    for i in range(len(requests)):
        path = workdir / f"{i}.wav"
        if path.is_file():
            out.append(_read_tts(path))
        else:
            out.append(RuntimeError("festival failed: "
                                    + result.stderr.decode(errors="replace")[-200:]))
    return out


def _read_tts(path: Path) -> tuple[np.ndarray, int]:
    import soundfile

    audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    return audio.mean(axis=1), rate


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
    """16 kHz -> 8 kHz telephone channel: 300-3400 Hz band-pass and G.711 (mu-law or A-law)."""
    from rnnsuite.plugins.speech.audio import resample
    from scipy.signal import butter, sosfilt

    narrow = resample(audio.astype(np.float32), 16000, 8000)
    low, high = float(rng.uniform(250, 350)), float(rng.uniform(3200, 3500))
    sos = butter(4, [low, high], btype="bandpass", fs=8000, output="sos")
    narrow = np.clip(sosfilt(sos, narrow), -1, 1)
    if rng.random() < 0.5:                                   # mu-law, 8-bit code words
        mu = 255.0
        companded = np.sign(narrow) * np.log1p(mu * np.abs(narrow)) / np.log1p(mu)
        quantised = np.round(companded * 127) / 127
        out = np.sign(quantised) * np.expm1(np.abs(quantised) * np.log1p(mu)) / mu
    else:                                                    # A-law, 8-bit code words
        a = 87.6
        x = np.abs(narrow)
        small = x < 1 / a
        companded = np.where(small, a * x, 1 + np.log(np.maximum(a * x, 1.0))) / (1 + np.log(a))
        quantised = np.round(companded * 127) / 127
        y = quantised * (1 + np.log(a))
        out = np.sign(narrow) * np.where(y < 1, y / a, np.exp(y - 1) / a)
    return out.astype(np.float32)


def _reverberate(audio: np.ndarray, rng) -> tuple[np.ndarray, str]:
    """A room: convolution with a synthetic impulse response (direct sound, then exponentially
    decaying noise with a reverberation time RT60 of 0.1-0.5 s), mixed 20-60% wet."""
    from scipy.signal import fftconvolve

    rt60 = float(rng.uniform(0.1, 0.5))
    n = int(rt60 * 16000)
    t = np.arange(n) / 16000
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)     # -60 dB at rt60
    tail[:int(0.002 * 16000)] = 0.0                           # first reflections after 2 ms
    response = np.concatenate(([1.0], tail / (np.sqrt(np.sum(tail ** 2)) + 1e-12)))
    wet = fftconvolve(audio, response)[:len(audio)]
    mix = float(rng.uniform(0.2, 0.6))
    out = (1 - mix) * audio + mix * wet / (np.abs(wet).max() + 1e-12) * np.abs(audio).max()
    return out.astype(np.float32), f"reverb {rt60:.2f} s"


def _band_limit(audio: np.ndarray, rng) -> tuple[np.ndarray, str]:
    """A cheap microphone or loudspeaker: a random band-pass (low edge 80-400 Hz, high edge
    3-7.5 kHz)."""
    from scipy.signal import butter, sosfilt

    low, high = float(rng.uniform(80, 400)), float(rng.uniform(3000, 7500))
    sos = butter(2, [low, high], btype="bandpass", fs=16000, output="sos")
    return sosfilt(sos, audio).astype(np.float32), f"band {low:.0f}-{high:.0f} Hz"


def _add_noise(audio: np.ndarray, rng, low_db: float, high_db: float) -> tuple[np.ndarray, str]:
    colour = str(rng.choice(["white", "pink", "brown"]))
    snr = float(rng.uniform(low_db, high_db))
    speech_power = float(np.mean(audio ** 2)) + 1e-12
    noise = _coloured_noise(len(audio), rng, colour)
    return (audio + noise * math.sqrt(speech_power / 10 ** (snr / 10))).astype(np.float32), \
        f"{colour} noise {snr:.0f} dB"


def _augment(audio: np.ndarray, rate: int, rng, noise: float, telephone: float):
    """Make synthetic speech sound recorded: resample to 16 kHz at a random speed, maybe a room
    and a band-limited microphone, silence before and after (it must come out as no words), a
    noise floor always (no recording is digitally silent) and louder noise or a telephone
    channel for the given fractions.

    Returns (audio, rate to write, description of what was applied)."""
    from rnnsuite.plugins.speech.audio import resample

    applied = []
    factor = float(rng.uniform(0.92, 1.08))                  # speed and pitch together
    audio = resample(audio.astype(np.float32), rate, int(round(16000 * factor)))
    if rng.random() < 0.2:
        audio, what = _reverberate(audio, rng)
        applied.append(what)
    if rng.random() < 0.2:
        audio, what = _band_limit(audio, rng)
        applied.append(what)
    pad = lambda: np.zeros(int(rng.uniform(0.1, 0.6) * 16000), np.float32)  # noqa: E731
    audio = np.concatenate([pad(), audio, pad()])
    peak = float(np.abs(audio).max()) or 1.0
    audio = audio / peak * float(rng.uniform(0.1, 0.9))
    # speech power over the whole file (silence included) sets the SNR: the floor is 40-70 dB
    # below it, the added noise 10-30 dB
    audio, _ = _add_noise(audio, rng, 40, 70)
    if rng.random() < noise:
        audio, what = _add_noise(audio, rng, 10, 30)
        applied.append(what)
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


def _finish(request: _Request, rendered, noise, telephone, out_dir: Path, fmt: str = "wav"):
    """Augment and write one rendered utterance: (manifest row, None) or (None, problem)."""
    from rnnsuite.plugins.speech.audio import write_wav

    spec = request.voice.spec
    if isinstance(rendered, Exception):
        return None, f"{spec}: {rendered}"
    audio, rate = rendered
    if len(audio) == 0 or float(np.abs(audio).max()) == 0.0:
        return None, f"{spec}: produced no audio for {request.spoken!r}"
    audio, out_rate, applied = _augment(audio, rate, request.rng, noise, telephone)
    name = f"wav/{request.split}-{request.index:05d}.{fmt}"
    write_wav(out_dir / name, audio, out_rate)
    return {"path": name, "text": request.label, "speaker": spec, "voice": request.concrete,
            "augment": applied, "group": recording_group(applied),
            "seconds": round(len(audio) / out_rate, 3)}, None


def recording_group(applied: str) -> str:
    """The manifest's `group` (what `evaluate --json` reports `by_group`): the strongest
    condition an utterance went through, telephone > noise > reverb > band-limited > clean."""
    for group, mark in (("telephone", "telephone"), ("noise", "noise"), ("reverb", "reverb"),
                        ("band", "band")):
        if mark in applied:
            return group
    return "clean"


FESTIVAL_BATCH = 25     # utterances per festival process


def _make(requests: list[_Request], noise, telephone, out_dir: Path, fmt: str) -> list:
    """Render and finish a list of requests: one engine call each, or one festival process
    for all of them (they are then festival's). [(split, row, problem)]."""
    with tempfile.TemporaryDirectory(prefix="rnnsuite-tts-") as tmp:
        if requests[0].voice.engine == "festival":
            try:
                rendered = _render_festival(requests, Path(tmp))
            except (OSError, subprocess.SubprocessError) as exc:
                rendered = [exc] * len(requests)
        else:
            rendered = []
            for r in requests:
                try:
                    rendered.append(_render(r, Path(tmp)))
                except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                    rendered.append(exc)
    return [(r.split, *_finish(r, x, noise, telephone, out_dir, fmt)) for r, x in zip(requests, rendered)]


def build_corpus(out, n: int = 6000, task: str = "alphanumeric", texts_file=None,
                 voices=None, test_voices=None, test_n: int | None = None, noise: float = 0.3,
                 telephone: float = 0.3, seed: int = 0, jobs: int = 0, fmt: str = "wav",
                 mbrola: bool = False, progress=True) -> dict:
    """Synthesise `n` training and `test_n` held-out-voice utterances into `out`; `mbrola`
    adds the installed MBROLA voices to the training voices.

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
    train_voices, held_out, extra = _choose_voices(engines, voices, test_voices, mbrola)
    test_n = (max(20, n // 10) if held_out else 0) if test_n is None else test_n
    if test_n and not held_out:
        raise UserError("synth: no held-out test voice is installed (see --test-voices)")
    (out / "wav").mkdir(parents=True, exist_ok=True)
    all_jobs = _assign(n, train_voices, "train", seed) + _assign(test_n, held_out, "test", seed)
    requests = [_plan(job, texts, task) for job in all_jobs]
    rows, failures = _synthesise_all(requests, noise, telephone, out, fmt, jobs, progress)
    for problem in failures[:20]:
        print(f"synth: skipped {problem}", file=sys.stderr)
    if not rows["train"]:
        raise UserError(f"synth: every synthesis failed ({failures[0] if failures else '?'})")
    _write_manifests(out, rows)
    summary = {
        "task": task if texts is None else f"texts from {texts_file}",
        "train_utterances": len(rows["train"]), "test_utterances": len(rows["test"]),
        "train_seconds": round(sum(r["seconds"] for r in rows["train"]), 1),
        "test_seconds": round(sum(r["seconds"] for r in rows["test"]), 1),
        "failed": len(failures), "seed": seed, "format": fmt, "noise": noise, "telephone": telephone,
        "mbrola": bool(extra),
        "train_voices": [v.spec for v in train_voices],
        "test_voices": [v.spec for v in held_out],
        "engines": sorted(engines),
    }
    atomic_write_text(out / "corpus.json", json.dumps(summary, indent=2) + "\n")
    return summary


def _choose_voices(engines, voices, test_voices, mbrola: bool):
    """(training voices, held-out voices, the MBROLA voices added) among those installed."""
    extra = []
    if mbrola:
        extra = mbrola_installed()
        if not extra:
            raise UserError("synth: --mbrola needs mbrola and its voices (Debian, contrib and "
                            f"non-free components: apt-get install {MBROLA_PACKAGES}); their "
                            "licence allows non-commercial use only")
    train_voices = _parse_voices(list(voices or DEFAULT_VOICES) + extra, engines, "voices")
    held_out = _parse_voices(test_voices if test_voices is not None else DEFAULT_TEST_VOICES,
                             engines, "test-voices")
    if not train_voices:
        raise UserError("synth: none of the requested voices is installed")
    overlap = {v.spec for v in train_voices} & {v.spec for v in held_out}
    if overlap:
        raise UserError(f"synth: voices both in training and test: {', '.join(sorted(overlap))}")
    return train_voices, held_out, extra


def _assign(count: int, pool, split: str, seed: int) -> list:
    """Jobs (index, split, voice, seed): training voices by ENGINE_SHARES, then in turn within
    their engine; held-out voices in turn, festival's at TEST_FESTIVAL_SHARE."""
    rng = np.random.default_rng([seed, 7, 0 if split == "train" else 1])
    if split == "train":
        groups = {e: [v for v in pool if v.engine == e] for e in ENGINE_SHARES}
        weights = ENGINE_SHARES
    else:
        groups = {"festival": [v for v in pool if v.engine == "festival"],
                  "other": [v for v in pool if v.engine != "festival"]}
        weights = {"festival": TEST_FESTIVAL_SHARE, "other": 1 - TEST_FESTIVAL_SHARE}
    groups = {e: g for e, g in groups.items() if g}
    names = list(groups)
    shares = np.array([weights[e] for e in names])
    picks = rng.choice(len(names), size=count, p=shares / shares.sum())
    turn = dict.fromkeys(names, 0)
    jobs = []
    for i, k in enumerate(picks):
        group = groups[names[k]]
        jobs.append((i, split, group[turn[names[k]] % len(group)], seed))
        turn[names[k]] += 1
    return jobs


def _synthesise_all(requests, noise, telephone, out: Path, fmt: str, jobs: int, progress) -> tuple:
    """Synthesise every request in threads (festival's in batches): ({split: rows}, failures)."""
    from rnnsuite.core import progress as progress_bar

    workers = jobs or max(1, (os.cpu_count() or 1))
    rows = {"train": [], "test": []}
    failures = []
    festival = [r for r in requests if r.voice.engine == "festival"]
    work = ([[r] for r in requests if r.voice.engine != "festival"]
            + [festival[i:i + FESTIVAL_BATCH] for i in range(0, len(festival), FESTIVAL_BATCH)])
    bar = progress_bar(total=len(requests), desc="synth", disable=not progress)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for results in pool.map(lambda w: _make(w, noise, telephone, out, fmt), work):
            for split, row, problem in results:
                if row is None:
                    failures.append(problem)
                else:
                    rows[split].append(row)
            bar.update(len(results))
    bar.close()
    for split in rows:   # batches finish out of order: the manifest keeps the job order
        rows[split].sort(key=lambda row: row["path"])
    return rows, failures


def _write_manifests(out: Path, rows: dict) -> None:
    import io

    for split, name in (("train", "manifest.csv"), ("test", "test.csv")):
        if split == "test" and not rows["test"]:
            continue
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=["path", "text", "speaker", "group", "voice", "augment"],
                                extrasaction="ignore", lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows[split])
        atomic_write_text(out / name, buf.getvalue())
