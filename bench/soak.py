"""Soak test (issue 20, "long runs survive"): train every built-in domain for a long while, kill
it with SIGKILL at seeded random moments, resume it each time, and check that it ends exactly
where an uninterrupted run ends and that its run folder never held a partial file.

    python bench/soak.py                                  # 30 minutes a domain, all four
    python bench/soak.py --minutes 1 --domains forecast   # a quick check of the harness
    python bench/soak.py --json soak.json                 # also write the record

Not a test: pytest never collects bench/, and a full run takes over two hours on 2 cores.

For each domain, on its example data (examples/text, examples/sales.csv, examples/midi,
examples/speech/manifest.csv) with the domain's default settings on CPU, one thread
(`--device cpu --set threads=1`), plus `checkpoint_every` so that there are about
CHECKPOINTS checkpoints in the budget, and for forecast `patience=0` (its default early
stopping ends a sales.csv run after about 15 s, which is no soak):

  1. calibrate: `train --max-time --calibrate` seconds gives the steps per second, so that
     N = the steps of `--minutes` minutes;
  2. the reference: an uninterrupted `train --max-steps N`;
  3. at the same time the soaked run, with the same command: killed `--kills` times at
     seeded moments, one in each equal part of the run (the first any time in the first part,
     start-up included; then alternately in the middle of a trainer-state write, made slow
     with a slow fsync as in the hardening test, and at a random time after a random step),
     `train --resume` after each kill, then resumed to the end. After every kill the folder
     must be loadable (config, trainer state and model, as a user would load them);
  4. a watcher thread looks at every visible file of the soaked run folder every
     --poll seconds, for the whole run, and records any that is partial: a *.safetensors
     whose size is not what its header implies, a *.json that does not parse, a *.csv
     that does not end in a whole row (metrics.csv is rewritten atomically at every
     checkpoint, so a torn last line would be a partial file), a *.png without its
     trailer. Hidden `.NAME.*.tmp` files are an atomic write in progress and are allowed,
     but none may remain once the last resume is done;
  5. at the end: model.safetensors the same bytes as the reference's, the model, optimizer
     and weight-average tensors of trainer_state.safetensors equal, and metrics.csv the
     reference's rows, each once, equal but for the wall-clock ones (the time column and
     the items_per_s metric).

Why --max-steps and not --max-time: bit-exact equality is only defined for a step-bounded
run. A `--max-time` run stops where the wall clock says, and its learning rate follows the
clock too: the cosine schedule follows max(step progress, time progress) (core/optim.py
`lr_factor`), so wherever time runs ahead of steps -- the first step, the steps right after
the warm-up, any stretch slower than the average -- the rate, and every later weight, depends
on the clock. So both runs stop at N steps (`--epochs 0`: the domains' default epochs would
stop some earlier), with `--max-time 0` (none: speech's default 1500-second budget would
otherwise drive its schedule). `--time-ceiling X` adds `--max-time` of X x the
budget, meant never to bind, to watch a time-budgeted run survive the kills (the table shows
each run's stop reason); measured with --minutes 1 and X = 3, forecast, music and nlp then
ended with other weights than the reference, from that schedule alone.

The runs are real `rnnsuite` CLI processes forked from the hardening tests' fork server
(tests/hardening/cli_forkserver.py, which imports torch and the plugins once); the kill,
load and checkpoint helpers are those of tests/hardening/test_hardening_kill.py.
Exit status 1 when anything failed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
DOMAINS = ["nlp", "forecast", "music", "speech"]
DATA = {"nlp": EXAMPLES / "text", "forecast": EXAMPLES / "sales.csv", "music": EXAMPLES / "midi",
        "speech": EXAMPLES / "speech" / "manifest.csv"}
# what a domain needs to train for the whole budget
EXTRA_SETTINGS = {"forecast": ["patience=0"]}
CHECKPOINTS = 50         # checkpoints (at least) in the budget, through checkpoint_every
SLOW_FSYNC = 0.02        # seconds each fsync sleeps in a session to be killed mid-write
WALL_CLOCK_METRICS = {"items_per_s"}
DONE = re.compile(r"Done: (\d+) steps \(([^)]*)\) in ([\d.]+) s")


class SoakError(Exception):
    """A command of the soak failed (named with its log's tail)."""


def harness():
    """The hardening tests' fork server and helpers (tests/hardening is no package)."""
    sys.path.insert(0, str(REPO / "tests" / "hardening"))
    import test_hardening_kill

    return test_hardening_kill


def sets(items) -> list:
    return [a for item in items for a in ("--set", item)]


def log_tail(path: Path, chars: int = 1500) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def summary_line(log: Path) -> dict | None:
    """The CLI's `Done: N steps (reason) in S s` line: steps, stop reason, training seconds."""
    found = DONE.findall(log_tail(log, 4000))
    if not found:
        return None
    steps, reason, seconds = found[-1]
    return {"steps": int(steps), "stop_reason": reason, "seconds": float(seconds)}


class Children:
    """The CLI children started through the fork server; any still running at the end are
    killed (only those: the server would leave them orphaned)."""

    def __init__(self, server):
        self.server = server
        self.running: set[int] = set()
        self.exited: dict[int, int] = {}     # the server reaps a child once: remember its status

    def start(self, args, log: Path, slow_fsync: float = 0.0) -> int:
        pid = self.server.start(args, log, slow_fsync=slow_fsync)
        self.running.add(pid)
        return pid

    def status(self, pid: int):
        if pid in self.exited:
            return self.exited[pid]
        status = self.server.status(pid)
        if status is not None:
            self.running.discard(pid)
            self.exited[pid] = status
        return status

    def kill(self, pid: int) -> None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def wait(self, pid: int, timeout: float, poll: float = 0.05):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status(pid)
            if status is not None:
                return status
            time.sleep(poll)
        self.kill(pid)
        self.wait(pid, 60)
        raise SoakError(f"pid {pid} still running after {timeout:.0f} s (killed)")

    def wait_until(self, pid: int, ready, timeout: float, poll: float) -> bool:
        """Until `ready()` or the child has exited; True when ready while it still ran."""
        deadline = time.monotonic() + timeout
        next_status = 0.0
        while time.monotonic() < deadline:
            if ready():
                return True
            if time.monotonic() >= next_status:
                if self.status(pid) is not None:
                    return False
                next_status = time.monotonic() + 0.25
            time.sleep(poll)
        return False

    def sleep_while_running(self, pid: int, seconds: float) -> None:
        start = time.monotonic()
        self.wait_until(pid, lambda: time.monotonic() - start >= seconds, seconds + 1, 0.005)

    def kill_all(self) -> None:
        for pid in list(self.running):
            self.kill(pid)
            try:
                self.wait(pid, 30)
            except Exception:   # the server may be gone; the SIGKILL was sent
                pass


# -- partial files ---------------------------------------------------------------------------

PNG_HEAD = b"\x89PNG\r\n\x1a\n"
PNG_TAIL = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def safetensors_problem(f, size: int) -> str | None:
    head = f.read(8)
    if len(head) < 8:
        return f"{size} bytes: no header length"
    n = int.from_bytes(head, "little")
    if 8 + n > size:
        return f"{size} bytes: header of {n} bytes runs past the end"
    try:
        header = json.loads(f.read(n))
        end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        return f"header does not parse ({exc})"
    if 8 + n + end != size:
        return f"{size} bytes, the header implies {8 + n + end}"
    return None


def csv_problem(f, size: int) -> str | None:
    """A whole CSV ends in a newline and its last row has the header's fields (read from both
    ends only: metrics.csv grows by thousands of rows in a long run)."""
    if size == 0:
        return "empty"
    head = f.read(min(size, 4096)).split(b"\n", 1)[0]
    f.seek(max(0, size - 4096))
    tail = f.read()
    if not tail.endswith(b"\n"):
        return "does not end in a newline (a torn last row)"
    last = tail[:-1].rsplit(b"\n", 1)[-1]
    fields = [len(next(csv.reader([line.decode("utf-8", "replace")]))) for line in (head, last)]
    if fields[0] != fields[1]:
        return f"last row has {fields[1]} fields, the header {fields[0]}"
    return None


def inspect(path: Path) -> tuple[tuple, str | None] | None:
    """(identity, why the visible file at `path` is not whole or None), or None when it is
    gone. The identity (inode, size, mtime) is that of the file read, so that a whole file
    needs no second look until it is replaced."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            return (path, st.st_ino, st.st_size, st.st_mtime_ns), _problem(f, path.suffix.lower(), st.st_size)
    except FileNotFoundError:
        return None


def _problem(f, kind: str, size: int) -> str | None:
    if kind == ".safetensors":
        return safetensors_problem(f, size)
    if kind == ".csv":
        return csv_problem(f, size)
    if kind == ".json":
        text = f.read()
        try:
            json.loads(text)
        except ValueError as exc:
            return f"{size} bytes: not JSON ({exc})"
        if not text.endswith(b"\n"):   # atomic_write_json ends every file with one
            return f"{size} bytes: no final newline"
    if kind == ".png":
        head = f.read(8)
        f.seek(max(0, size - len(PNG_TAIL)))
        if head != PNG_HEAD or f.read() != PNG_TAIL:
            return f"{size} bytes: no PNG signature or trailer"
    return None


def checked(path: Path) -> bool:
    return path.suffix.lower() in (".safetensors", ".csv", ".json", ".png")


def folder_files(folder: Path):
    """(path, hidden) of every file under `folder`; a hidden folder's files count as hidden."""
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return
    for entry in entries:
        hidden = entry.name.startswith(".")
        if entry.is_dir(follow_symlinks=False):
            for path, inner_hidden in folder_files(Path(entry.path)):
                yield path, hidden or inner_hidden
        else:
            yield Path(entry.path), hidden


def temp_files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p, hidden in folder_files(folder)
                  if hidden and p.name.endswith(".tmp"))


