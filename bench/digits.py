"""The digits example plugin's default recipe against a plain hand-written PyTorch loop, side by
side in one process: held-out accuracy and wall time per cell.

    python bench/digits.py [--cells gru,lstm,rnn]
"""

import argparse
import os
import time

import torch
import torch.nn.functional as F
from torch import nn

os.environ.setdefault("RNNSUITE_PROGRESS", "0")

from rnnsuite.core import default_config, get_domains, train_run  # noqa: E402
from rnnsuite.core.config import apply_overrides  # noqa: E402


def hand_loop(cell, split, epochs=15, hidden=128, lr=5e-3, batch=32, seed=0):
    """What a careful user writes by hand: torch's nn.GRU/LSTM/RNN, Adam, last hidden -> linear."""
    torch.manual_seed(seed)
    (xtr, ytr), _, (xte, yte) = split
    layer = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}[cell](8, hidden, batch_first=True)
    head = nn.Linear(hidden, 10)
    params = list(layer.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=lr)
    for _ in range(epochs):
        order = torch.randperm(len(ytr))
        for i in range(0, len(ytr), batch):
            idx = order[i:i + batch]
            out, _ = layer(xtr[idx])
            loss = F.cross_entropy(head(out[:, -1]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        out, _ = layer(xte)
        return (head(out[:, -1]).argmax(1) == yte).float().mean().item()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", default="gru,lstm,rnn")
    args = parser.parse_args()
    domain = get_domains()["digits"]
    from rnnsuite_digits.task import load_split

    d = default_config(domain)["data"]
    split = load_split(d["test_fraction"], d["valid_fraction"], d["split_seed"])
    print(f"{'cell':5} {'rnnsuite acc':>12} {'time s':>7} {'hand acc':>9} {'time s':>7} {'time ratio':>10}")
    for cell in args.cells.split(","):
        t = time.perf_counter()
        run = train_run(domain, apply_overrides(default_config(domain), [f"cell={cell}"]), show_progress=False)
        ours = run.task.evaluate(run.model, None)["accuracy"]
        ours_t = time.perf_counter() - t
        t = time.perf_counter()
        hand = hand_loop(cell, split)
        hand_t = time.perf_counter() - t
        print(f"{cell:5} {ours:12.4f} {ours_t:7.1f} {hand:9.4f} {hand_t:7.1f} {ours_t / hand_t:10.2f}", flush=True)


if __name__ == "__main__":
    main()
