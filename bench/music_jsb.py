"""JSB Chorales benchmark for `rnnsuite music` (piano roll, NLL per frame).

    python bench/music_jsb.py                       # rnn, lstm, gru on the canonical JSB split
    python bench/music_jsb.py --music21             # also ~350 music21 chorales, 60/20/20 by piece
    python bench/music_jsb.py --cells lstm --set hidden_size=128 --epochs 5   # quick look
    python bench/music_jsb.py --events-run RUN examples/midi --pieces 20      # an events run's
        # generated pieces vs the MIDI in DATA and random tokens: scale fit, in-key pitch-class
        # distance, notes per second (bench/RESULTS.md, music, "Example data")

Data: `../shared/data/jsb-chorales-quarter.json.gz` (Boulanger-Lewandowski's split, quarter-note
frames; see the README beside it). Scoring, as published: natural log, NLL per frame summed over
the 88 keys, the first frame of each piece not scored, each piece from a zero state.

The models go through the real pipeline: the split is written as MIDI (one quarter note per
frame, each sounding pitch a one-quarter note), trained with core's trainer exactly as
`rnnsuite music train TRAIN_DIR --representation pianoroll --set valid=VALID_DIR` would, and
scored with the `evaluate` verb's code on the test MIDI files. The same model is also scored on
the JSON piano rolls directly, to show both give the same figure. Baselines from the same data:
per-key unigram and per-key Markov (Bernoulli, add-one smoothing). Generated pieces are compared
with the training set (pitch-class histogram distance, note density) next to random notes.

Jobs run in parallel worker processes (`--jobs`), each on `--device`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "jsb-chorales-quarter.json.gz"
PUBLISHED = {
    "Chung et al. 2014 tanh RNN": 8.82, "Chung et al. 2014 LSTM": 8.67,
    "Chung et al. 2014 GRU": 8.54, "Bai et al. 2018 LSTM": 8.45, "Bai et al. 2018 GRU": 8.43,
    "Bai et al. 2018 TCN": 8.10,
}


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def load_jsb(path: Path) -> dict:
    """{"train"|"valid"|"test": [roll (F, 88) uint8, ...]}"""
    from rnnsuite.plugins.music.pianoroll import frames_from_pitch_lists

    with gzip.open(path, "rt") as fh:
        raw = json.load(fh)
    return {split: [frames_from_pitch_lists(p) for p in raw[split]] for split in ("train", "valid", "test")}


def write_split_midi(rolls: dict, root: Path) -> dict:
    """Each split as a folder of MIDI files: a frame is a quarter note, each pitch one note."""
    from rnnsuite.plugins.music.midi import midi_bytes
    from rnnsuite.plugins.music.pianoroll import roll_notes

    folders = {}
    for split, pieces in rolls.items():
        folder = root / split
        folder.mkdir(parents=True, exist_ok=True)
        for i, roll in enumerate(pieces):
            data = midi_bytes(roll_notes(roll, 480), in_ticks=True, end_tick=len(roll) * 480,
                              ticks_per_beat=480)
            (folder / f"{split}_{i:03d}.mid").write_bytes(data)
        folders[split] = str(folder)
    return folders


def load_music21(folder: Path, seed: int = 0) -> dict:
    """music21 chorales (rendered by bench/_music21_chorales.py) -> deduplicated 60/20/20 split."""
    from rnnsuite.plugins.music.data import Settings, load_corpus

    pieces, skipped = load_corpus(folder, Settings(representation="pianoroll"), use_cache=True,
                                  quiet=True)
    unique, seen = [], set()
    for p in pieces:  # duplicate chorales: same piano roll
        key = p.data.tobytes() + bytes(str(p.data.shape), "ascii")
        if key not in seen:
            seen.add(key)
            unique.append(p)
    order = np.random.default_rng(seed).permutation(len(unique))
    n_train, n_valid = int(0.6 * len(unique)), int(0.2 * len(unique))
    parts = {"train": order[:n_train], "valid": order[n_train:n_train + n_valid],
             "test": order[n_train + n_valid:]}
    info = {"files": len(pieces), "skipped": len(skipped), "duplicates": len(pieces) - len(unique)}
    return {k: [unique[i].data for i in v] for k, v in parts.items()}, info


MUSIC21_DIR = Path.home() / ".cache" / "rnnsuite" / "bench" / "music21-chorales"


def render_music21(out: Path = MUSIC21_DIR, first: int = 1, last: int = 371) -> Path:
    """Render music21's Bach chorales (Riemenschneider numbers first..last) to MIDI, once.

    Slow (music21 parses every score), so the files are cached in `out`, named
    `<number>_<corpus file>.mid`: original keys, music21's own MIDI writer. Chorales music21
    cannot render are listed in skipped-<first>.txt.
    """
    from music21 import corpus

    out.mkdir(parents=True, exist_ok=True)
    skipped = []
    for score in corpus.chorales.Iterator(currentNumber=first, highestNumber=last,
                                          returnType="stream"):
        md = score.metadata
        name = f"{int(md.number):03d}_{Path(md.corpusFilePath).stem.replace('.', '_')}.mid"
        if (out / name).is_file():
            continue
        try:
            data_path = out / f".{name}.tmp"
            score.write("midi", fp=str(data_path))
            data_path.rename(out / name)
        except Exception as err:
            skipped.append(f"{md.number} {md.corpusFilePath}: {err}")
    (out / f"skipped-{first}.txt").write_text("\n".join(skipped) + "\n")
    return out


# ---------------------------------------------------------------------------------------------
# Baselines (independent of rnnsuite's model code)
# ---------------------------------------------------------------------------------------------


def _bernoulli_nll(p: np.ndarray, y: np.ndarray) -> float:
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).sum())


def baselines(train: list, test: list) -> dict:
    frames = np.concatenate(train).astype(np.float64)
    p_on = (frames.sum(0) + 1) / (len(frames) + 2)  # per-key unigram, add-one
    prev = np.concatenate([r[:-1] for r in train]).astype(bool)
    nxt = np.concatenate([r[1:] for r in train]).astype(np.float64)
    p_after_on = ((nxt * prev).sum(0) + 1) / (prev.sum(0) + 2)  # P(on_t | on_{t-1}) per key
    p_after_off = ((nxt * ~prev).sum(0) + 1) / ((~prev).sum(0) + 2)
    uni = markov = 0.0
    count = 0
    for r in test:
        y = r[1:].astype(np.float64)
        uni += _bernoulli_nll(np.broadcast_to(p_on, y.shape), y)
        markov += _bernoulli_nll(np.where(r[:-1].astype(bool), p_after_on, p_after_off), y)
        count += len(y)
    return {"unigram": uni / count, "markov": markov / count, "frames": count}


# ---------------------------------------------------------------------------------------------
# "Sounds like music": generated pieces against the training set
# ---------------------------------------------------------------------------------------------


def roll_stats(rolls: list) -> dict:
    frames = np.concatenate(rolls).astype(np.float64)
    keys = frames.sum(0)
    pc = np.zeros(12)
    for k in range(88):
        pc[(21 + k) % 12] += keys[k]
    return {"pc_hist": pc / max(pc.sum(), 1), "density": float(frames.sum(1).mean())}


def music_quality(model_rolls: list, train: list, chorales: list, seed: int = 0) -> dict:
    """Generated rolls against the training set, beside held-out chorales cut to the same
    length and uniformly random notes (every key on with p=1/2 per frame: what an untrained
    model samples): pitch-class histogram distance (total variation, 0..1), notes per frame,
    the share of frames with 3+ pitch classes that are a triad or seventh chord (or part of
    one), and the distance between the distributions of the frames' pitch-class sets."""
    from rnnsuite.plugins.music.metrics import (
        chord_fraction,
        distribution_distance,
        pc_distance,
        pcset_distribution,
    )

    ref = roll_stats(train)
    ref_sets = pcset_distribution(train)
    rng = np.random.default_rng(seed)
    random_rolls = [(rng.random(r.shape) < 0.5).astype(np.uint8) for r in model_rolls]
    out = {"train_density": round(ref["density"], 3),
           "train_chord_fraction": round(chord_fraction(train), 4)}
    for name, rolls in (("generated", model_rolls), ("chorales", chorales), ("random", random_rolls)):
        s = roll_stats(rolls)
        out[f"{name}_pc_distance"] = round(pc_distance(s["pc_hist"], ref["pc_hist"]), 4)
        out[f"{name}_density"] = round(s["density"], 3)
        out[f"{name}_chord_fraction"] = round(chord_fraction(rolls), 4)
        out[f"{name}_pcset_distance"] = round(distribution_distance(pcset_distribution(rolls),
                                                                    ref_sets), 4)
    return out


