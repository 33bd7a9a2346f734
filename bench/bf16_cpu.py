"""bfloat16 autocast on CPU: speed and validation loss against float32, same model, same steps.

Trains `rnnsuite nlp` (char LSTM on examples/text, the Macbeth file for training and the
Midsummer Night's Dream file for validation) with `amp=off` and with `amp=bf16`, same seed and
steps, in one process, alternating the two modes `--rounds` times; the training steps are timed
with this process's CPU time (robust on a shared machine) and wall time. Both models are then
scored in float32 by `rnnsuite nlp evaluate`'s code on the validation text.

    python bench/bf16_cpu.py [--steps 150] [--rounds 2] [--threads 1] [--set KEY=VALUE ...]

Issue 7: make bf16 the CPU default only if the validation loss changes by under 1% relative (and
it is faster). Whether the CPU has native bf16 (avx512_bf16 / AMX) is printed first: without it
torch emulates bf16 arithmetic and autocast is expected to be slower.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETS = ["hidden_size=256", "num_layers=2", "embedding_dim=64", "batch_size=32", "bptt=128",
        "warmup_steps=0", "schedule=\"constant\"", "eval_every=0"]


def train_once(domain, amp: str, steps: int, sets: list, seed: int, out: Path):
    from rnnsuite.core import Callback, apply_overrides, default_config, evaluate_run, train_run

    class StepClock(Callback):
        def on_train_start(self, trainer):
            self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
            self.wall, self.cpu, self.steps = 0.0, 0.0, 0

        def on_step_end(self, trainer, output):
            self.wall, self.cpu = time.perf_counter() - self.wall0, time.process_time() - self.cpu0
            self.steps += 1

    config = apply_overrides(default_config(domain), [
        *SETS, *sets, f"max_steps={steps}", "epochs=100000", "device=\"cpu\"", f"amp=\"{amp}\"",
        f"seed={seed}", "split=\"1,0,0\"", f"valid=\"{ROOT / 'examples/text/a-midsummer-nights-dream.txt'}\""])
    clock = StepClock()
    train_run(domain, config, data=ROOT / "examples/text/macbeth.txt", out=out, show_progress=False,
              callbacks=[clock])
    metrics = evaluate_run(domain, out, data=ROOT / "examples/text/a-midsummer-nights-dream.txt", device="cpu")
    tokens = clock.steps * config["train"]["batch_size"] * config["train"]["bptt"]
    return {"steps": clock.steps, "tokens_per_cpu_s": tokens / clock.cpu, "tokens_per_s": tokens / clock.wall,
            "valid_nats": metrics["nats_per_token"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", dest="sets", action="append", default=[])
    args = ap.parse_args()
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _machine import describe_machine
    from rnnsuite.core.device import cpu_has_bf16
    from rnnsuite.plugins.nlp.domain import LanguageModelDomain

    torch.set_num_threads(args.threads)
    print(describe_machine())
    print(f"native bf16 on this CPU: {cpu_has_bf16()}; torch CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}; {args.threads} thread(s); {args.steps} steps; "
          f"{' '.join(SETS + args.sets)}")
    domain = LanguageModelDomain()
    rows = {"off": [], "bf16": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for amp in rows:
                res = train_once(domain, amp, args.steps, args.sets, args.seed, Path(tmp) / f"{amp}{r}")
                rows[amp].append(res)
                print(f"round {r} amp={amp:4}  tokens/CPU-s {res['tokens_per_cpu_s']:8.0f}  "
                      f"tokens/s {res['tokens_per_s']:8.0f}  valid nats/char {res['valid_nats']:.4f}", flush=True)
    mean = {amp: {k: sum(r[k] for r in v) / len(v) for k in v[0]} for amp, v in rows.items()}
    speed = mean["bf16"]["tokens_per_cpu_s"] / mean["off"]["tokens_per_cpu_s"]
    change = (mean["bf16"]["valid_nats"] - mean["off"]["valid_nats"]) / mean["off"]["valid_nats"]
    print(f"bf16 / fp32 speed (CPU time): {speed:.2f}x; validation loss change {100 * change:+.2f}% "
          f"(fp32 {mean['off']['valid_nats']:.4f}, bf16 {mean['bf16']['valid_nats']:.4f})")
    verdict = "meets" if speed > 1 and abs(change) < 0.01 else "does not meet"
    print(f"-> bf16 {verdict} the bar for the CPU default (faster, loss change under 1%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
