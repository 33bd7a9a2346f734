"""Forward+backward time per batch of every built-in cell on both backends and of a plugin cell
(the layer-normalised LSTM from examples/plugins/rnnsuite-digits), against torch's own fused
nn.RNN/LSTM/GRU of the same size, run side by side in one process.

Also prints the machine's dense matmul GFLOP/s and each layer's achieved GFLOP/s.

Columns: torch's own layer ("torch"), rnnsuite's fused backend on the same parameters ("fused"),
the reference backend as it runs (built-in cells through their hand-written `scan`; plugin cells
through the step loop: "ref"), and for built-in cells the plain step loop with `scan` switched off
("loop"), so the gain of the hand-written backward shows. The variants are timed in interleaved
rounds and the median is kept, so that load from other processes hits them alike; `--clock cpu`
counts this process's CPU time instead of wall time (use it with 1 thread on a shared machine).

With `--amp bf16|fp16` each layer is also timed under `torch.autocast` ("torch amp", "ref amp")
and the AMP speed-up (fp32 time / autocast time) is printed for torch's layer and the reference
backend; that is the GPU check of issue 7.

    python bench/core_cells.py [--device cpu|cuda] [--quick] [--clock wall|cpu] [--amp bf16]
"""

import argparse
import itertools
import statistics
import time

import torch
from rnnsuite.core import RecurrentStack
from torch import nn

GATES = {"rnn": 1, "lstm": 4, "gru": 3, "lnlstm": 4}
TORCH = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


CLOCK = time.perf_counter


def timeit(fn, device, min_time=0.3, min_reps=3):
    fn()
    sync(device)
    reps, start = 0, CLOCK()
    while reps < min_reps or CLOCK() - start < min_time:
        fn()
        reps += 1
    sync(device)
    return (CLOCK() - start) / reps


def time_side_by_side(fns: dict, device, rounds=7, min_time=0.05):
    """Median seconds per call of each function, timed in interleaved rounds."""
    for fn in fns.values():
        fn()
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            times[k].append(timeit(fn, device, min_time=min_time, min_reps=1))
    return {k: statistics.median(v) for k, v in times.items()}


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
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="wall time, or this process's CPU time (CPU device only)")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds (median kept)")
    parser.add_argument("--cells", help="comma-separated subset, e.g. lstm,lnlstm")
    parser.add_argument("--amp", choices=["off", "bf16", "fp16"], default="off",
                        help="also time each layer under autocast with this dtype")
    args = parser.parse_args()
    global CLOCK
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.clock == "cpu":
        if device.type != "cpu":
            parser.error("--clock cpu measures CPU time; use it with --device cpu")
        CLOCK = time.process_time
    torch.manual_seed(0)
    try:
        from rnnsuite_digits.cells import LayerNormLSTMCell  # noqa: F401 (registers lnlstm via the plugin)
        cells = ["rnn", "lstm", "gru", "lnlstm"]
    except ImportError:
        cells = ["rnn", "lstm", "gru"]
    if args.cells:
        cells = [c for c in args.cells.split(",") if c in cells]
    batches, hiddens, seqs = ([32], [128], [64]) if args.quick else ([1, 32, 128], [128, 512], [64, 512])
    ints = lambda text: [int(v) for v in text.split(",")]  # noqa: E731
    batches = ints(args.batches) if args.batches else batches
    hiddens = ints(args.hiddens) if args.hiddens else hiddens
    seqs = ints(args.seqs) if args.seqs else seqs
    print(f"device {device}; torch {torch.__version__}; threads {torch.get_num_threads()}; "
          f"clock {args.clock}")
    print(f"dense matmul: {matmul_gflops(device):.1f} GFLOP/s")
    amp = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}[args.amp]
    print(f"{'cell':7} {'B':>4} {'H':>4} {'T':>4} {'torch ms':>9} {'fused ms':>9} {'ref ms':>9} "
          f"{'loop ms':>9} {'ref/torch':>9} {'loop/torch':>10} {'GFLOP/s(ref)':>12}"
          + (f" {'torch amp':>9} {'ref amp':>9} {'amp x torch':>11} {'amp x ref':>9}" if amp else ""))
    for cell, B, H, T in itertools.product(cells, batches, hiddens, seqs):
        x = torch.randn(T, B, H, device=device)
        stack = RecurrentStack(cell, H, H, backend="reference").to(device)
        fused_stack = RecurrentStack(cell, H, H, backend="auto").to(device)
        twin = TORCH.get(cell, nn.LSTM)(H, H).to(device)  # plugin cells: against the LSTM

        def run(module):
            module(x)[0].sum().backward()

        def loop():
            for c in stack.cells:
                c.scan = lambda xp, state, weight_hh: None
            try:
                run(stack)
            finally:
                for c in stack.cells:
                    del c.scan

        def autocast(module):
            with torch.autocast(device.type, dtype=amp):
                out = module(x)[0]
            out.float().sum().backward()

        fns = {"torch": lambda: run(twin), "ref": lambda: run(stack)}
        if cell in TORCH:
            fns["fused"] = lambda: run(fused_stack)
            fns["loop"] = loop
        if amp is not None:
            for name, module in (("torch amp", twin), ("ref amp", stack)):
                try:  # oneDNN refuses bf16 LSTMs on CPUs without native bf16
                    autocast(module)
                    fns[name] = lambda module=module: autocast(module)
                except RuntimeError as exc:
                    print(f"  {cell} {name}: {str(exc).splitlines()[0][:90]}")
        t = time_side_by_side(fns, device, rounds=args.rounds)
        nan = float("nan")
        ms = {k: t.get(k, nan) * 1e3 for k in ("torch", "fused", "ref", "loop", "torch amp", "ref amp")}
        line = (f"{cell:7} {B:4d} {H:4d} {T:4d} {ms['torch']:9.2f} {ms['fused']:9.2f} {ms['ref']:9.2f} "
                f"{ms['loop']:9.2f} {ms['ref'] / ms['torch']:9.2f} {ms['loop'] / ms['torch']:10.2f} "
                f"{layer_flops(cell, B, H, T) / t['ref'] / 1e9:12.1f}")
        if amp is not None:
            line += (f" {ms['torch amp']:9.2f} {ms['ref amp']:9.2f} {ms['torch'] / ms['torch amp']:11.2f}"
                     f" {ms['ref'] / ms['ref amp']:9.2f}")
        print(line, flush=True)


if __name__ == "__main__":
    main()
