"""How rnnsuite behaves when the data is 1x, 10x and 100x the examples (issue 20).

For each domain and size it generates an input (once, kept under --work), then runs each phase
in a fresh child process (python bench/scale.py --child ...), so that every phase's peak memory is
its own:

  load      the Task as `train` builds it (read, parse, encode, features); music and speech
            load twice, the second through the disk cache the first filled
  train     `train --max-steps --steps` through the run API; the time per step is the median of
            the steps' own times (validation and checkpoints excluded), load and finish apart
  predict   the verb a user runs on the trained model: `forecast predict` on every series;
            `evaluate` on a fixed slice for nlp, music and speech (--eval-items), so that the
            time per item is comparable across sizes

Peak RSS is the child's VmHWM; anon is its anonymous resident memory (RssAnon) at the end of the
phase: memory-mapped files are paged in and out by the kernel and are not in it.

Sizes (1x / 10x / 100x):
  forecast  2,000 / 20,000 / 100,000 synthetic monthly series of 120 points (one long CSV)
  nlp       1 / 10 / 100 MB of text: examples/text, its lines shuffled per copy
  music     20 / 2,000 / 20,000 MIDI files: examples/midi, each copy made unique by a text
            event (its notes as they are), plus one truncated file that must be skipped
  speech    1,000 / 10,000 / 100,000 utterances: examples/speech at 16 kHz, each copy with its
            own faint noise (distinct audio), in a manifest

    python bench/scale.py                          # every domain at 1x, 10x, 100x
    python bench/scale.py --domains speech --scales 1,10 --json scale.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
CACHED = ("music", "speech")   # the domains with a disk cache
UNIT = {"forecast": "series", "nlp": "MB", "music": "files", "speech": "utterances"}
# the sizes issue 20 names for 1x, 10x and 100x (forecast's and music's are not exact multiples)
SIZES = {"forecast": {1: 2000, 10: 20000, 100: 100000}, "nlp": {1: 1, 10: 10, 100: 100},
         "music": {1: 20, 10: 2000, 100: 20000}, "speech": {1: 1000, 10: 10000, 100: 100000}}


def size_of(domain: str, scale: int) -> int:
    return SIZES[domain][scale]


# -- inputs --------------------------------------------------------------------------------------

def make_forecast(path: Path, n: int) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(n)
    t = np.arange(120)
    level = rng.lognormal(6, 1, (n, 1))
    trend = rng.normal(0, 0.004, (n, 1)) * t
    season = 1 + rng.uniform(0, 0.3, (n, 1)) * np.sin(2 * np.pi * (t + rng.integers(0, 12, (n, 1))) / 12)
    y = level * np.exp(trend) * season * rng.lognormal(0, 0.05, (n, 120))
    dates = pd.date_range("2010-01-01", periods=120, freq="MS").strftime("%Y-%m")
    frame = pd.DataFrame({"series": np.repeat([f"s{i:06d}" for i in range(n)], 120),
                          "month": np.tile(dates, n), "value": y.round(2).ravel()})
    frame.to_csv(path, index=False)


def make_nlp(path: Path, megabytes: int) -> None:
    import random

    lines = "".join(p.read_text(encoding="utf-8") for p in sorted((EXAMPLES / "text").glob("*.txt"))).splitlines()
    rng, target, written = random.Random(megabytes), megabytes * 1_000_000, 0
    with open(path, "w", encoding="utf-8") as f:
        while written < target:
            rng.shuffle(lines)
            chunk = "\n".join(lines)[: target - written] + "\n"
            f.write(chunk)
            written += len(chunk.encode("utf-8"))


def make_music(folder: Path, n: int) -> None:
    import mido

    originals = [(p.stem, mido.MidiFile(p)) for p in sorted((EXAMPLES / "midi").glob("*.mid"))]
    folder.mkdir(parents=True)
    for i in range(n):
        stem, mid = originals[i % len(originals)]
        mid.tracks[0].insert(0, mido.MetaMessage("text", text=f"scale copy {i}"))
        mid.save(folder / f"{i:05d}_{stem}.mid")
        del mid.tracks[0][0]
    data = (EXAMPLES / "midi" / "001_bwv269.mid").read_bytes()
    (folder / "zz_truncated.mid").write_bytes(data[: len(data) // 3])


def make_speech(folder: Path, n: int) -> None:
    import csv

    import numpy as np
    import soundfile as sf
    import soxr

    rows = list(csv.DictReader(open(EXAMPLES / "speech" / "manifest.csv", encoding="utf-8")))
    waves = []
    for row in rows:
        audio, rate = sf.read(EXAMPLES / "speech" / row["path"], dtype="float32", always_2d=True)
        waves.append(soxr.resample(audio.mean(axis=1), rate, 16000))
    rng = np.random.default_rng(n)
    folder.mkdir(parents=True)
    with open(folder / "manifest.csv", "w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(["path", "text", "speaker"])
        for i in range(n):
            k = i % len(rows)
            sub = f"{i // 1000:03d}"
            (folder / sub).mkdir(exist_ok=True)
            wave = waves[k] + rng.normal(0, 3e-4, len(waves[k])).astype("float32")
            sf.write(folder / sub / f"{i:06d}.flac", wave, 16000, subtype="PCM_16")
            out.writerow([f"{sub}/{i:06d}.flac", rows[k]["text"], rows[k]["speaker"]])


def make_eval_slice(domain: str, data: Path, work: Path, items: int) -> Path:
    """A fixed-size evaluation input cut from the 1x data (the same for every size)."""
    target = work / f"{domain}-eval"
    if target.exists():
        return target if domain != "nlp" else target / "eval.txt"
    tmp = work / f"{domain}-eval.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if domain == "nlp":
        text = data.read_text(encoding="utf-8")
        (tmp / "eval.txt").write_text(text[-items * 1000:], encoding="utf-8")
    elif domain == "music":
        for p in sorted(data.glob("0*.mid"))[:items]:
            shutil.copy(p, tmp / p.name)
    else:
        lines = (data / "manifest.csv").read_text(encoding="utf-8").splitlines()
        (tmp / "manifest.csv").write_text("\n".join(lines[:items + 1]) + "\n", encoding="utf-8")
        for line in lines[1:items + 1]:
            rel = line.split(",", 1)[0]
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            os.link(data / rel, tmp / rel)
    tmp.rename(target)
    return target if domain != "nlp" else target / "eval.txt"


def make_input(domain: str, scale: int, work: Path) -> Path:
    """The generated input (made once; a `.done` mark says it is complete)."""
    n = size_of(domain, scale)
    folder = work / f"{domain}-{scale}x"
    path = folder / {"forecast": "series.csv", "nlp": "text.txt"}.get(domain, "")
    if (folder / ".done").exists():
        return path
    shutil.rmtree(folder, ignore_errors=True)
    start = time.perf_counter()
    if domain in ("music", "speech"):
        (make_music if domain == "music" else make_speech)(folder, n)
    else:
        folder.mkdir(parents=True)
        (make_forecast if domain == "forecast" else make_nlp)(path, n)
    (folder / ".done").write_text("")
    print(f"  made {domain} {scale}x ({n:,} {UNIT[domain]}) in {time.perf_counter() - start:.0f} s",
          file=sys.stderr)
    return path


# -- the phases, each in its own child process --------------------------------------------------

def memory() -> dict:
    """Peak resident memory of this process (VmHWM: ru_maxrss would carry the parent's peak
    across fork and exec) and its anonymous resident memory now (RssAnon)."""
    fields = {}
    for line in open("/proc/self/status"):
        key, _, value = line.partition(":")
        if key in ("VmHWM", "RssAnon"):
            fields[key] = int(value.split()[0]) // 1024
    return {"peak_rss_mb": fields.get("VmHWM", 0), "anon_mb": fields.get("RssAnon", 0)}


def child(args) -> dict:
    import statistics

    import torch
    from rnnsuite.apps.cli import build_config, cli
    from rnnsuite.core.callbacks import Callback
    from rnnsuite.core.plugins import domain_named
    from rnnsuite.core.run_lifecycle import train_run

    torch.set_num_threads(1)
    domain = domain_named(args.domain)
    config = build_config(domain, overrides=["device=cpu", "threads=1"], max_steps=args.steps)
    start = time.perf_counter()
    if args.child == "load":
        domain.create_task(config, Path(args.data), None)
        return {"seconds": time.perf_counter() - start, **memory()}
    if args.child == "train":
        class Timer(Callback):
            def __init__(self):
                self.marks, self.start = [], None

            def on_train_start(self, trainer):
                self.start = time.perf_counter()
                self.last = self.start

            def on_step_end(self, trainer, output):
                now = time.perf_counter()
                self.marks.append(now - self.last)
                self.last = now

            def on_evaluate(self, trainer, metrics):
                self.last = time.perf_counter()   # the next step's time starts after validation

        timer = Timer()
        config["train"]["eval_every"] = 0
        train_run(domain, config, data=Path(args.data), out=Path(args.run), show_progress=False,
                  callbacks=[timer])
        end = time.perf_counter()
        return {"load_s": timer.start - start, "steps": len(timer.marks),
                "step_s": statistics.median(timer.marks[1:] or timer.marks),
                "train_s": end - timer.start, **memory()}
    verb = {"forecast": ["predict", args.data, "--model", args.run, "--out", str(Path(args.run) / "forecast.csv")]}
    command = [args.domain, *verb.get(args.domain, ["evaluate", args.run, args.data]), "--device", "cpu", "--json"]
    try:
        cli.main(command, prog_name="rnnsuite", standalone_mode=False)
    except SystemExit as exc:
        if exc.code:
            raise
    return {"seconds": time.perf_counter() - start, **memory()}


def run_child(phase: str, domain: str, data: Path, run: Path, steps: int, log: Path) -> dict:
    command = [sys.executable, __file__, "--child", phase, "--domain", domain, "--data", str(data),
               "--run", str(run), "--steps", str(steps)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log, "a") as err:
        err.write(f"\n$ {' '.join(command)}\n")
        err.flush()
        out = subprocess.run(command, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    if out.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-5:]
        return {"error": f"exit {out.returncode}: " + " | ".join(tail)}
    return json.loads(out.stdout.strip().splitlines()[-1])


def count_items(domain: str, data: Path) -> int:
    if domain == "nlp":
        return round(data.stat().st_size / 1e6)
    if domain == "forecast":
        with open(data, "rb") as f:
            return (sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b"")) - 1) // 120
    if domain == "music":
        return len(list(data.glob("*.mid")))
    return len((data / "manifest.csv").read_text().splitlines()) - 1


def measure(domain: str, scale: int, args) -> dict:
    work = Path(args.work)
    data = make_input(domain, scale, work)
    items = count_items(domain, data)
    cache = work / f"cache-{domain}-{scale}x"
    shutil.rmtree(cache, ignore_errors=True)   # the first load is a cold one
    os.environ["RNNSUITE_CACHE_DIR"] = str(cache)
    log = work / f"{domain}-{scale}x.log"
    log.unlink(missing_ok=True)
    row = {"domain": domain, "scale": scale, "items": items, "unit": UNIT[domain]}
    row["load_cold"] = run_child("load", domain, data, work, args.steps, log)
    if domain in CACHED:   # a second load, through the cache the first one filled
        row["load_warm"] = run_child("load", domain, data, work, args.steps, log)
    run = work / f"run-{domain}-{scale}x"
    shutil.rmtree(run, ignore_errors=True)
    row["train"] = run_child("train", domain, data, run, args.steps, log)
    if "error" not in row["train"]:
        target = data if domain == "forecast" else make_eval_slice(
            domain, make_input(domain, 1, work), work, args.eval_items[domain])
        row["predict"] = run_child("predict", domain, target, run, args.steps, log)
        row["predict"]["items"] = items if domain == "forecast" else args.eval_items[domain]
    return row


def show(row: dict) -> str:
    def cell(phase, key, fmt):
        if phase not in row:
            return "-"
        value = row[phase].get(key)
        return "error" if "error" in row[phase] else (fmt.format(value) if value is not None else "-")

    per_item = ""
    p = row.get("predict", {})
    if "seconds" in p:
        one = {"series": "series", "files": "file", "utterances": "utterance"}.get(UNIT[row["domain"]])
        per_item = f"{p['seconds'] / p['items'] * 1000:.2f} ms/{one}"
        if row["domain"] == "nlp":
            per_item = f"{p['seconds'] / (p['items'] / 1000):.1f} s/MB"
    load = row["load_cold"].get("seconds")
    load_per = f"{load / row['items'] * 1000:.2f} ms" if load is not None else "error"
    if row["domain"] == "nlp" and load is not None:
        load_per = f"{load / row['items']:.2f} s/MB"
    return (f"| {row['domain']} | {row['scale']}x | {row['items']:,} {row['unit']} | "
            f"{cell('load_cold', 'seconds', '{:.1f}')} ({load_per}) | {cell('load_warm', 'seconds', '{:.1f}')} | "
            f"{cell('load_cold', 'peak_rss_mb', '{:,}')} | {cell('train', 'step_s', '{:.3f}')} | "
            f"{cell('train', 'peak_rss_mb', '{:,}')} | {cell('train', 'anon_mb', '{:,}')} | "
            f"{cell('predict', 'seconds', '{:.1f}')} ({per_item}) | {cell('predict', 'peak_rss_mb', '{:,}')} |")


HEADER = ("| domain | size | items | load cold s (per item) | load warm s | load peak RSS MB | "
          "train s/step | train peak RSS MB | train anon MB at end | predict s (per item) | predict peak RSS MB |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domains", default="forecast,nlp,music,speech")
    parser.add_argument("--scales", default="1,10,100")
    parser.add_argument("--steps", type=int, default=30, help="training steps per run")
    parser.add_argument("--work", default=str(ROOT / "runs" / "bench-scale"))
    parser.add_argument("--json", help="write every row here as JSON")
    parser.add_argument("--make-only", action="store_true", help="only generate the inputs")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--domain", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--run", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return
    args.eval_items = {"nlp": 200, "music": 20, "speech": 200}   # kB of text, files, utterances
    Path(args.work).mkdir(parents=True, exist_ok=True)
    if args.make_only:
        for domain in args.domains.split(","):
            for scale in (int(s) for s in args.scales.split(",")):
                make_input(domain, scale, Path(args.work))
        return
    rows = []
    print(HEADER, flush=True)
    for domain in args.domains.split(","):
        for scale in (int(s) for s in args.scales.split(",")):
            row = measure(domain, scale, args)
            rows.append(row)
            print(show(row), flush=True)
            for phase in ("load_cold", "load_warm", "train", "predict"):
                if "error" in row.get(phase, {}):
                    print(f"  {domain} {scale}x {phase}: {row[phase]['error']}", flush=True)
            if args.json:
                Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
