"""Kill and resume, every built-in domain: `train` is killed with SIGKILL at random moments
(seeded), one of them in the middle of a checkpoint write; after every kill the run folder must
be loadable, `train --resume` continues it, and the final weights equal an uninterrupted run's
bit for bit (CPU).

The runs are real `rnnsuite` CLI processes forked from one server process that has imported
torch and the plugins once (cli_forkserver.py); a plain `python -m rnnsuite.apps.cli` start costs
seconds of imports per process, which several kills in four domains cannot afford on 2 cores.
"""

import json
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from hardening_helpers import EXAMPLES, cli_env
from rnnsuite.core.checkpoint import load_weights
from rnnsuite.core.run_folder import read_run_config
from rnnsuite.core.run_lifecycle import load_run

COMMON = ["--device", "cpu", "--set", "threads=1", "--set", "checkpoint_every=1"]
SPEECH = ["hidden_size=8", "num_layers=1", "conv_channels=8", "batch_size=4", "n_mels=16",
          "lm_order=3", "beam=2", "valid_fraction=0.0"]


def sets(*items):
    return [a for item in items for a in ("--set", item)]


def domain_args(domain: str, data_dir: Path) -> list:
    if domain == "nlp":
        text = (EXAMPLES / "text" / "macbeth.txt").read_text(encoding="utf-8")[:4000]
        (data_dir / "macbeth.txt").write_text(text, encoding="utf-8")
        return [data_dir / "macbeth.txt", "--max-steps", 40,
                *sets("hidden_size=8", "embedding_dim=8", "batch_size=2", "bptt=8", "eval_streams=2",
                      "eval_every=10")]
    if domain == "forecast":
        return [EXAMPLES / "sales.csv", "--max-steps", 30, *sets("hidden_size=8")]
    if domain == "music":
        midi = data_dir / "midi"
        midi.mkdir()
        for f in sorted((EXAMPLES / "midi").glob("*.mid"))[:8]:
            shutil.copy(f, midi / f.name)
        return [midi, "--max-steps", 30, *sets("hidden_size=8", "embedding_dim=8", "batch_size=2",
                                                "bptt=16", "eval_every=10")]
    return [EXAMPLES / "speech" / "manifest.csv", "--max-steps", 12, *sets(*SPEECH)]


class ForkServer:
    def __init__(self, env):
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("cli_forkserver.py"))],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.lock = threading.Lock()
        assert json.loads(self.proc.stdout.readline())["ready"]

    def ask(self, **cmd):
        with self.lock:
            self.proc.stdin.write(json.dumps(cmd) + "\n")
            self.proc.stdin.flush()
            return json.loads(self.proc.stdout.readline())

    def start(self, args, log, slow_fsync=0.0):
        return self.ask(op="start", args=[str(a) for a in args], log=str(log), slow_fsync=slow_fsync)["pid"]

    def status(self, pid):
        return self.ask(op="poll", pid=pid)["status"]

    def wait(self, pid, timeout=300):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status(pid)
            if status is not None:
                return status
            time.sleep(0.02)
        import os

        os.kill(pid, signal.SIGKILL)
        raise TimeoutError(f"pid {pid} still running after {timeout} s")

    def close(self):
        self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def check_loadable(domain: str, run: Path) -> list:
    """What a user could load from the folder right now; raises if anything is torn."""
    loaded = []
    if (run / "config.json").exists():
        read_run_config(run, domain)
        loaded.append("config")
    if (run / "trainer_state.safetensors").exists():
        load_weights(run / "trainer_state.safetensors")
        loaded.append("trainer_state")
    if (run / "model.safetensors").exists():
        load_run(run, domain, device="cpu")
        loaded.append("model")
    return loaded