def notes_stats(notes) -> dict:
    """Duration-weighted and counted pitch-class histograms and notes per second of
    `(pitch, start, end, ...)` (the measures are `rnnsuite.plugins.music.metrics`, tested there)."""
    from rnnsuite.plugins.music.metrics import notes_per_second, pitch_class_histogram

    return {"pc_hist": pitch_class_histogram(notes), "pc_count": pitch_class_histogram(notes, "count"),
            "density": notes_per_second(notes)}


def events_quality(run: str, data: Path, pieces: int = 5, seconds: float = 15.0,
                   temperature: float = 1.0) -> dict:
    """The events model of RUN against the MIDI files in DATA: generated pieces vs uniformly
    random tokens (what an untrained events model samples), decoded the same way."""
    import torch
    from rnnsuite.core import load_run
    from rnnsuite.plugins.music.commands import generate_piece
    from rnnsuite.plugins.music.domain import MusicDomain
    from rnnsuite.plugins.music.events import decode_events
    from rnnsuite.plugins.music.midi import read_midi

    loaded = load_run(run, MusicDomain(), device="cpu")
    files = sorted(p for p in Path(data).rglob("*") if p.suffix.lower() in (".mid", ".midi"))
    per_file = [list(zip(*(getattr(read_midi(f), k).tolist() for k in ("pitch", "start", "end"))))
                for f in files]
    ref_stats = notes_stats([n for notes in per_file for n in notes])
    ref_stats["density"] = float(np.mean([notes_stats(notes)["density"] for notes in per_file]))
    excerpts = [notes_stats([n for n in notes if n[1] < min(m[1] for m in notes) + seconds])
                for notes in per_file if notes]  # the corpus's own pieces, cut like the generated ones
    generated, rand = [], []
    vocab = loaded.task.vocab
    gen = torch.Generator().manual_seed(0)
    for seed in range(pieces):
        notes, _ = generate_piece(loaded, seconds=seconds, seed=seed, temperature=temperature)
        generated.append(notes_stats(notes))
        tokens = [vocab.start]
        steps = 0
        while steps < seconds * 100:
            t = int(torch.randint(vocab.start, (), generator=gen))
            if vocab.time_shift <= t < vocab.velocity:
                steps += t - vocab.time_shift + 1
            tokens.append(t)
        rand.append(notes_stats(decode_events(np.array(tokens), vocab)))
    from rnnsuite.plugins.music.metrics import in_key, pc_distance, scale_fit

    # the corpus's profile of scale degrees: each file in its own key, then averaged
    ref_in_key = np.mean([in_key(notes_stats(notes)["pc_hist"]) for notes in per_file if notes],
                         axis=0)
    out = {"train_density": round(ref_stats["density"], 3), "files": len(files)}
    for name, stats in (("corpus", excerpts), ("generated", generated), ("random", rand)):
        # each piece moved to C by its best-fitting scale, averaged, against the corpus's profile
        # (the plain distance below mixes keys: a model that transposes writes in other keys)
        out[f"{name}_pc_distance_in_key"] = round(pc_distance(
            np.mean([in_key(s["pc_hist"]) for s in stats], axis=0), ref_in_key), 4)
        out[f"{name}_scale_fit"] = round(float(np.mean([scale_fit(s["pc_hist"]) for s in stats])), 4)
        # counting notes instead of sounding time: a few droning notes weigh less
        out[f"{name}_scale_fit_count"] = round(float(np.mean([scale_fit(s["pc_count"])
                                                              for s in stats])), 4)
        pc = np.mean([s["pc_hist"] for s in stats], axis=0)
        out[f"{name}_pc_distance"] = round(pc_distance(pc, ref_stats["pc_hist"]), 4)
        # key-invariant: each piece against the corpus in the transposition that fits it best
        # (a model trained with transposition writes in keys the corpus is not in)
        out[f"{name}_pc_distance_any_key"] = round(float(np.mean([min(
            pc_distance(np.roll(s["pc_hist"], k), ref_stats["pc_hist"]) for k in range(12))
            for s in stats])), 4)
        out[f"{name}_density"] = round(float(np.mean([s["density"] for s in stats])), 3)
    return out


