"""Which weight average? One literal 15-minute run (2 threads) of the NLP default, keeping extra
averages of the weights beside the trainer's own: moving averages of several decays and uniform
averages of the last part of the time budget. Each is scored with `rnnsuite nlp evaluate` on the
validation text, so they compare within one training run, free of the seed-to-seed spread.

    python bench/lm_averages.py OUT SEED TRAIN.txt VALID.txt [KEY=VALUE ...]

TRAIN/VALID: the bench's split (`lm_shakespeare.py --corpus ... --workdir W` writes W/train.txt and
W/valid.txt). Results: OUT.avg.json and one run folder OUT.NAME per average. See bench/RESULTS.md
(NLP, 1f).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import torch
from rnnsuite.core import Callback, apply_overrides, default_config, train_run
from rnnsuite.core.checkpoint import load_weights, save_weights
from rnnsuite.core.trainer import ema_decay
from rnnsuite.plugins.nlp.domain import LanguageModelDomain

DECAYS = [0.999, 0.9995, 0.9998]  # moving averages, with the trainer's warm-up of the decay
TAILS = [0.5, 0.7, 0.85]  # uniform averages from this fraction of the time budget on


class Averages(Callback):
    """Keeps the extra averages of the model's floating-point weights, after every step."""

    def on_train_start(self, trainer):
        state = trainer.model.state_dict()
        self.keys = [k for k, v in state.items() if v.is_floating_point()]
        self.weights = [state[k] for k in self.keys]
        self.ema = {d: [w.detach().clone() for w in self.weights] for d in DECAYS}
        self.tail = dict.fromkeys(TAILS)
        self.tail_n = dict.fromkeys(TAILS, 0)
        self.n = 0

    def on_step_end(self, trainer, output):
        with torch.no_grad():
            for decay, avg in self.ema.items():
                torch._foreach_lerp_(avg, self.weights, 1 - ema_decay(decay, self.n))
            fraction = trainer.elapsed() / trainer.cfg["max_time"]
            for start in TAILS:
                if fraction < start:
                    continue
                if self.tail[start] is None:
                    self.tail[start] = [w.detach().clone() for w in self.weights]
                else:
                    torch._foreach_lerp_(self.tail[start], self.weights, 1 / (self.tail_n[start] + 1))
                self.tail_n[start] += 1
        self.n += 1


def score(run_dir, valid) -> float:
    """nats per character on `valid`, as `rnnsuite nlp evaluate` reports it."""
    done = subprocess.run(["rnnsuite", "nlp", "evaluate", str(run_dir), str(valid), "--json"],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)["nats_per_token"]


if __name__ == "__main__":
    OUT, SEED, TRAIN, VALID, *SETS = sys.argv[1:]
    domain = LanguageModelDomain()
    cfg = apply_overrides(default_config(domain), [
        "threads=2", "eval_every=1000", "epochs=1000", f"max_time={os.environ.get('AVG_TIME', 900)}",
        f"seed={SEED}", 'split="1,0,0"', f'valid="{VALID}"', *SETS])
    averages = Averages()
    train_run(domain, cfg, data=TRAIN, out=OUT, show_progress=False, callbacks=[averages])
    saved, meta = load_weights(Path(OUT) / "model.safetensors")
    trainer_state, _ = load_weights(Path(OUT) / "trainer_state.safetensors")
    variants = {f"ema{d}": averages.ema[d] for d in DECAYS}
    variants.update({f"tail{f}": averages.tail[f] for f in TAILS})
    variants["last"] = [trainer_state["model." + k] for k in averages.keys]
    last_step = (Path(OUT) / "metrics.csv").read_text().strip().splitlines()[-1].split(",")[0]
    result = {"steps": int(last_step), "tail_steps": {str(f): averages.tail_n[f] for f in TAILS},
              "saved": score(OUT, VALID)}  # the run's own model: the best-validated average
    for name, weights in variants.items():
        run_dir = Path(f"{OUT}.{name}")
        shutil.rmtree(run_dir, ignore_errors=True)
        shutil.copytree(OUT, run_dir)
        save_weights(run_dir / "model.safetensors",
                     {**saved, **{k: w.contiguous() for k, w in zip(averages.keys, weights)}}, meta or None)
        result[name] = score(run_dir, VALID)
        print(name, result[name], flush=True)
    print(json.dumps(result))
    Path(f"{OUT}.avg.json").write_text(json.dumps(result, indent=1))