def checkpoint_step(run: Path) -> int:
    """The step of the saved checkpoint, read from the safetensors header alone (-1: none)."""
    try:
        with open(run / "trainer_state.safetensors", "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(n))
        return json.loads(header["__metadata__"]["trainer"])["step"]
    except (OSError, ValueError, KeyError):
        return -1


def kill_and_resume(server, domain, args, steps, run, logs, rng, slow):
    """Three SIGKILLs at seeded random moments -- any time after the start, in the middle of
    a checkpoint write after a random step, at a random time after a later random step -- with a
    resume after each, then a resume to the end. Returns what happened."""
    import os

    record = {"kills": 0, "mid_write_kills": 0, "killed_after_step": [], "loadable": [], "rc": None}

    def command():  # a folder without config.json was killed before anything was saved
        return [domain, "train", *args, "--out", run] + (["--resume"] if (run / "config.json").exists() else [])

    def wait_for(pid, ready, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not ready() and server.status(pid) is None:
            time.sleep(0.002)

    def writing():
        return bool(list(run.glob(".trainer_state.safetensors.*.tmp")))

    plan = [("anytime", 0), ("checkpoint_write", rng.randint(steps // 4, steps // 2)),
            ("after_step", rng.randint(steps // 2 + 1, 3 * steps // 4))]
    for n, (moment, target) in enumerate(plan):
        pid = server.start(command(), logs / f"{domain}-{n}.log", slow_fsync=slow)
        if moment == "anytime":
            time.sleep(rng.uniform(0.05, 0.6))
        else:
            wait_for(pid, lambda: checkpoint_step(run) >= target)
            if moment == "checkpoint_write":
                wait_for(pid, writing)
            else:
                time.sleep(rng.uniform(0.0, 0.1))
        mid_write = writing()
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        status = server.wait(pid)
        if status == -signal.SIGKILL:
            record["kills"] += 1
            record["mid_write_kills"] += moment == "checkpoint_write" and mid_write
            record["killed_after_step"].append(checkpoint_step(run))
        record["loadable"].append(check_loadable(domain, run))
    pid = server.start(command(), logs / f"{domain}-final.log")
    record["rc"] = server.wait(pid)
    record["log"] = (logs / f"{domain}-final.log").read_text()[-3000:]
    return record


DOMAINS = ["nlp", "forecast", "music", "speech"]


@pytest.fixture(scope="module")
def killed_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("kill")
    logs = base / "logs"
    logs.mkdir()
    server = ForkServer(cli_env(RNNSUITE_CACHE_DIR=str(base / "cache")))
    results, errors = {}, {}

    def harness(domain):
        try:
            data = base / f"{domain}-data"
            data.mkdir()
            args = domain_args(domain, data)
            steps = int(args[args.index("--max-steps") + 1])
            ref = server.start([domain, "train", *args, *COMMON, "--out", base / f"{domain}-full"],
                               logs / f"{domain}-full.log")
            rng = random.Random(f"kill-{domain}")
            record = kill_and_resume(server, domain, [*args, *COMMON], steps, base / f"{domain}-killed",
                                     logs, rng, slow=0.02)
            record["full_rc"] = server.wait(ref)
            record["full_log"] = (logs / f"{domain}-full.log").read_text()[-2000:]
            results[domain] = record
        except BaseException as exc:  # reported by the domain's test
            errors[domain] = exc

    threads = [threading.Thread(target=harness, args=(d,)) for d in DOMAINS]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        server.close()
    summary = {d: {k: r[k] for k in ("kills", "mid_write_kills", "killed_after_step")}
               for d, r in results.items()}
    print(f"\nkills survived: {summary}")
    return base, results, errors


@pytest.mark.parametrize("domain", DOMAINS)
def test_killed_training_resumes_to_bit_identical_weights(killed_runs, domain):
    base, results, errors = killed_runs
    if domain in errors:
        raise errors[domain]
    record = results[domain]
    assert record["full_rc"] == 0, record["full_log"]
    assert record["rc"] == 0, record["log"]
    assert record["kills"] == 3, record
    assert len(record["loadable"]) == 3
    killed, full = base / f"{domain}-killed", base / f"{domain}-full"
    for name in ("model.safetensors", "trainer_state.safetensors"):
        a, meta_a = load_weights(full / name)
        b, meta_b = load_weights(killed / name)
        assert a.keys() == b.keys()
        for key in a:
            if name == "model.safetensors" or key.startswith(("model.", "optim.")):
                assert torch.equal(a[key], b[key]), (name, key)
    # what a user checks first: equal weights are equal files
    assert (full / "model.safetensors").read_bytes() == (killed / "model.safetensors").read_bytes()
    assert not list(killed.glob(".*.tmp"))
    check_loadable(domain, killed)


def test_at_least_one_kill_landed_in_the_middle_of_a_checkpoint_write(killed_runs):
    _, results, _ = killed_runs
    assert sum(r["mid_write_kills"] for r in results.values()) >= 1, results


def test_a_run_killed_before_its_first_checkpoint_resumes_from_step_zero(tmp_path, capsys):
    """Killed after config.json but before any checkpoint: `--resume` starts the saved config
    over (a fresh `train` would refuse the folder), and ends where an uninterrupted run ends."""
    from hardening_helpers import StreamDomain, stream_config
    from rnnsuite.core.run_lifecycle import train_run

    cfg = stream_config("max_steps=6")
    train_run(StreamDomain(), cfg, out=tmp_path / "full", show_progress=False)
    train_run(StreamDomain(), cfg, out=tmp_path / "killed", show_progress=False)
    for name in ("model.safetensors", "trainer_state.safetensors", "metrics.csv"):
        (tmp_path / "killed" / name).unlink()  # as if killed right after config.json was written
    (tmp_path / "killed" / ".trainer_state.safetensors.x1y2.tmp").write_bytes(b"torn")
    run = train_run(StreamDomain(), stream_config("seed=99"), out=tmp_path / "killed", resume=True,
                    show_progress=False)
    assert "no checkpoint yet (stopped before the first one); starting from step 0" in capsys.readouterr().err
    assert run.summary["steps"] == 6 and run.config["train"]["seed"] == 0  # the saved config
    full, _ = load_weights(tmp_path / "full" / "model.safetensors")
    resumed, _ = load_weights(tmp_path / "killed" / "model.safetensors")
    assert all(torch.equal(full[k], resumed[k]) for k in full)
    assert not list((tmp_path / "killed").glob(".*.tmp"))


class _Crash(Exception):
    pass


class _CrashAt:
    """A callback that ends the process's training (as a kill would) inside the save at `step`,
    after metrics.csv was written and before trainer_state: in the validation's save, or in a
    plain checkpoint's."""

    def __init__(self, step, in_validation):
        self.step, self.in_validation = step, in_validation

    def __getattr__(self, hook):
        return lambda *a: None

    def on_save(self, trainer):
        if trainer.step == self.step and (trainer.last_eval_step == trainer.step) == self.in_validation:
            raise _Crash


def _rows(run):
    from rnnsuite.core.metrics_log import read_csv

    return [(r["step"], r["split"], r["metric"], r["value"]) for r in read_csv(run / "metrics.csv")
            if r["metric"] != "items_per_s"]   # wall clock


@pytest.mark.parametrize("crash_step, in_validation", [(30, True), (25, False)])
def test_a_kill_inside_a_save_resumes_to_the_uninterrupted_log(tmp_path, crash_step, in_validation):
    """(30, True): killed in an epoch-end validation's save after the log was written, with the
    trainer state of the checkpoint just before it (same step): the resumed run validates again,
    and its rows are logged once. (25, False): killed in a plain checkpoint's save: the resumed
    run's first train/loss averages the steps since the last validation, restored ones included."""
    from hardening_helpers import StreamDomain, stream_config
    from rnnsuite.core.run_lifecycle import train_run

    cfg = stream_config("epochs=3", "eval_every=0", "checkpoint_every=5")
    train_run(StreamDomain(), cfg, out=tmp_path / "full", show_progress=False)
    with pytest.raises(_Crash):
        train_run(StreamDomain(), stream_config("epochs=3", "eval_every=0", "checkpoint_every=5"),
                  out=tmp_path / "killed", show_progress=False,
                  callbacks=[_CrashAt(crash_step, in_validation)])
    train_run(StreamDomain(), stream_config(), out=tmp_path / "killed", resume=True, show_progress=False)
    assert _rows(tmp_path / "killed") == _rows(tmp_path / "full")
    full, _ = load_weights(tmp_path / "full" / "model.safetensors")
    resumed, _ = load_weights(tmp_path / "killed" / "model.safetensors")
    assert all(torch.equal(full[k], resumed[k]) for k in full)
