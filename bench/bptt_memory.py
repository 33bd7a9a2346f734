"""Truncated BPTT keeps memory flat as the corpus grows, and time grows linearly.

Trains one epoch of `rnnsuite nlp train` (char LSTM, truncated BPTT with the state carried) on
corpora of 1x and 10x the size (and optionally more), each in its own process, and prints the
child's peak RSS, wall and CPU seconds and CPU seconds per million training tokens. The corpus
is real text (examples/text, Shakespeare) repeated to the wanted length. Run side by side in one
call, so the ratios compare like with like:

    python bench/bptt_memory.py [--chars 200000] [--scales 1,10] [--threads 1]

Goal (issue 7): peak RSS of the 10x run within 20% of the 1x run; CPU time per token the same.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRAIN_SETS = ["hidden_size=128", "embedding_dim=32", "num_layers=2", "batch_size=32", "bptt=64",
              "warmup_steps=0", "eval_streams=4", "split=\"0.98,0.02,0\""]


def make_corpus(path: Path, chars: int) -> None:
    text = "".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "examples/text").glob("*.txt")))
    reps = chars // len(text) + 1
    path.write_text((text * reps)[:chars], encoding="utf-8")


def run_one(corpus: Path, out: Path, threads: int, extra=()) -> dict:
    env = dict(os.environ, RNNSUITE_PROGRESS="0", OMP_NUM_THREADS=str(threads))
    cmd = [sys.executable, "-m", "rnnsuite.apps.cli", "nlp", "train", str(corpus), "--out", str(out),
           "--epochs", "1", "--device", "cpu", "--set", f"threads={threads}"]
    for s in TRAIN_SETS:
        cmd += ["--set", s]
    cmd += list(extra)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    stderr = proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"training failed ({proc.returncode}):\n{stderr[-2000:]}")
    steps = sum(1 for _ in open(out / "metrics.csv")) - 1
    return {"peak_mb": usage.ru_maxrss / 1024, "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "rows": steps}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chars", type=int, default=200_000, help="size of the 1x corpus in characters")
    ap.add_argument("--scales", default="1,10")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _machine import describe_machine

    print(describe_machine())
    print(f"one epoch of `rnnsuite nlp train` ({', '.join(TRAIN_SETS)}), {args.threads} thread(s)")
    scales = [int(s) for s in args.scales.split(",")]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        # start-up and one step: the fixed cost (imports, data loading) every run pays
        corpus = Path(tmp) / "corpus_start.txt"
        make_corpus(corpus, args.chars * scales[0])
        start = run_one(corpus, Path(tmp) / "run_start", args.threads, ["--max-steps", "1"])
        print(f"start-up + 1 step: peak RSS {start['peak_mb']:7.1f} MB  CPU {start['cpu_s']:6.1f} s")
        for scale in scales:
            corpus = Path(tmp) / f"corpus{scale}.txt"
            make_corpus(corpus, args.chars * scale)
            train_tokens = int(args.chars * scale * 0.98)
            r = run_one(corpus, Path(tmp) / f"run{scale}", args.threads)
            r["tokens"] = train_tokens
            results[scale] = r
            r["train_cpu_s"] = r["cpu_s"] - start["cpu_s"]
            r["growth_mb"] = r["peak_mb"] - start["peak_mb"]
            print(f"{scale:>3}x  {args.chars * scale:>10,} chars  peak RSS {r['peak_mb']:7.1f} MB "
                  f"(+{r['growth_mb']:6.1f} over start-up)  wall {r['wall_s']:7.1f} s  CPU {r['cpu_s']:7.1f} s  "
                  f"training CPU s per 1M tokens {r['train_cpu_s'] / train_tokens * 1e6:6.1f}", flush=True)
    base = results[scales[0]]
    for scale in scales[1:]:
        r = results[scale]
        print(f"{scale}x / {scales[0]}x: peak RSS {r['peak_mb'] / base['peak_mb']:.3f} "
              f"(growth over start-up {r['growth_mb']:.1f} vs {base['growth_mb']:.1f} MB); training CPU time "
              f"{r['train_cpu_s'] / base['train_cpu_s']:.2f}x for {scale / scales[0]:.0f}x the tokens "
              f"(per token {r['train_cpu_s'] / r['tokens'] / (base['train_cpu_s'] / base['tokens']):.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
