"""The one place the command line tells a user what went wrong.

A command raises; it does not catch. `ToolkitGroup` (the `downtime` group) catches what the
toolkit raises on purpose (snapshots.errors.ToolkitError), and an OSError, which is always a
file, folder or device the user can name, and prints one line: `Error: ...` on standard error,
or, when the command line asks for `--json`, `{"ok": false, "reason": ..., "message": ...}`
on standard output (a script must never have to parse prose). The exit status is the error's
own (1 unless it says otherwise).

Anything else is a bug. `main()` reports it by its kind and the line of the toolkit that
raised it, without its message or a traceback: either could quote patient data into a
terminal's scrollback or a cron mail. DOWNTIME_DEBUG=1 lets the traceback through, for a
developer at a test site.
"""

from __future__ import annotations

import json
import os
import traceback
from pathlib import Path
from typing import NoReturn

import click

from snapshots.errors import IoError, ToolkitError

JSON_FLAG = "json_errors"  # ctx.meta key: errors as JSON (set by --json, see json_option)
FILE_KEY = "error_file"  # ctx.meta key: the file the command is about, for the JSON error
INTERNAL_ERROR = 70  # EX_SOFTWARE (sysexits.h): a bug, not the user's input
DEBUG_ENV = "DOWNTIME_DEBUG"


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta[JSON_FLAG] = True
    return value


json_option = click.option(
    "--json", "as_json", is_flag=True, callback=_set_json,
    help="Machine-readable output (errors too, as {\"ok\": false, \"reason\": ..., "
         "\"message\": ...}).")


def about_file(ctx: click.Context, file: Path) -> None:
    """Name `file` in this command's JSON error, should there be one."""
    ctx.meta[FILE_KEY] = str(file)


def as_toolkit_error(error: BaseException) -> ToolkitError | None:
    """The error as the user is to hear it, or None when it is a bug."""
    if isinstance(error, ToolkitError):
        return error
    if isinstance(error, OSError):
        return IoError.from_oserror(error)
    return None


def fail(error: ToolkitError, ctx: click.Context) -> NoReturn:
    if ctx.meta.get(JSON_FLAG):
        body = {"ok": False, "reason": error.reason, "message": str(error)}
        if FILE_KEY in ctx.meta:
            body["file"] = ctx.meta[FILE_KEY]
        click.echo(json.dumps(body))
        raise click.exceptions.Exit(error.exit_status)
    failure = click.ClickException(str(error))
    failure.exit_code = error.exit_status
    raise failure


class ToolkitGroup(click.Group):
    """The root group: every command's ToolkitError (and OSError) becomes one line here."""

    def invoke(self, ctx: click.Context):  # noqa: ANN201 - click's own signature
        try:
            return super().invoke(ctx)
        except (ToolkitError, OSError) as e:
            fail(as_toolkit_error(e), ctx)


def report_bug(error: BaseException) -> NoReturn:
    """One line for an error nobody meant (see the module's docstring); exit 70."""
    if os.environ.get(DEBUG_ENV):
        raise error
    frames = traceback.extract_tb(error.__traceback__)
    ours = [f for f in frames if _is_ours(f.filename)] or frames
    where = f" at {Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else ""
    click.echo(f"Error: internal error ({type(error).__name__}{where}): a bug in the "
               "toolkit, not in what you gave it; tell IT. Its message is not shown, as it "
               f"may quote patient data ({DEBUG_ENV}=1 shows the traceback).", err=True)
    raise SystemExit(INTERNAL_ERROR)


_PACKAGES = ("downtime", "snapshots", "forms", "reconcile")
_ROOT = Path(__file__).resolve().parents[2]  # the folder holding the four packages


def _is_ours(filename: str) -> bool:
    path = Path(filename)
    return path.is_relative_to(_ROOT) and path.relative_to(_ROOT).parts[0] in _PACKAGES
