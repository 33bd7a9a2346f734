"""Concurrency: a second `train` into a run folder that is in use refuses with a clear error
instead of interleaving writes: two real `python -m rnnsuite.apps.cli` processes race for one
folder, then the test's own process tries to resume it while the winner trains."""

import signal
import subprocess
import time

from hardening_helpers import CLI, EXAMPLES, cli_env, error_lines, invoke
from rnnsuite.core.checkpoint import load_weights


def train(run, text, *extra):
    return [*CLI, "nlp", "train", str(text), "--out", str(run), "--device", "cpu", "--max-time", "300",
            "--set", "hidden_size=8", "--set", "embedding_dim=8", "--set", "batch_size=2",
            "--set", "bptt=8", "--set", "threads=1", "--set", "checkpoint_every=5", *extra]


def test_second_train_into_a_busy_run_folder_refuses(tmp_path):
    text = tmp_path / "macbeth.txt"
    text.write_text((EXAMPLES / "text" / "macbeth.txt").read_text(encoding="utf-8")[:20000], encoding="utf-8")
    run = tmp_path / "run"
    env = cli_env()
    # two fresh trainings race for the same new folder: exactly one may train
    racers = [subprocess.Popen(train(run, text), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True) for _ in range(2)]
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and all(p.poll() is None for p in racers):
            time.sleep(0.05)
        loser = next(p for p in racers if p.poll() is not None)
        winner = next(p for p in racers if p is not loser)
        out, err = loser.communicate()
        assert loser.returncode == 2, err
        [line] = error_lines(err)
        assert str(run) in line and ("another rnnsuite process" in line or "already holds a run" in line)
        assert "Traceback" not in err and out == ""
        # once the winner is training, --resume into its folder refuses as well
        while time.monotonic() < deadline and not (run / "trainer_state.safetensors").exists():
            assert winner.poll() is None, winner.communicate()[1]
            time.sleep(0.05)
        # (from this test's own process: a third interpreter start costs seconds of imports)
        second = invoke(*train(run, text, "--resume", "--max-steps", "1")[len(CLI):])
        assert second.exit_code == 2, second.output
        [line] = error_lines(second.stderr)
        assert line == f"Error: {run}: another rnnsuite process is training into this run folder"
        assert winner.poll() is None  # undisturbed, still training
    finally:
        for p in racers:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
            p.communicate()
    load_weights(run / "trainer_state.safetensors")  # the winner's checkpoint is whole
