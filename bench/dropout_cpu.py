"""Training-step speed of the NLP default with rnnsuite's CPU dropout vs torch's, one process.

rnnsuite draws dropout masks on CPU with `rand_like(x) >= p` instead of torch's `bernoulli_`,
and runs a fused stack with dropout one layer at a time so that the masks between layers are
drawn that way too (core/cells/_dropout.py). This bench trains the NLP default model (LSTM
2x256, embedding 64, dropout 0.2 between layers and on the output, the default's batch and
window, AdamW)
on random tokens, alternating the two settings in rounds on one thread, and prints tokens per
CPU second of each (from the median step, which other processes on the machine disturb least)
and their ratio.

    python bench/dropout_cpu.py [--rounds 6] [--steps 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--steps", type=int, default=20, help="training steps per setting and round")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    from rnnsuite.core import apply_overrides, default_config
    from rnnsuite.core.cells import _dropout
    from rnnsuite.plugins.nlp.domain import LanguageModelDomain
    from rnnsuite.plugins.nlp.task import build_language_model

    cfg = apply_overrides(default_config(LanguageModelDomain()), [])
    B, T = cfg["train"]["batch_size"], cfg["train"]["bptt"]
    torch.manual_seed(0)
    model = build_language_model(cfg, 65).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    data = torch.randint(0, 65, (T * args.steps + 1, B))

    def run(use_torch: bool) -> list:
        _dropout.USE_TORCH = use_torch
        hidden, cpu = None, []
        for i in range(args.steps):
            x, y = data[i * T:(i + 1) * T], data[i * T + 1:(i + 1) * T + 1]
            c0 = time.process_time()
            hidden = None if hidden is None else tuple(h.detach() for h in hidden)
            logits, hidden = model(x, hidden)
            loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            cpu.append(time.process_time() - c0)
        _dropout.USE_TORCH = False
        return cpu

    run(False), run(True)  # warm-up
    cpu = {"rnnsuite": [], "torch": []}
    for r in range(args.rounds):
        order = ("rnnsuite", "torch") if r % 2 == 0 else ("torch", "rnnsuite")
        for name in order:
            cpu[name] += run(name == "torch")
    # the median step: other processes on the machine lengthen some steps, not the typical one
    rate = {k: B * T / statistics.median(v) for k, v in cpu.items()}
    mean = {k: B * T * len(v) / sum(v) for k, v in cpu.items()}
    for k in rate:
        print(f"{k:9s} dropout: {rate[k]:,.0f} tokens per CPU s (median step; mean {mean[k]:,.0f})")
    print(f"ratio rnnsuite / torch: {rate['rnnsuite'] / rate['torch']:.3f} (median step), "
          f"{mean['rnnsuite'] / mean['torch']:.3f} (mean)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
