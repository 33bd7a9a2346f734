"""Training on several CPU cores without torchrun: the main process starts the others itself.

`train.processes` sets how many processes train one run on the CPU: 1, a number, or 0 (auto:
what the task asks for through `Task.parallel_processes(cores)`, 1 unless it says more). The
main process builds its task first, so bad data fails once, before anything starts; it then
starts `python -m rnnsuite.core.launch SPEC` for every other rank. Each worker builds the same
task from the same config and data, and the ranks meet in a gloo process group on a local TCP
store: from there training runs exactly as under torchrun (`core.sharding`), the main process
alone writing the run folder and reporting. A worker that stops early fails the run with its
last error line; the main process stops its workers whenever it leaves, however it leaves.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from rnnsuite.core.device import DistInfo
from rnnsuite.core.errors import UserError

__all__ = ["usable_cores", "planned_processes", "Workers", "WORKER_ENV"]

#: set in a worker's environment: "host:port:rank:world"
WORKER_ENV = "RNNSUITE_WORKER"
#: how long the process group waits for a collective before giving up (a stuck peer)
_TIMEOUT = timedelta(minutes=30)


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def planned_processes(task, train_config: dict, device, dist: DistInfo) -> int:
    """How many processes should train this run: 1 under torchrun, in a worker or off the CPU
    (auto); `train.processes` when set; else what the task asks for on the usable cores."""
    wanted = int(train_config.get("processes", 0) or 0)
    if dist.enabled or os.environ.get(WORKER_ENV):
        return 1
    if device.type != "cpu":
        if wanted > 1:
            raise UserError(f"train.processes={wanted} starts CPU processes; on {device.type} launch "
                            "the processes with torchrun (see README)")
        return 1
    if wanted:
        return wanted
    ask = getattr(task, "parallel_processes", None)
    return max(1, int(ask(usable_cores()))) if callable(ask) else 1


class Workers:
    """Processes 1..n-1 of a run, started by the main process (rank 0), and the process group
    they form with it. `dist` is the main process's place in it. Use as a context manager: on
    leaving, the group is closed and every worker still running is stopped."""

    def __init__(self, count: int, spec: dict):
        import torch.distributed as torch_dist

        self.count, self.procs, self._files = count, [], []
        self.store = torch_dist.TCPStore("127.0.0.1", 0, count, is_master=True, wait_for_workers=False,
                                         timeout=_TIMEOUT)
        try:
            for rank in range(1, count):
                # each worker reads its own copy of the spec and deletes it
                fd, spec_path = tempfile.mkstemp(prefix=f"rnnsuite-worker{rank}-", suffix=".json")
                self._files.append(spec_path)
                with os.fdopen(fd, "w") as f:
                    json.dump(spec, f)
                log = tempfile.TemporaryFile(prefix=f"rnnsuite-worker{rank}-")  # no name: nothing left behind
                env = {**os.environ, WORKER_ENV: f"127.0.0.1:{self.store.port}:{rank}:{count}",
                       "RNNSUITE_PROGRESS": "0", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
                self.procs.append((subprocess.Popen([sys.executable, "-m", "rnnsuite.core.launch", spec_path],
                                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                                    stderr=log, env=env), log))
            for rank in range(1, count):
                self._wait_ready(rank)
            torch_dist.init_process_group("gloo", store=self.store, rank=0, world_size=count, timeout=_TIMEOUT)
        except BaseException:
            self.close()
            raise
        self.dist = DistInfo(0, count, 0)

    def _wait_ready(self, rank: int) -> None:
        """Until worker `rank` has built its task (it then joins the group), or has stopped."""
        deadline = time.monotonic() + _TIMEOUT.total_seconds()
        while not self.store.check([f"ready{rank}"]):
            self.check()
            if self.procs[rank - 1][0].poll() is not None:   # exited without an error, unready
                raise RuntimeError(f"training process {rank} of {self.count} stopped before it joined")
            if time.monotonic() > deadline:
                raise RuntimeError(f"training process {rank} of {self.count} did not start within "
                                   f"{_TIMEOUT.total_seconds():.0f} s")
            time.sleep(0.05)

    def failure(self) -> str | None:
        """What stopped the first worker that exited with an error, else None."""
        for rank, (proc, log) in enumerate(self.procs, start=1):
            code = proc.poll()
            if code not in (None, 0):   # read without moving the offset the worker wrote at
                text = os.pread(log.fileno(), os.fstat(log.fileno()).st_size, 0).decode(errors="replace")
                lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
                last = lines[-1] if lines else "no message"
                return f"training process {rank} of {self.count} stopped (exit status {code}): {last}"
        return None

    def wait_failure(self, seconds: float) -> str | None:
        """`failure()`, allowing a worker that is on its way out `seconds` to exit."""
        deadline = time.monotonic() + seconds
        while True:
            reason = self.failure()
            if reason or time.monotonic() >= deadline:
                return reason
            time.sleep(0.1)

    def check(self) -> None:
        """Raise when a worker has stopped with an error."""
        reason = self.failure()
        if reason:
            raise RuntimeError(reason)

    def close(self, wait: float = 10.0) -> None:
        """Close the process group, give the workers `wait` seconds to finish, stop the rest."""
        import torch.distributed as torch_dist

        if torch_dist.is_initialized():
            torch_dist.destroy_process_group()
        self.store = None   # its server's socket closes with it
        deadline = time.monotonic() + wait
        for proc, _ in self.procs:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for proc, log in self.procs:
            log.close()
        for name in self._files:
            Path(name).unlink(missing_ok=True)
        self._files = []

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        # an error in the main process: the workers wait on it in a collective, so stop them now
        self.close(wait=10.0 if kind is None else 0.0)
        return False


def join_group() -> DistInfo:
    """In a worker: tell the main process this rank is ready and join its process group."""
    import torch.distributed as torch_dist

    host, port, rank, world = os.environ[WORKER_ENV].rsplit(":", 3)
    store = torch_dist.TCPStore(host, int(port), int(world), is_master=False, timeout=_TIMEOUT)
    store.set(f"ready{rank}", "1")
    torch_dist.init_process_group("gloo", store=store, rank=int(rank), world_size=int(world), timeout=_TIMEOUT)
    return DistInfo(int(rank), int(world), int(rank))


def _worker_main(spec_path: str) -> int:
    from rnnsuite.core.run_lifecycle import train_worker

    with open(spec_path) as f:
        spec = json.load(f)
    Path(spec_path).unlink(missing_ok=True)   # read once: nothing left if the main process is killed
    train_worker(spec)
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv[1]))
