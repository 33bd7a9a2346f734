"""`tune` with a small budget against the defaults, on the bundled examples.

    python bench/tune.py                   # forecast on examples/sales.csv and nlp on examples/text
    python bench/tune.py --trials 8 --trial-time 30

For each domain: a run with the defaults (the same per-run budget as each trial), then
`rnnsuite <domain> tune` with that budget per trial; prints the validation metric of both
(train.monitor: lower is better for both domains here), the ratio, and the wall time. The defaults
get the same budget, so the comparison is per run, not per total compute.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import describe_machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CASES = {"forecast": ROOT / "examples" / "sales.csv", "nlp": ROOT / "examples" / "text"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--trial-time", type=float, default=30.0, help="seconds of training per run")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-tune")
    parser.add_argument("--domains", default="forecast,nlp")
    args = parser.parse_args()

    from rnnsuite.core import apply_overrides, default_config, train_run
    from rnnsuite.core.plugins import domain_named
    from rnnsuite.core.tune import run_study

    shutil.rmtree(args.out, ignore_errors=True)
    budget = [f"max_time={args.trial_time}", "epochs=0", "max_steps=0"]
    print(describe_machine())
    results = {}
    for name in args.domains.split(","):
        domain = domain_named(name)
        config = apply_overrides(default_config(domain), budget)
        start = time.monotonic()
        default = train_run(domain, config, CASES[name], out=args.out / name / "defaults",
                            show_progress=False).summary["best"]
        default_s = time.monotonic() - start
        start = time.monotonic()
        summary = run_study(domain, config, CASES[name], args.out / name / "study", args.trials)
        tune_s = time.monotonic() - start
        best = summary["best"]
        results[name] = {"monitor": config["train"]["monitor"], "defaults": default,
                         "tuned": best["value"], "ratio": best["value"] / default,
                         "params": best["params"], "defaults_s": round(default_s, 1),
                         "tune_s": round(tune_s, 1),
                         "trials": {s: sum(t["state"] == s for t in summary["trials"])
                                    for s in ("complete", "pruned", "fail")}}
        r = results[name]
        print(f"{name}: valid {r['monitor']} defaults {default:.4f}, tuned {r['tuned']:.4f} "
              f"(ratio {r['ratio']:.3f}); {args.trials} trials in {tune_s:.0f} s "
              f"({r['trials']}); best {r['params']}")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
