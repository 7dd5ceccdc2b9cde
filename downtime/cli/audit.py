"""`downtime audit`: verify the audit log (what holds: anchored, keyed, or plain chain only)
and export it as FHIR AuditEvents."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from snapshots.audit import (
    AuditError,
    VerifyResult,
    export_fhir,
    load_audit_public_key,
    public_key_path,
    verify,
)
from snapshots.errors import IoError

_log = click.option("--log", "log_file", type=click.Path(dir_okay=False, path_type=Path),
                    help="Audit log file (default: paths.audit_log of the config).")
_key = click.option("--key", "key_file", type=click.Path(dir_okay=False, path_type=Path),
                    help="The audit writer's public key (audit-key.pub, as IT pinned it) to "
                         "check the signatures with (default, for the config's own log: the "
                         "one beside [audit] key, if there is one).")
_anchors = click.option("--anchors", type=click.Path(path_type=Path),
                        help="Anchors copied off the workstation: one file, a log's anchor "
                             "folder or the folder of every workstation's (default, for the "
                             "config's own log: [audit] anchors, when it can be reached).")


def _log_path(ctx: click.Context, log_file: Path | None) -> Path:
    return ctx.obj.config.path("audit_log", log_file, flag="--log")


def _check(ctx: click.Context, log_file: Path | None, key_file: Path | None,
           anchors: Path | None) -> tuple[Path, VerifyResult, list[str]]:
    """The log checked with the key and anchors given, or (for the config's own log) the
    workstation's; and notes on what could not be used."""
    config, path, notes = ctx.obj.config, _log_path(ctx, log_file), []
    own = log_file is None
    source = f"--key {key_file}" if key_file else ""
    if key_file is None and own:
        beside = public_key_path(config.audit.key_path(path))
        if beside.is_file():
            key_file, source = beside, f"the workstation's {beside}"
    key: Ed25519PublicKey | None = load_audit_public_key(key_file) if key_file else None
    if anchors is None and own and config.audit.anchors is not None:
        if config.audit.anchors.is_dir():
            anchors = config.audit.anchors
        else:
            notes.append(f"[audit] anchors {config.audit.anchors} cannot be reached: anchors "
                         "not checked")
    return path, verify(path, key, key_source=source, anchors=anchors), notes


@click.group("audit")
def audit() -> None:
    """Check and export the tamper-evident audit log."""


@audit.command("verify", epilog="Exit status: 0 the log is intact (its first line says what "
               "holds: anchored up to seq N, keyed, or plain chain only); 1 it is not, or "
               "cannot be read.")
@_log
@_key
@_anchors
@click.option("--json", "as_json", is_flag=True, help="Machine-readable: {\"ok\", "
              "\"guarantee\": \"anchored\"|\"keyed\"|\"plain\"|\"broken\", \"entries\", "
              "\"anchored_to\", \"signed\", \"key\", \"notes\", ...}.")
@click.pass_context
def verify_cmd(ctx: click.Context, log_file: Path | None, key_file: Path | None,
               anchors: Path | None, as_json: bool) -> None:
    """Check the hash chain, the writer's signatures and the anchors; say what holds for the
    log, or where an entry was edited, deleted, reordered, forged or cut off."""
    path, result, notes = _check(ctx, log_file, key_file, anchors)
    if as_json:
        answer = {"log": str(path), **result.as_dict()}
        answer["notes"] = answer["notes"] + notes
        click.echo(json.dumps(answer, indent=2))
        sys.exit(0 if result.ok else 1)
    if not result.ok:
        click.secho(f"{path}: {result.summary()}", fg="red", err=True)
        sys.exit(1)
    click.echo(f"{path}: {result.summary()}")
    for note in result.notes() + notes:
        click.echo(f"  note: {note}")


@audit.command("export", epilog="Exit status: 0 every entry exported from an intact log; 1 "
               "the log is not intact or has lines that are not entries (the file is written "
               "all the same, with every entry that could be read; the warnings say what is "
               "missing and where).")
@_log
@_key
@_anchors
@click.option("--fhir", "out_file", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Write a FHIR R4 Bundle of AuditEvent here.")
@click.pass_context
def export_cmd(ctx: click.Context, log_file: Path | None, key_file: Path | None,
               anchors: Path | None, out_file: Path) -> None:
    """Export every entry as a FHIR R4 Bundle of AuditEvent (after checking the log)."""
    path, result, _notes = _check(ctx, log_file, key_file, anchors)
    if not result.ok and not result.where:
        raise AuditError(f"{path}: {result.summary()}")
    if not result.ok:
        click.secho(f"warning: {path}: {result.summary()}; exporting what is there",
                    fg="yellow", err=True)
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