# ---------------------------------------------------------------------------------------------
# One job: train a cell, evaluate it, sample from it
# ---------------------------------------------------------------------------------------------


def run_job(job: dict) -> dict:
    import torch
    from rnnsuite.core import apply_overrides, default_config, train_run
    from rnnsuite.plugins.music.data import Encoded
    from rnnsuite.plugins.music.domain import MusicDomain
    from rnnsuite.plugins.music.generate import sample_roll

    torch.set_num_threads(job.get("threads", 1))
    domain = MusicDomain()
    folders = job["folders"]
    config = apply_overrides(default_config(domain), [
        "representation=pianoroll", f"cell={job['cell']}", f"valid={folders['valid']}",
        f"test={folders['test']}",
        f"device={job['device']}", *job["overrides"]])
    t0 = time.time()
    loaded = train_run(domain, config, data=folders["train"], out=job["run_dir"],
                       show_progress=False)
    train_s = time.time() - t0
    with torch.no_grad():
        metrics = loaded.task.evaluate(loaded.model, Path(folders["test"]))
        rolls = load_jsb_rolls(job["test_rolls"])
        direct = loaded.task.score(loaded.model, [Encoded(f"t{i}", "", r) for i, r in enumerate(rolls)])
    # 20 pieces of 64 frames, each from a training piece's first frame (and, to compare, the
    # first 64 frames of 20 test chorales)
    gen = torch.Generator().manual_seed(0)
    train_rolls = load_jsb_rolls(job["train_rolls"])
    generated = [sample_roll(loaded.model, r[:1], 63, 1.0, gen) for r in train_rolls[:20]]
    return {
        "label": job["label"], "dataset": job["dataset"], "cell": job["cell"],
        "overrides": job["overrides"], "test_nll_midi": metrics["nll"],
        "test_nll_json": round(direct["nll"], 6), "test_files": metrics["files"],
        "test_frames": metrics["frames"], "summary": loaded.summary, "train_s": round(train_s, 1),
        "params": sum(p.numel() for p in loaded.model.parameters()),
        "quality": music_quality(generated, train_rolls, [r[:64] for r in rolls[:20]]),
    }


