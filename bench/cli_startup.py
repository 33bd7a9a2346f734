"""How long `rnnsuite --help` takes with every plugin loaded (goal: under 1.5 s wall).

Runs, side by side: a bare `python -c pass` (the interpreter's own start-up), `rnnsuite --help`,
and `python -c "import torch"` (what a non-lazy plugin would cost), and prints medians and ratios.

    python bench/cli_startup.py [--repeat 7]
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import time


def wall(cmd, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    exe = shutil.which("rnnsuite") or "rnnsuite"
    base = wall([sys.executable, "-c", "pass"], args.repeat)
    help_ = wall([exe, "--help"], args.repeat)
    plugins = wall([exe, "plugins"], args.repeat)
    torch_ = wall([sys.executable, "-c", "import torch"], args.repeat)
    listed = subprocess.run([exe, "--help"], capture_output=True, text=True).stdout
    print(f"python -c pass        {base:6.3f} s")
    print(f"rnnsuite --help       {help_:6.3f} s   ({help_ / base:.1f}x bare python)   goal < 1.5 s: "
          f"{'met' if help_ < 1.5 else 'NOT met'}")
    print(f"rnnsuite plugins      {plugins:6.3f} s")
    print(f"python -c 'import torch' {torch_:6.3f} s  (avoided by lazy imports: {torch_ / help_:.1f}x --help)")
    print("domains listed:", ", ".join(n for n in ("nlp", "speech", "forecast", "music", "digits") if n in listed))


if __name__ == "__main__":
    main()