class PartialFileWatcher(threading.Thread):
    """Looks at every visible file of a run folder every `poll` seconds and records the ones
    that are partial (a file is checked again only when its inode, size or mtime changed)."""

    def __init__(self, folder: Path, poll: float):
        super().__init__(daemon=True)
        self.folder = folder
        self.poll = poll
        self.done = threading.Event()
        self.whole: set = set()          # (path, inode, size, mtime) already found whole
        self.partial: list[dict] = []
        self.reported: set = set()
        self.unchecked: set[str] = set()
        self.scans = 0
        self.files_checked = 0
        self.temp_seen = 0               # scans that found an atomic write in progress
        self.phase = "start"             # which session of the soaked run is going on
        self.started = time.monotonic()

    def run(self) -> None:
        while not self.done.wait(self.poll):
            self.scan()
        self.scan()

    def stop(self) -> None:
        self.done.set()
        self.join()

    def scan(self) -> None:
        self.scans += 1
        writing = False
        for path, hidden in folder_files(self.folder):
            if hidden:
                writing |= path.name.endswith(".tmp")
                continue
            if not checked(path):
                self.unchecked.add(str(path.relative_to(self.folder)))
                continue
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            if (path, st.st_ino, st.st_size, st.st_mtime_ns) in self.whole:
                continue
            self.files_checked += 1
            found = inspect(path)
            if found is None:
                continue
            identity, problem = found
            if problem is None:
                self.whole.add(identity)
            elif identity not in self.reported:     # once per version of the file
                self.reported.add(identity)
                self.partial.append({"file": str(path.relative_to(self.folder)), "problem": problem,
                                     "phase": self.phase,
                                     "at_s": round(time.monotonic() - self.started, 3)})
        self.temp_seen += writing


