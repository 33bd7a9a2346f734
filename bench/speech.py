"""Speech benchmark: the default recipe as a user runs it, measured on held-out synthetic voices
and on real recordings of people, side by side with PocketSphinx restricted to the task.

    python bench/speech.py                                   # synth + train (defaults), measure
    python bench/speech.py --corpus DIR --run RUN --skip-train   # re-measure a trained run
    python bench/speech.py --skip-pocketsphinx               # rnnsuite only

Steps, the first two exactly the README's commands through the real CLI:
  1. `rnnsuite speech synth --out CORPUS` (defaults; skipped when CORPUS exists), timed;
  2. `rnnsuite speech train CORPUS/manifest.csv --out RUN` (defaults), timed;
  3. `rnnsuite speech evaluate RUN SET --json` (default decoder) on every test set: the
     held-out voices (CORPUS/test.csv, per voice) and real recordings from Debian packages,
     never used for training or tuning (each row is a set; missing packages are left out):
       klettres-en, klettres-en_GB  letter names said by two people (klettres-data; the British
                                     speaker says "zed");
       pocketsphinx-digits          digit strings (pocketsphinx-testdata: the two recordings
                                     kept as audio whose words are all in the task);
  4. PocketSphinx (PyPI `pocketsphinx`, its en-us acoustic model and CMUdict; the `bench`
     extra) on the same files, with a trigram LM of the training transcripts, so that it may
     only say the task's words; its real-time factor counts decoding only, as `rtf` does ours.
Goal (issue 21): WER <= 10% on the held-out voices; beat the restricted PocketSphinx there and
come within a few points of it on real speech, with a faster real-time factor.
Prints a table and a JSON summary (also written to RUN/bench.json).
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def rnnsuite(*args):
    cmd = [sys.executable, "-m", "rnnsuite.apps.cli", *map(str, args)]
    print("$ rnnsuite " + " ".join(map(str, args)), file=sys.stderr, flush=True)
    start = time.perf_counter()
    env = {**os.environ, "RNNSUITE_PROGRESS": "0"}
    result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    sys.stderr.write(result.stderr[-2000:])
    if result.returncode != 0:
        raise SystemExit(f"command failed ({result.returncode}): rnnsuite {' '.join(map(str, args))}")
    return result.stdout, result.stderr, time.perf_counter() - start


def machine() -> str:
    from _machine import describe_machine  # bench/ is on sys.path when a bench runs

    return describe_machine()


def real_sets(folder: Path) -> dict:
    """Manifests of the real recordings that Debian packages ship: {name: manifest path}."""
    import numpy as np
    import soundfile

    folder = Path(folder).resolve()          # manifest paths must not depend on the cwd
    folder.mkdir(parents=True, exist_ok=True)
    sets = {}
    for lang in ("en", "en_GB"):
        files = sorted(glob.glob(f"/usr/share/klettres/{lang}/alpha/*.ogg"))
        if files:
            rows = [{"path": f, "text": Path(f).stem.lower(), "speaker": f"klettres-{lang}"}
                    for f in files]
            sets[f"klettres-{lang}"] = _write_manifest(folder / f"klettres-{lang}.csv", rows)
    data = Path("/usr/share/pocketsphinx/test/data")
    if (data / "tidigits/dhd.2934z.raw").is_file():
        pcm = np.frombuffer((data / "tidigits/dhd.2934z.raw").read_bytes(), dtype="<i2")
        soundfile.write(str(folder / "dhd.2934z.wav"), pcm, 16000)   # raw 16 kHz 16-bit
        rows = [{"path": str(folder / "dhd.2934z.wav"), "text": "two nine three four zero",
                 "speaker": "tidigits-dhd"},
                {"path": str(data / "cards/004.wav"), "text": "five five", "speaker": "cards"}]
        sets["pocketsphinx-digits"] = _write_manifest(folder / "pocketsphinx-digits.csv", rows)
    return sets


def _write_manifest(path: Path, rows: list) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["path", "text", "speaker"])
        writer.writeheader()
        writer.writerows(rows)
    return path


class PocketSphinx:
    """PocketSphinx's en-us model with an n-gram LM of the task's transcripts."""

    def __init__(self, texts: list[str], workdir: Path):
        from pocketsphinx import Decoder
        from pocketsphinx.lm import ArpaBoLM

        lm = ArpaBoLM(text="\n".join(texts) + "\n", add_start=True)
        lm.compute()
        arpa = workdir / "task.arpa"
        with open(arpa, "w") as f:
            lm.write(f)
        self.decoder = Decoder(samprate=16000, lm=str(arpa), loglevel="FATAL")

    def evaluate(self, manifest: Path) -> dict:
        from rnnsuite.plugins.speech.audio import read_audio
        from rnnsuite.plugins.speech.data import read_entries
        from rnnsuite.plugins.speech.metrics import ErrorRate
        from rnnsuite.plugins.speech.text import normalize

        total, by_speaker = ErrorRate(), {}
        seconds = busy = 0.0
        for entry in read_entries(manifest)[0]:
            audio = read_audio(entry.path)
            pcm = (audio.clip(-1, 1) * 32767).astype("<i2").tobytes()
            start = time.perf_counter()
            self.decoder.start_utt()
            self.decoder.process_raw(pcm, full_utt=True)
            self.decoder.end_utt()
            busy += time.perf_counter() - start
            hyp = self.decoder.hyp()
            ref, words = normalize(entry.text).split(), normalize(hyp.hypstr if hyp else "").split()
            total.add(ref, words)
            by_speaker.setdefault(entry.speaker, ErrorRate()).add(ref, words)
            seconds += len(audio) / 16000
        return {"wer": round(total.rate, 6), "words": total.total, "rtf": round(busy / seconds, 6),
                "by_speaker": {k: {"wer": round(v.rate, 6), "words": v.total}
                               for k, v in sorted(by_speaker.items())}}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", type=Path, default=REPO / "runs" / "bench-speech" / "corpus")
    p.add_argument("--run", type=Path, default=None, help="run folder (default: CORPUS/../run)")
    p.add_argument("--skip-train", action="store_true")
    p.add_argument("--skip-pocketsphinx", action="store_true")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   help="training overrides (a figure with them is not the default recipe's)")
    args = p.parse_args(argv)
    corpus, run = args.corpus, args.run or args.corpus.parent / "run"
    summary: dict = {"machine": machine(), "corpus": str(corpus), "run": str(run)}

    if not (corpus / "manifest.csv").is_file():
        _, _, seconds = rnnsuite("speech", "synth", "--out", corpus)
        summary["synth_wall_s"] = round(seconds, 1)
    summary["corpus_info"] = json.loads((corpus / "corpus.json").read_text())
    if not args.skip_train:
        extra = [a for item in args.overrides for a in ("--set", item)]
        _, err, seconds = rnnsuite("speech", "train", corpus / "manifest.csv", "--out", run, *extra)
        summary["train_wall_s"] = round(seconds, 1)
        summary["overrides"] = args.overrides
        done = re.search(r"Done: (\d+) steps \((\w+)\) in ([\d.]+) s", err)
        if done:
            summary.update(train_steps=int(done.group(1)), stop_reason=done.group(2),
                           train_loop_s=float(done.group(3)))

    sets = {"held-out voices": corpus / "test.csv", **real_sets(corpus.parent / "real")}
    summary["rnnsuite"], summary["pocketsphinx"] = {}, {}
    for name, manifest in sets.items():
        out, _, _ = rnnsuite("speech", "evaluate", run, manifest, "--json")
        summary["rnnsuite"][name] = json.loads(out)
    if not args.skip_pocketsphinx:
        with open(corpus / "manifest.csv", newline="", encoding="utf-8") as f:
            texts = [row["text"] for row in csv.DictReader(f)]
        sphinx = PocketSphinx(texts, run)
        for name, manifest in sets.items():
            summary["pocketsphinx"][name] = sphinx.evaluate(manifest)

    print(f"\n{'test set':<22} {'words':>6} {'rnnsuite WER':>13} {'PocketSphinx WER':>17} "
          f"{'rnnsuite RTF':>13} {'PocketSphinx RTF':>17}")
    for name in sets:
        ours, theirs = summary["rnnsuite"][name], summary["pocketsphinx"].get(name, {})
        print(f"{name:<22} {ours['words']:>6} {ours['wer']:>13.3f} {theirs.get('wer', float('nan')):>17.3f} "
              f"{ours['rtf']:>13.4f} {theirs.get('rtf', float('nan')):>17.4f}")
    print(f"\n{'held-out voice':<26} {'words':>6} {'rnnsuite WER':>13} {'PocketSphinx WER':>17}")
    theirs = summary["pocketsphinx"].get("held-out voices", {}).get("by_speaker", {})
    for voice, ours in summary["rnnsuite"]["held-out voices"].get("by_speaker", {}).items():
        print(f"{voice:<26} {ours['words']:>6} {ours['wer']:>13.3f} "
              f"{theirs.get(voice, {}).get('wer', float('nan')):>17.3f}")
    text = json.dumps(summary, indent=2)
    (run / "bench.json").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
