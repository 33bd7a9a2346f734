"""Forward+backward time per batch of every built-in cell on both backends and of a plugin cell
(the layer-normalised LSTM from examples/plugins/rnnsuite-digits), against torch's own fused
nn.RNN/LSTM/GRU of the same size, run side by side in one process.

Also prints the machine's dense matmul GFLOP/s and each layer's achieved GFLOP/s.

    python bench/core_cells.py [--device cpu|cuda] [--quick]
"""

import argparse
import itertools
import time

import torch
from rnnsuite.core import RecurrentStack
from torch import nn

GATES = {"rnn": 1, "lstm": 4, "gru": 3, "lnlstm": 4}
TORCH = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timeit(fn, device, min_time=0.3, min_reps=3):
    fn()
    sync(device)
    reps, start = 0, time.perf_counter()
    while reps < min_reps or time.perf_counter() - start < min_time:
        fn()
        reps += 1
    sync(device)
    return (time.perf_counter() - start) / reps


def matmul_gflops(device, n=1024):
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    t = timeit(lambda: a @ b, device)
    return 2 * n**3 / t / 1e9


def layer_flops(cell, B, H, T):
    """Forward+backward ≈ 3x forward; forward = input and recurrent matmuls (I = H)."""
    g = GATES[cell]
    return 3 * 2 * T * B * (2 * H * g * H)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="a smaller grid")
    parser.add_argument("--batches", help="comma-separated, e.g. 1,32,128")
    parser.add_argument("--hiddens", help="comma-separated, e.g. 128,512")
    parser.add_argument("--seqs", help="comma-separated, e.g. 64,512")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    try:
        from rnnsuite_digits.cells import LayerNormLSTMCell  # noqa: F401 (registers lnlstm via the plugin)
        cells = ["rnn", "lstm", "gru", "lnlstm"]
    except ImportError:
        cells = ["rnn", "lstm", "gru"]
    batches, hiddens, seqs = ([32], [128], [64]) if args.quick else ([1, 32, 128], [128, 512], [64, 512])
    ints = lambda text: [int(v) for v in text.split(",")]  # noqa: E731
    batches = ints(args.batches) if args.batches else batches
    hiddens = ints(args.hiddens) if args.hiddens else hiddens
    seqs = ints(args.seqs) if args.seqs else seqs
    print(f"device {device}; torch {torch.__version__}; threads {torch.get_num_threads()}")
    print(f"dense matmul: {matmul_gflops(device):.1f} GFLOP/s")
    print(f"{'cell':7} {'B':>4} {'H':>4} {'T':>4} {'torch ms':>9} {'fused ms':>9} {'ref ms':>9} "
          f"{'ref/torch':>9} {'GFLOP/s(ref)':>12}")
    for cell, B, H, T in itertools.product(cells, batches, hiddens, seqs):
        x = torch.randn(T, B, H, device=device)
        stack = RecurrentStack(cell, H, H, backend="reference").to(device)

        def step(module):
            out = module(x)[0]
            out.sum().backward()

        ref = timeit(lambda: step(stack), device)
        fused = torch_t = float("nan")
        if cell in TORCH:
            stack.backend = "fused"
            fused = timeit(lambda: step(stack), device)
            twin = TORCH[cell](H, H).to(device)
            torch_t = timeit(lambda: step(twin), device)
        base = torch_t if cell in TORCH else timeit(lambda: step(TORCH["lstm"](H, H).to(device)), device)
        print(f"{cell:7} {B:4d} {H:4d} {T:4d} {torch_t * 1e3:9.2f} {fused * 1e3:9.2f} {ref * 1e3:9.2f} "
              f"{ref / base:9.2f} {layer_flops(cell, B, H, T) / ref / 1e9:12.1f}", flush=True)


if __name__ == "__main__":
    main()