# -- one domain ------------------------------------------------------------------------------

def calibrate(children, domain: str, work: Path, seconds: float) -> dict:
    """Steps per second of the domain's default training, from a `--max-time` run alone."""
    log = work / "logs" / f"{domain}-calibrate.log"
    args = [domain, "train", DATA[domain], "--device", "cpu", "--set", "threads=1",
            *sets(EXTRA_SETTINGS.get(domain, [])), "--max-steps", 0, "--max-time", seconds,
            "--out", work / f"{domain}-calibrate"]
    pid = children.start(args, log)
    rc = children.wait(pid, timeout=3 * seconds + 300)
    done = summary_line(log)
    if rc != 0 or done is None or done["steps"] == 0:
        raise SoakError(f"{domain}: calibration failed (rc {rc}):\n{log_tail(log)}")
    return {**done, "steps_per_s": done["steps"] / max(1e-9, done["seconds"])}


def kill_plan(rng: random.Random, kills: int, steps: int, every: int, seconds: float) -> list[dict]:
    """One kill in each of `kills` equal parts of the run: the first at a random time of the
    first part (start-up included), then alternately in the middle of a trainer-state write
    after a random step, and at a random time after a random step."""
    plan = []
    last = max(1, steps - 2 * every)       # a later kill could find the run finished
    for i in range(kills):
        lo = max(1, i * steps // kills)
        hi = max(lo, min(last, (i + 1) * steps // kills - 1))
        if i == 0:
            plan.append({"moment": "anytime", "delay_s": round(rng.uniform(0.1, seconds / kills), 3)})
        elif i % 2:
            plan.append({"moment": "checkpoint_write", "after_step": rng.randint(lo, hi)})
        else:
            plan.append({"moment": "random", "after_step": rng.randint(lo, hi),
                         "delay_s": round(rng.uniform(0.0, 1.5 * seconds * every / steps), 3)})
    return plan


def kill_and_resume(children, kill_helpers, domain: str, args: list, run: Path, logs: Path,
                    plan: list, watcher: PartialFileWatcher, timeout: float) -> dict:
    """The hardening test's kill-and-resume loop for any number of kills: start (or
    `--resume`) the run, kill it as `plan` says, check that the folder loads, and after the
    last kill resume it to the end."""
    checkpoint_step, check_loadable = kill_helpers.checkpoint_step, kill_helpers.check_loadable
    events = []

    def command():  # a folder without config.json was killed before anything was saved
        return [domain, "train", *args, "--out", run] + (["--resume"] if (run / "config.json").exists() else [])

    def writing():
        return any(run.glob(".trainer_state.safetensors.*.tmp"))

    for n, kill in enumerate(plan):
        moment = kill["moment"]
        watcher.phase = f"session {n}"
        started = time.monotonic()
        resumed_from = checkpoint_step(run)
        pid = children.start(command(), logs / f"{domain}-{n}.log",
                             slow_fsync=SLOW_FSYNC if moment == "checkpoint_write" else 0.0)
        if moment == "anytime":
            children.sleep_while_running(pid, kill["delay_s"])
        else:
            ready = children.wait_until(pid, lambda: checkpoint_step(run) >= kill["after_step"], timeout, 0.01)
            if ready and moment == "checkpoint_write":
                children.wait_until(pid, writing, timeout, 0.001)
            elif ready:
                children.sleep_while_running(pid, kill["delay_s"])
        mid_write = writing()
        children.kill(pid)
        status = children.wait(pid, 60)
        event = {**kill, "status": status, "killed": status == -signal.SIGKILL,
                 "mid_write": bool(mid_write and status == -signal.SIGKILL),
                 "resumed_from_step": resumed_from, "checkpoint_step": checkpoint_step(run),
                 "session_s": round(time.monotonic() - started, 2)}
        if status not in (0, -signal.SIGKILL):
            event["log"] = log_tail(logs / f"{domain}-{n}.log")
        try:
            event["loadable"] = check_loadable(domain, run)
        except Exception as exc:  # what a user would have met
            event["load_error"] = f"{type(exc).__name__}: {exc}"
        events.append(event)
    watcher.phase = "final"
    final_log = logs / f"{domain}-final.log"
    pid = children.start(command(), final_log)
    rc = children.wait(pid, timeout)
    return {"events": events, "rc": rc, "done": summary_line(final_log),
            "log": log_tail(final_log) if rc != 0 else ""}


def compare_weights(ref: Path, run: Path) -> list[str]:
    """What differs between the two runs' saved weights ([]: equal)."""
    import torch
    from rnnsuite.core.checkpoint import load_weights

    differ = []
    try:
        if (ref / "model.safetensors").read_bytes() != (run / "model.safetensors").read_bytes():
            differ.append("model.safetensors bytes")
        for name, prefixes in (("model.safetensors", ("",)),
                               ("trainer_state.safetensors", ("model.", "optim.", "ema."))):
            a, _ = load_weights(ref / name)
            b, _ = load_weights(run / name)
            keys = {k for k in a.keys() | b.keys() if k.startswith(prefixes)}
            differ += [f"{name}:{k}" for k in sorted(keys)
                       if k not in a or k not in b or not torch.equal(a[k], b[k])]
    except Exception as exc:
        differ.append(f"cannot compare: {type(exc).__name__}: {exc}")
    return differ


def compare_metrics(ref: Path, run: Path) -> dict:
    """metrics.csv of the soaked run against the reference's: rows that appear twice, are
    missing or extra, or differ (but in the time column and the wall-clock metrics)."""
    def rows(folder):
        with open(folder / "metrics.csv", newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))

    def key(row):
        return int(row["step"]), row["split"], row["metric"]

    ref_rows, run_rows = rows(ref), rows(run)
    seen, duplicates = set(), []
    for row in run_rows:
        if key(row) in seen:
            duplicates.append(key(row))
        seen.add(key(row))
    want = {key(r): r for r in ref_rows}
    have = {key(r): r for r in run_rows}
    differ = []
    for k in sorted(want.keys() & have.keys()):
        a, b = want[k], have[k]
        fields = ["epoch"] + ([] if k[2] in WALL_CLOCK_METRICS else ["value"])
        if any(a[f] != b[f] for f in fields):
            differ.append({"step": k[0], "split": k[1], "metric": k[2],
                           "reference": a["value"], "soaked": b["value"]})
    return {"rows": len(run_rows), "reference_rows": len(ref_rows), "duplicates": duplicates,
            "missing": sorted(want.keys() - have.keys()), "extra": sorted(have.keys() - want.keys()),
            "differ": differ}


def soak_domain(children, kill_helpers, domain: str, opts, work: Path) -> dict:
    start = time.monotonic()
    logs = work / "logs"
    print(f"[{domain}] calibrating ({opts.calibrate:g} s) ...", flush=True)
    cal = calibrate(children, domain, work, opts.calibrate)
    steps = max(20, round(cal["steps_per_s"] * opts.minutes * 60))
    every = max(1, steps // CHECKPOINTS)
    ceiling = opts.time_ceiling * opts.minutes * 60
    args = [DATA[domain], "--device", "cpu", "--set", "threads=1", *sets(EXTRA_SETTINGS.get(domain, [])),
            "--set", f"checkpoint_every={every}", "--epochs", 0, "--max-steps", steps,
            "--max-time", ceiling]   # 0: none, overriding a domain's time budget (speech's 1500 s)
    rng = random.Random(f"soak-{opts.seed}-{domain}")
    plan = kill_plan(rng, opts.kills, steps, every, opts.minutes * 60)
    timeout = (opts.time_ceiling or 5) * opts.minutes * 60 * 2 + 600
    print(f"[{domain}] {cal['steps_per_s']:.2f} steps/s -> {steps} steps, checkpoint_every={every}, "
          f"max_time={ceiling or 'none'}; kills: {plan}", flush=True)
    ref, run = work / f"{domain}-reference", work / f"{domain}-soaked"
    ref_pid = children.start([domain, "train", *args, "--out", ref], logs / f"{domain}-reference.log")
    watcher = PartialFileWatcher(run, opts.poll)
    watcher.start()
    try:
        soaked = kill_and_resume(children, kill_helpers, domain, args, run, logs, plan, watcher, timeout)
    finally:
        watcher.stop()
    ref_rc = children.wait(ref_pid, timeout)
    record = {"domain": domain, "calibration": cal, "steps": steps, "checkpoint_every": every,
              "max_time": ceiling, "plan": plan, **soaked, "reference_rc": ref_rc,
              "reference_done": summary_line(logs / f"{domain}-reference.log"),
              "partial": watcher.partial, "unchecked": sorted(watcher.unchecked),
              "watcher": {"scans": watcher.scans, "files_checked": watcher.files_checked,
                          "scans_with_write_in_progress": watcher.temp_seen},
              "temp_left": temp_files(run)}
    if ref_rc != 0:
        record["reference_log"] = log_tail(logs / f"{domain}-reference.log")
    if soaked["rc"] == 0 and ref_rc == 0:
        try:
            kill_helpers.check_loadable(domain, run)
        except Exception as exc:
            record["final_load_error"] = f"{type(exc).__name__}: {exc}"
        record["weights_differ"] = compare_weights(ref, run)
        record["metrics"] = compare_metrics(ref, run)
    record["failures"] = failures(record)
    record["wall_s"] = round(time.monotonic() - start, 1)
    return record


def failures(r: dict) -> list[str]:
    """Every way the soak of one domain failed ([]: it passed)."""
    out = []
    if r["reference_rc"] != 0:
        out.append(f"reference run exited {r['reference_rc']}")
    if r["rc"] != 0:
        out.append(f"final resume exited {r['rc']}")
    for name, done in (("reference", r.get("reference_done")), ("soaked", r.get("done"))):
        if done and (done["stop_reason"] != "max_steps" or done["steps"] != r["steps"]):
            out.append(f"{name} run stopped at step {done['steps']} ({done['stop_reason']}), not "
                       f"{r['steps']} (max_steps)")
    for n, e in enumerate(r["events"]):
        if not e["killed"]:
            out.append(f"kill {n} ({e['moment']}) missed: the session exited {e['status']}")
        if "load_error" in e:
            out.append(f"after kill {n}: {e['load_error']}")
    if r["partial"]:
        out.append(f"{len(r['partial'])} partial file sightings")
    if r["temp_left"]:
        out.append(f"temporary files left: {r['temp_left']}")
    if "final_load_error" in r:
        out.append(f"final folder: {r['final_load_error']}")
    if r.get("weights_differ"):
        out.append(f"weights differ: {', '.join(r['weights_differ'][:6])}"
                   + (f" (+{len(r['weights_differ']) - 6})" if len(r["weights_differ"]) > 6 else ""))
    m = r.get("metrics")
    if m:
        for what in ("duplicates", "missing", "extra"):
            if m[what]:
                out.append(f"metrics.csv: {len(m[what])} rows {what}, first {m[what][0]}")
        by_metric: dict = {}
        for d in m["differ"]:
            by_metric.setdefault(f"{d['split']}/{d['metric']}", []).append(d)
        for name, rows in by_metric.items():
            first = rows[0]
            out.append(f"metrics.csv: {name} differs at {len(rows)} steps, first at step {first['step']} "
                       f"({first['reference']} in the reference, {first['soaked']} soaked)")
    return out


# -- report ----------------------------------------------------------------------------------

COLUMNS = ["domain", "steps", "ckpt_every", "kills", "mid_write", "partial", "temp_left",
           "loadable", "weights", "metrics", "stop", "wall_s"]


def table_row(r: dict) -> list:
    killed = sum(e["killed"] for e in r["events"])
    loadable = all("load_error" not in e for e in r["events"]) and "final_load_error" not in r
    m = r.get("metrics")
    stops = {d["stop_reason"] for d in (r.get("reference_done"), r.get("done")) if d}
    return [r["domain"], r["steps"], r["checkpoint_every"], f"{killed}/{len(r['events'])}",
            sum(e["mid_write"] for e in r["events"]), len(r["partial"]), len(r["temp_left"]),
            "yes" if loadable else "NO",
            "n/a" if "weights_differ" not in r else ("equal" if not r["weights_differ"] else "DIFFER"),
            "n/a" if m is None else ("equal" if not any(m[k] for k in ("duplicates", "missing", "extra", "differ"))
                                     else "DIFFER"),
            "/".join(sorted(stops)) or "?", r["wall_s"]]


def print_table(records: list) -> None:
    rows = [COLUMNS] + [[str(v) for v in table_row(r)] for r in records]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
    for r in records:
        for problem in r["failures"]:
            print(f"FAIL {r['domain']}: {problem}")
        if r["unchecked"]:
            print(f"note {r['domain']}: files of a kind not checked for partial writes: {r['unchecked']}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--minutes", type=float, default=30.0, help="training budget per domain")
    parser.add_argument("--domains", default=",".join(DOMAINS), help="comma-separated")
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="of the kill moments")
    parser.add_argument("--work", type=Path, help="folder for the runs (default: new under runs/soak)")
    parser.add_argument("--json", type=Path, help="write the record here")
    parser.add_argument("--calibrate", type=float, default=40.0, help="seconds of the timing run")
    parser.add_argument("--time-ceiling", type=float, default=0.0,
                        help="--max-time as a multiple of the budget (0: no --max-time)")
    parser.add_argument("--poll", type=float, default=0.03, help="seconds between folder scans")
    opts = parser.parse_args(argv)
    domains = [d.strip() for d in opts.domains.split(",") if d.strip()]
    unknown = sorted(set(domains) - set(DOMAINS))
    if unknown or opts.kills < 1 or opts.minutes <= 0:
        parser.error(f"unknown domains {unknown}" if unknown else "--kills and --minutes must be positive")
    if opts.work is None:
        (REPO / "runs" / "soak").mkdir(parents=True, exist_ok=True)
        opts.work = Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=REPO / "runs" / "soak"))
    work = opts.work.resolve()
    (work / "logs").mkdir(parents=True, exist_ok=True)
    print(f"soak: {opts.minutes:g} min x {domains}, {opts.kills} kills, seed {opts.seed}, in {work}", flush=True)

    kill_helpers = harness()
    import torch

    torch.set_num_threads(1)  # this process only loads and compares; the runs have the cores
    from hardening_helpers import cli_env

    server = kill_helpers.ForkServer(cli_env(RNNSUITE_CACHE_DIR=str(work / "cache")))
    children = Children(server)
    records = []
    try:
        for domain in domains:
            try:
                records.append(soak_domain(children, kill_helpers, domain, opts, work))
            except SoakError as exc:
                records.append({"domain": domain, "error": str(exc)})
                print(f"[{domain}] ERROR {exc}", flush=True)
            print(f"[{domain}] done", flush=True)
    finally:
        children.kill_all()
        server.close()
    complete = [r for r in records if "error" not in r]
    print()
    print_table(complete)
    ok = len(complete) == len(records) and not any(r["failures"] for r in complete)
    if opts.json:
        from _machine import describe_machine  # bench/ is on sys.path when a bench runs

        opts.json.write_text(json.dumps({
            "machine": describe_machine(), "settings": {k: str(v) for k, v in vars(opts).items()},
            "passed": ok, "domains": records}, indent=2, default=str) + "\n")
    print("soak:", "PASSED" if ok else "FAILED", f"(runs and logs in {work})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
