"""A fork server for the kill-and-resume harness: one Python process imports torch, the CLI and
every plugin once, then forks a child per command that runs the real `rnnsuite` CLI
(`cli.main(args)`) with its own stdout/stderr file. Each child is a real process that the test
kills with SIGKILL; only the interpreter start-up (seconds of imports) is shared, which keeps
a dozen kills per domain inside the suite's time budget on 2 cores.

Protocol, one JSON object per line on stdin, one reply per line on stdout:
    {"op": "start", "args": [...], "cwd": DIR, "log": FILE, "slow_fsync": SECONDS} -> {"pid": PID}
    {"op": "poll", "pid": PID}  -> {"status": None (running) | exit code | -signal}
    {"op": "quit"}
`slow_fsync` makes every fsync sleep first, so that checkpoint writes last long enough for the
test to kill a child in the middle of one.
"""

import json
import os
import sys
import time


def warm_up():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    import torch

    torch.set_num_threads(1)
    torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))])  # loads torch._dynamo once
    from rnnsuite.apps.cli import cli
    from rnnsuite.core.plugins import get_domains

    cli.list_commands(None)
    for domain in get_domains().values():  # the plugins' heavy modules
        try:
            __import__(type(domain).__module__.rsplit(".", 1)[0] + ".task")
        except Exception:
            pass
    return cli


def child(cli, cmd) -> int:
    os.chdir(cmd.get("cwd") or os.getcwd())
    fd = os.open(cmd["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    slow = float(cmd.get("slow_fsync") or 0)
    if slow:
        real_fsync = os.fsync

        def fsync(fd):
            time.sleep(slow)
            real_fsync(fd)

        os.fsync = fsync
    code = 1
    try:
        cli.main(cmd["args"], prog_name="rnnsuite")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # pragma: no cover - cli.main turns everything into an exit
        import traceback

        traceback.print_exc()
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def main():
    cli = warm_up()
    reply = sys.stdout
    print(json.dumps({"ready": True}), file=reply, flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "start":
            reply.flush()
            pid = os.fork()
            if pid == 0:
                os._exit(child(cli, cmd))
            answer = {"pid": pid}
        elif cmd["op"] == "poll":
            done, status = os.waitpid(cmd["pid"], os.WNOHANG)
            answer = {"status": os.waitstatus_to_exitcode(status) if done else None}
        else:
            break
        print(json.dumps(answer), file=reply, flush=True)


if __name__ == "__main__":
    main()
