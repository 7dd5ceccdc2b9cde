"""`downtime audit`: verify the hash-chained audit log and export it as FHIR AuditEvents."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from snapshots.audit import AuditError, export_fhir, verify
from snapshots.errors import IoError

_log = click.option("--log", "log_file", type=click.Path(dir_okay=False, path_type=Path),
                    help="Audit log file (default: paths.audit_log of the config).")


def _log_path(ctx: click.Context, log_file: Path | None) -> Path:
    return ctx.obj.config.path("audit_log", log_file, flag="--log")


@click.group("audit")
def audit() -> None:
    """Check and export the tamper-evident audit log."""


@audit.command("verify")
@_log
@click.pass_context
def verify_cmd(ctx: click.Context, log_file: Path | None) -> None:
    """Check the hash chain; say where an entry was edited, deleted, reordered or cut off."""
    path = _log_path(ctx, log_file)
    result = verify(path)
    if result.ok:
        click.echo(f"{path}: {result}")
        return
    click.secho(f"{path}: {result}", fg="red", err=True)
    sys.exit(1)


@audit.command("export", epilog="Exit status: 0 every entry exported from an intact log; 1 "
               "the log is not intact or has lines that are not entries (the file is written "
               "all the same, with every entry that could be read; the warnings say what is "
               "missing and where).")
@_log
@click.option("--fhir", "out_file", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Write a FHIR R4 Bundle of AuditEvent here.")
@click.pass_context
def export_cmd(ctx: click.Context, log_file: Path | None, out_file: Path) -> None:
    """Export every entry as a FHIR R4 Bundle of AuditEvent (after checking the chain)."""
    path = _log_path(ctx, log_file)
    result = verify(path)
    if not result.ok and not result.where:
        raise AuditError(f"{path}: {result}")
    if not result.ok:
        click.secho(f"warning: {path}: {result}; exporting what is there", fg="yellow", err=True)
    try:
        exported = export_fhir(path, out_file)
    except OSError as e:
        raise IoError.from_oserror(e, "cannot export", e.filename or out_file) from None
    for number, why in exported.damaged:
        click.secho(f"warning: {path}: line {number} not exported: {why}", fg="yellow",
                    err=True)
    click.echo(f"{exported.count} AuditEvent(s) written to {out_file}")
    if not result.ok or exported.damaged:
        sys.exit(1)


COMMANDS = [audit]
