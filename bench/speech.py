"""Speech benchmark: train the CTC recogniser on the synthetic telephone/voice-menu corpus and
measure it on voices held out of training.

    python bench/speech.py                                  # synthesise, train, evaluate
    python bench/speech.py --corpus DIR --device cuda       # an existing `speech synth` corpus
    python bench/speech.py --corpus DIR --run RUN --skip-train   # re-measure a trained run
    python bench/speech.py --set hidden_size=64 --epochs 2 --n 200   # quick look

Steps, all through the real CLI (`python -m rnnsuite.apps.cli`), so the figures are what a user
gets:
  1. `speech synth --out CORPUS --n N` (espeak-ng, flite, festival; held-out test voices);
  2. `speech train CORPUS/manifest.csv --out RUN` with the plugin's default model unless --set;
  3. `speech evaluate RUN CORPUS/test.csv --json` with greedy decoding, beam search, beam
     search + character 5-gram LM (all three `--lexicon off`), and lexicon decoding (words of
     the training transcripts through a character trie, word trigram LM, char 5-gram LM);
  4. `speech transcribe RUN <every test file> --device cpu --json` for the real-time factor on
     CPU (reading files, features, network, lexicon + LM decoding, word times).
A run trained before lexicon decoding has no lexicon in its task state: the bench then passes
`--lexicon <the training manifest named in RUN/config.json>`, which builds it at load time.
Goals from issue 6: WER <= 10% on held-out voices; transcription >= 20x faster than real time.
Prints a JSON summary and writes it to RUN/bench.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def rnnsuite(*args, capture=True):
    cmd = [sys.executable, "-m", "rnnsuite.apps.cli", *map(str, args)]
    shown = list(map(str, args))
    if len(shown) > 12:
        shown = shown[:6] + [f"... ({len(shown) - 10} more)"] + shown[-4:]
    print("$ rnnsuite " + " ".join(shown), file=sys.stderr, flush=True)
    start = time.perf_counter()
    result = subprocess.run(cmd, stdout=subprocess.PIPE if capture else None, text=True,
                            stderr=subprocess.PIPE)
    sys.stderr.write(result.stderr[-3000:])
    if result.returncode != 0:
        raise SystemExit(f"command failed ({result.returncode}): rnnsuite {' '.join(shown)}")
    return result.stdout, result.stderr, time.perf_counter() - start


def machine() -> str:
    from _machine import describe_machine  # bench/ is on sys.path when a bench runs

    return describe_machine()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", type=Path, default=REPO / "runs" / "bench-speech" / "corpus")
    p.add_argument("--run", type=Path, default=None, help="run folder (default: CORPUS/../run)")
    p.add_argument("--n", type=int, default=3000, help="training utterances to synthesise")
    p.add_argument("--test-n", type=int, default=300)
    p.add_argument("--device", default="auto")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--max-time", type=float, default=None)
    p.add_argument("--set", dest="overrides", action="append", default=[])
    p.add_argument("--skip-train", action="store_true")
    p.add_argument("--beam", type=int, default=8)
    p.add_argument("--lexicon-beam", type=int, default=None,
                   help="beam width of the lexicon decoder (default: --beam)")
    p.add_argument("--cpu-threads", type=int, default=0,
                   help="torch threads for the CPU transcription timing (default: all)")
    args = p.parse_args(argv)
    corpus, run = args.corpus, args.run or args.corpus.parent / "run"
    summary: dict = {"machine": machine(), "corpus": str(corpus)}

    if not (corpus / "manifest.csv").is_file():
        _, _, seconds = rnnsuite("speech", "synth", "--out", corpus, "--n", args.n,
                                 "--test-n", args.test_n, "--format", "ogg", "--seed", 1)
        summary["synth_s"] = round(seconds, 1)
    summary["corpus_info"] = json.loads((corpus / "corpus.json").read_text())

    if not args.skip_train:
        train_args = ["speech", "train", corpus / "manifest.csv", "--out", run, "--device", args.device]
        if args.epochs is not None:
            train_args += ["--epochs", args.epochs]
        if args.max_time is not None:
            train_args += ["--max-time", args.max_time]
        for item in args.overrides:
            train_args += ["--set", item]
        _, err, seconds = rnnsuite(*train_args)
        summary["train_wall_s"] = round(seconds, 1)
        done = re.search(r"Done: (\d+) steps \((\w+)\) in ([\d.]+) s", err)
        if done:
            summary.update(train_steps=int(done.group(1)), stop_reason=done.group(2),
                           train_s=float(done.group(3)))
    config = json.loads((run / "config.json").read_text())
    summary["model"] = config["config"]["model"]
    summary["train"] = {k: config["config"]["train"][k] for k in ("epochs", "batch_size", "lr")}
    with open(run / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "valid" and r["metric"] == "wer"]
    if rows:
        summary["valid_wer_last"] = float(rows[-1]["value"])
        summary["valid_wer_best"] = min(float(r["value"]) for r in rows)

    test = corpus / "test.csv"
    lexicon = ["--lexicon", "on"]
    if not config["task_state"].get("lexicon"):
        manifest = Path(config["data"])
        if not manifest.is_absolute() and not manifest.exists():
            manifest = REPO / manifest
        lexicon = ["--lexicon", manifest]
        summary["lexicon_from"] = str(manifest)
    lexicon_beam = args.lexicon_beam or args.beam
    decoders = {"greedy": ["--beam", 1],
                f"beam{args.beam}": ["--beam", args.beam, "--lm-weight", 0, "--lexicon", "off"],
                f"beam{args.beam}+lm": ["--beam", args.beam, "--lexicon", "off"],
                f"beam{lexicon_beam}+lm": ["--beam", lexicon_beam, "--lexicon", "off"],
                f"beam{lexicon_beam}+lexicon+lm": ["--beam", lexicon_beam, *lexicon]}
    summary["test"] = {}
    for name, extra in decoders.items():
        out, _, _ = rnnsuite("speech", "evaluate", run, test, "--json", "--device", args.device, *extra)
        summary["test"][name] = json.loads(out)

    with open(test) as f:
        files = [str(corpus / r["path"]) for r in csv.DictReader(f)]
    env_threads = {}
    if args.cpu_threads:
        env_threads = {"OMP_NUM_THREADS": str(args.cpu_threads)}
        os.environ.update(env_threads)
    out, _, wall = rnnsuite("speech", "transcribe", run, *files, "--json", "--device", "cpu",
                            "--beam", lexicon_beam, *lexicon)
    doc = json.loads(out)
    audio = sum(r["seconds"] for r in doc["results"])
    summary["transcribe_cpu"] = {"files": len(doc["results"]), "audio_s": round(audio, 1),
                                 "rtf": doc["rtf"], "speed_x": round(1 / max(doc["rtf"], 1e-9), 1),
                                 "wall_s_with_startup": round(wall, 1),
                                 "decoder": doc["decoder"], "threads": args.cpu_threads or "all"}
    text = json.dumps(summary, indent=2)
    (run / "bench.json").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
