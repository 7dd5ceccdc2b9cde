"""The one base of every error the toolkit raises on purpose.

A `ToolkitError` is a failure the user can act on: its text is one line that says what went
wrong and where (a file, a key of the config, a URL), never a traceback. It also carries a
short stable `reason` (for `--json` output and scripts) and the process `exit_status` a
command ends with. The CLI prints it in one place (downtime/cli/errors.py), the TUI shows it
in one place (downtime/tui/errors.py); library code only raises it.

Anything else that escapes is a bug: it is reported as such, by its kind and where it was
raised, never with its message or local variables (they may hold patient data).

It lives in `snapshots/`, the lowest layer, so that every package can raise it
(docs/architecture.md).
"""

from __future__ import annotations

import os


class ToolkitError(Exception):
    """A failure the user can act on, described in one line."""

    reason = "error"  # subclasses name their own: "config", "source", "key", ...
    exit_status = 1

    def __init__(self, message: str, *, reason: str | None = None,
                 exit_status: int | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason
        if exit_status is not None:
            self.exit_status = exit_status

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(ToolkitError):
    """The config file, or a value in it, cannot be used (here, the lowest layer, because a
    library's own settings, such as a local service's OS group, are checked where they are
    used: snapshots.local_socket)."""

    reason = "config"


class IoError(ToolkitError):
    """A file or folder that cannot be read or written, told as one line."""

    reason = "io"

    @classmethod
    def from_oserror(cls, error: OSError, doing: str = "",
                     path: os.PathLike | str | None = None) -> IoError:
        return cls(oserror_text(error, doing, path))


def oserror_text(error: OSError, doing: str = "", path: os.PathLike | str | None = None) -> str:
    """`PATH: DOING (WHY)`, or `PATH: WHY` without `doing`: the one way an OSError is told.

    `path` is the file or folder the user knows it by (the store, not the temporary file
    inside it); without one, the file the error names, if any."""
    where = path if path is not None else error.filename
    why = error.strerror or str(error) or type(error).__name__
    text = f"{doing} ({why})" if doing else why
    return f"{os.fspath(where)}: {text}" if where is not None and str(where) else text
