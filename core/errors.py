"""The error contract: bad input ends with one `Error:` line and exit status 2."""

__all__ = ["UserError", "WriteError", "warn"]


class UserError(Exception):
    """Bad input from the user: a missing or malformed file, an unknown option, a bad run folder.

    The message names the file and what is wrong, on one line. The CLI prints it as
    `Error: <message>` and exits with status 2, with no traceback.
    """

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class WriteError(UserError, OSError):
    """A file could not be written (disk full, permission denied, read-only folder).

    Both a UserError (the CLI shows one `Error:` line, exit 2) and an OSError (code that
    tolerates failed writes, such as a cache, still catches it)."""

    def __init__(self, message: str, errno: int | None = None, reason: str | None = None):
        UserError.__init__(self, message)
        self.errno = errno
        self.reason = reason   # the system's words alone ("No space left on device"), when known


def warn(message: str) -> None:
    """Tell the user about something repaired or suspicious in their input, on one stderr line
    (`Warning: <file>: <what>`), without stopping."""
    import sys

    print(f"Warning: {' '.join(str(message).split())}", file=sys.stderr)
