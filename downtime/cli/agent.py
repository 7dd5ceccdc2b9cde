"""`downtime agent`: receive snapshots into the workstation store; `agent status` checks it."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

import click

from snapshots.errors import IoError, oserror_text
from snapshots.keys import (
    KeyFileError,
    load_identity,
    load_public_key,
    read_recipient,
    recipient_file,
)

from ..agent import process_inbox, run_agent, status
from ..audit_writer import start_audit_writer
from ..config import ConfigError
from ..packet_service import Access, PacketService, ServiceError
from ..passphrase import get_passphrase, passphrase_option
from ..prerender_hook import PrerenderHook, prerender_hook

_store = click.option("--store", type=click.Path(file_okay=False, path_type=Path),
                      help="Snapshot store (default: paths.store of the config).")
_key = click.option("--trusted-key", type=click.Path(dir_okay=False, path_type=Path),
                    help="Pinned builder public key (default: paths.trusted_builder_key).")


def _path(ctx: click.Context, key: str, value: Path | None, flag: str,
          required: bool = True) -> Path | None:
    return ctx.obj.config.path(key, value, required=required, flag=flag)


def _trusted(ctx: click.Context, value: Path | None, required: bool = True):
    path = _path(ctx, "trusted_builder_key", value, "--trusted-key", required)
    return None if path is None else load_public_key(path)


@click.group("agent", invoke_without_command=True)
@click.option("--inbox", type=click.Path(file_okay=False, path_type=Path),
              help="Folder the builder drops snapshot files into (default: paths.inbox).")
@_store
@_key
@click.option("--keep", default=3, show_default=True, type=click.IntRange(1, 100),
              help="Good snapshots to keep per scope.")
@click.option("--once", is_flag=True, help="Process the inbox once and exit (for a scheduler).")
@click.option("--prerender", is_flag=True,
              help="After installing a unit snapshot, pre-render its packet (encrypted) with "
                   "the configured identity (passphrase: --passphrase-file or the variable).")
@passphrase_option
@click.pass_context
def agent(ctx: click.Context, inbox: Path | None, store: Path | None, trusted_key: Path | None,
          keep: int, once: bool, prerender: bool, passphrase_file: Path | None) -> None:
    """Watch the inbox; verify, install and prune snapshots in the store."""
    if ctx.invoked_subcommand is not None:
        return
    inbox = _path(ctx, "inbox", inbox, "--inbox")
    store = _path(ctx, "store", store, "--store")
    key = _trusted(ctx, trusted_key)
    _usable_folder(inbox, "inbox")
    _usable_folder(store, "store")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        stream=sys.stdout)
    for chatty in ("weasyprint", "fontTools"):  # every pre-render's layout steps, at INFO
        logging.getLogger(chatty).setLevel(logging.WARNING)
    hook = None
    if prerender:
        access = Access.from_config(ctx.obj.config)
        access.group_id()  # before anything starts: a wrong packet group is the site's to fix
        identity = load_identity(_path(ctx, "identity", None, "--identity"),
                                 get_passphrase(passphrase_file))
        hook = prerender_hook(identity, key, store)
    if once:
        try:
            results = process_inbox(inbox, store, key, keep, on_install=hook)
        except OSError as e:
            raise IoError(f"{oserror_text(e, path=e.filename or inbox)} (the pass stopped; what it "
                          "installed is in place)") from None
        for r in results:
            click.echo(str(r))
        if not results:
            click.echo(f"inbox {inbox}: nothing to install")
        sys.exit(1 if any(r.status == "rejected" for r in results) else 0)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    service = _packet_service(store, hook, access) if hook is not None else None
    # [audit] writer = "agent": browse's and print's entries, signed (downtime.audit_writer)
    writer = start_audit_writer(ctx.obj.config, logging.getLogger("downtime.agent"))
    try:
        run_agent(inbox, store, key, keep, on_install=hook, stop=stop)
    except KeyboardInterrupt:
        pass
    finally:
        for running in (service, writer):
            if running is not None:
                running.close()


def _packet_service(store: Path, hook: PrerenderHook, access: Access) -> PacketService | None:
    """With --prerender, hand the packets to `downtime print` (downtime.packet_service); the
    agent goes on without it when the socket cannot be had (print then lays packets out)."""
    service = PacketService(store, hook.folder, [hook.identity.secret], access)
    try:
        service.start()
    except (ServiceError, ConfigError) as e:
        logging.getLogger("downtime.agent").warning("not handing packets to print: %s", e)
        return None
    return service


def _usable_folder(path: Path, what: str) -> None:
    """Create the folder, or fail with one line before watching anything."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise IoError.from_oserror(e, f"cannot use as the {what} folder", path) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise IoError(f"{path}: cannot write to the {what} folder")


def _workstation_recipient(identity: Path | None, given: bool) -> str | None:
    """The public half of the identity, from the NAME.age.pub beside it. Without one, which
    scopes the workstation opens is not checked (an error only when --identity was given)."""
    if identity is None:
        return None
    public = recipient_file(identity)
    if not public.exists() and not given:
        return None
    try:
        return read_recipient(public)
    except KeyFileError as e:
        raise KeyFileError(f"{e} (the public half of {identity})") from None


@agent.command("status")
@_store
@_key
@click.option("--inbox", type=click.Path(file_okay=False, path_type=Path),
              help="Inbox (to count rejected files; default: paths.inbox if set).")
@click.option("--stale-minutes", type=click.IntRange(min=1),
              help="Warn past this age (default: config, 30).")
@click.option("--identity", type=click.Path(dir_okay=False, path_type=Path),
              help="This workstation's identity (default: paths.identity): its NAME.age.pub "
                   "tells which snapshots it can open; no passphrase is asked.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable (for a monitoring "
              "check): {\"ready\": ..., \"scopes\": [...], \"problems\": [...]}.")
@click.pass_context
def status_cmd(ctx: click.Context, store: Path | None, trusted_key: Path | None,
               inbox: Path | None, stale_minutes: int | None, identity: Path | None,
               as_json: bool) -> None:
    """Readiness check: newest snapshot per scope, age, patients; exit 1 if not ready."""
    store = _path(ctx, "store", store, "--store")
    key = _trusted(ctx, trusted_key, required=False)
    inbox = _path(ctx, "inbox", inbox, "--inbox", required=False)
    threshold = stale_minutes if stale_minutes is not None else ctx.obj.config.stale_minutes
    recipient = _workstation_recipient(_path(ctx, "identity", identity, "--identity",
                                             required=False), given=identity is not None)
    report = status(store, threshold, key, inbox=inbox, recipient=recipient)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        sys.exit(0 if report.ok else 1)
    for line in report.lines():
        colour = "red" if line.startswith(("WARNING", "NOT READY")) else None
        click.secho(line, fg=colour, err=False)
    sys.exit(0 if report.ok else 1)


COMMANDS = [agent]