def save_rolls(rolls: list, path: Path) -> str:
    np.savez_compressed(path, *rolls)
    return str(path)


def load_jsb_rolls(path: str) -> list:
    with np.load(path) as z:
        return [z[f"arr_{i}"] for i in range(len(z.files))]


# ---------------------------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--cells", default="rnn,lstm,gru")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--epochs", type=int, default=None, help="override train.epochs")
    ap.add_argument("--max-time", type=float, default=None, help="per job, seconds")
    ap.add_argument("--set", dest="overrides", action="append", default=[],
                    help="config override for every job (repeatable)")
    ap.add_argument("--variant", action="append", default=[],
                    help="extra jobs: 'label:cells:k=v,k=v' (repeatable)")
    ap.add_argument("--music21", nargs="?", const="default", default=None,
                    help="also the music21 chorales (folder of rendered MIDI; default cache)")
    ap.add_argument("--render-music21", metavar="FIRST-LAST",
                    help="only render music21 chorales FIRST..LAST to the MIDI cache (needs music21)")
    ap.add_argument("--no-jsb", action="store_true")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per job")
    ap.add_argument("--work", type=Path, default=None, help="working folder (default: temporary)")
    ap.add_argument("--json", type=Path, default=None, help="write all results here")
    ap.add_argument("--events-run", nargs=2, metavar=("RUN", "DATA"),
                    help="only compare pieces generated by an events RUN with the MIDI in DATA")
    ap.add_argument("--pieces", type=int, default=5,
                    help="--events-run: pieces to generate (seeds 0..N-1) [default: 5]")
    ap.add_argument("--seconds", type=float, default=15.0,
                    help="--events-run: length of each generated piece [default: 15]")
    ap.add_argument("--temperature", type=float, default=1.0,
                    help="--events-run: sampling temperature [default: 1]")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.events_run:
        run, data = args.events_run
        print(json.dumps(events_quality(run, Path(data), args.pieces, args.seconds,
                                        args.temperature)))
        return
    if args.worker:
        print("RESULT " + json.dumps(run_job(json.loads(Path(args.worker).read_text()))), flush=True)
        return

    work = args.work or Path(tempfile.mkdtemp(prefix="music-jsb-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("RNNSUITE_CACHE_DIR", str(work / "cache"))
    os.environ.setdefault("RNNSUITE_PROGRESS", "0")
    common = list(args.overrides)
    if args.epochs is not None:
        common.append(f"epochs={args.epochs}")
    if args.max_time is not None:
        common.append(f"max_time={args.max_time}")

    datasets, results = {}, {"baselines": {}, "runs": [], "published": PUBLISHED}
    if not args.no_jsb:
        rolls = load_jsb(args.data)
        datasets["jsb"] = rolls
    if args.render_music21:
        first, last = (int(x) for x in args.render_music21.split("-"))
        print(render_music21(MUSIC21_DIR, first, last))
        return
    if args.music21:
        folder = MUSIC21_DIR if args.music21 == "default" else Path(args.music21)
        rolls, info = load_music21(folder)
        datasets["music21"] = rolls
        results["music21_info"] = info
    jobs = []
    for name, rolls in datasets.items():
        folders = write_split_midi(rolls, work / name / "midi")
        results["baselines"][name] = baselines(rolls["train"], rolls["test"])
        results["baselines"][name]["pieces"] = {k: len(v) for k, v in rolls.items()}
        test_rolls = save_rolls(rolls["test"], work / name / "test.npz")
        train_rolls = save_rolls(rolls["train"], work / name / "train.npz")
        variants = [("default", args.cells.split(","), [])]
        for v in args.variant:
            label, cells, sets = v.split(":", 2)
            variants.append((label, cells.split(","), [s for s in sets.split(",") if s]))
        for label, cells, extra in variants:
            for cell in cells:
                jobs.append({"dataset": name, "cell": cell, "label": label, "folders": folders,
                             "overrides": common + extra, "device": args.device,
                             "threads": args.threads, "test_rolls": test_rolls,
                             "train_rolls": train_rolls,
                             "run_dir": str(work / name / "runs" / f"{label}-{cell}")})
    print(json.dumps(results["baselines"], indent=1), flush=True)
    t0 = time.time()
    pending = list(enumerate(jobs))
    running = []
    while pending or running:
        while pending and len(running) < args.jobs:
            i, job = pending.pop(0)
            spec = work / f"job{i}.json"
            spec.write_text(json.dumps(job))
            log = open(work / f"job{i}.log", "w")
            proc = subprocess.Popen([sys.executable, __file__, "--worker", str(spec)],
                                    stdout=subprocess.PIPE, stderr=log, text=True)
            running.append((i, job, proc, log))
        time.sleep(0.5)
        for item in list(running):
            i, job, proc, log = item
            if proc.poll() is None:
                continue
            running.remove(item)
            log.close()
            out = proc.stdout.read()
            lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode == 0 and lines:
                res = json.loads(lines[-1][7:])
            else:
                tail = (work / f"job{i}.log").read_text()[-800:]
                res = {"label": job["label"], "dataset": job["dataset"], "cell": job["cell"],
                       "error": f"exit {proc.returncode}: {tail}"}
            results["runs"].append(res)
            print(json.dumps(res), flush=True)
            if args.json:
                args.json.write_text(json.dumps(results, indent=1))
    results["wall_s"] = round(time.time() - t0, 1)
    results["machine"] = machine()
    results["command"] = " ".join([Path(sys.executable).name, *sys.argv])
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print_table(results)


def machine() -> dict:
    import platform

    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__,
            "cpus": os.cpu_count(), "cpu": platform.processor() or platform.machine()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def print_table(results: dict) -> None:
    print("\n| data | recipe | cell | test NLL/frame (MIDI) | (JSON) | epochs | train s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in results["runs"]:
        if "error" in r:
            print(f"| {r['dataset']} | {r['label']} | {r['cell']} | error | | | |")
            continue
        s = r["summary"] or {}
        print(f"| {r['dataset']} | {r['label']} | {r['cell']} | {r['test_nll_midi']:.3f} | "
              f"{r['test_nll_json']:.3f} | {s.get('epochs')} | {r['train_s']} |")
    for name, b in results["baselines"].items():
        print(f"| {name} | per-key unigram | - | {b['unigram']:.3f} | | | |")
        print(f"| {name} | per-key Markov | - | {b['markov']:.3f} | | | |")
    print("\nHarmony (20 pieces of 64 frames against the training set; chords: share of frames with"
          " 3+ pitch classes that are a triad or seventh chord or part of one)")
    print("| data | recipe | cell | pieces | chords | pitch-class-set distance | pitch-class distance"
          " | notes per frame |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results["runs"]:
        q = r.get("quality")
        if not q:
            continue
        for name in ("generated", "chorales", "random"):
            print(f"| {r['dataset']} | {r['label']} | {r['cell']} | {name} | "
                  f"{q[name + '_chord_fraction']:.3f} | {q[name + '_pcset_distance']:.3f} | "
                  f"{q[name + '_pc_distance']:.3f} | {q[name + '_density']:.2f} |")


if __name__ == "__main__":
    main()
