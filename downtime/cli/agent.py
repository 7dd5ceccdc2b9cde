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

from snapshots.audit.client import writer_problem
from snapshots.audit.writer import start_audit_writer
from snapshots.errors import IoError, ToolkitError, oserror_text
from snapshots.keys import (
    load_identity,
    load_public_key,
)

from ..agent import check_setup, process_inbox, run_agent, status
from ..agent.status import UNKNOWN
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
    access = Access.from_config(ctx.obj.config)
    if prerender:  # before anything starts: a wrong packet group is the site's to fix
        access.group_id()
    _existing_inbox(inbox)
    _usable_folder(store, "store")
    _logging(once)
    hook = None
    if prerender:
        identity = load_identity(_path(ctx, "identity", None, "--identity"),
                                 get_passphrase(passphrase_file))
        hook = prerender_hook(identity, key, store)
    if once:
        try:
            results = process_inbox(inbox, store, key, keep, on_install=hook)
        except OSError as e:
            raise IoError(f"{oserror_text(e, path=e.filename or inbox)} (the pass stopped; "
                          "what it installed is in place)") from None
        for r in results:
            click.echo(str(r))
        if not results:
            click.echo(f"inbox {inbox}: nothing to install")
        sys.exit(1 if any(r.status == "rejected" for r in results) else 0)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    service = _packet_service(store, hook, access) if hook is not None else None
    # [audit] writer = "agent": browse's and print's entries, signed (snapshots.audit.writer)
    writer = start_audit_writer(ctx.obj.config.audit, ctx.obj.config.paths.audit_log,
                                logging.getLogger("downtime.agent"))
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


def _logging(once: bool) -> None:
    """The service logs every step on standard output (journald keeps it). A single pass
    prints one line per file itself, so its log shows only what those lines do not say
    (a pre-render that failed, a socket not served), on standard error: never a line twice."""
    logging.basicConfig(level=logging.WARNING if once else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s",
                        stream=sys.stderr if once else sys.stdout)
    if once:  # installs and rejections are the pass's own output lines
        logging.getLogger("downtime.agent").setLevel(logging.ERROR)
        logging.getLogger("downtime.agent.prerender").setLevel(logging.WARNING)
        logging.getLogger("downtime.agent.packets").setLevel(logging.WARNING)
    for chatty in ("weasyprint", "fontTools"):  # every pre-render's layout steps, at INFO
        logging.getLogger(chatty).setLevel(logging.WARNING)


def _existing_inbox(inbox: Path) -> None:
    """The inbox is where the builder's files arrive (often a share): one that is not there
    is a mistyped path or an unmounted share, never made here to watch an empty folder."""
    if not inbox.is_dir():
        what = "is not a folder" if inbox.exists() else "no such folder"
        raise IoError(f"{inbox}: cannot use as the inbox ({what}; is the share mounted? "
                      "the agent does not create it)")
    if not os.access(inbox, os.R_OK | os.W_OK | os.X_OK):
        raise IoError(f"{inbox}: cannot use as the inbox (the agent must read it and remove "
                      "what it installs)")


def _usable_folder(path: Path, what: str) -> None:
    """Create the folder, or fail with one line before watching anything."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise IoError.from_oserror(e, f"cannot use as the {what} folder", path) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise IoError(f"{path}: cannot write to the {what} folder")


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
              "check): {\"ready\": ..., \"state\": ..., \"scopes\": [...], \"problems\": "
              "[...]}.")
@click.pass_context
def status_cmd(ctx: click.Context, store: Path | None, trusted_key: Path | None,
               inbox: Path | None, stale_minutes: int | None, identity: Path | None,
               as_json: bool) -> None:
    """Readiness check: the identity, the pinned key and the printer this workstation needs,
    and the newest snapshot per scope, its age and patients. Exit status as a monitoring
    plugin's: 0 ready, 1 WARNING (data past its age threshold), 2 CRITICAL (browse or print
    would fail or show nothing), 3 UNKNOWN (the check itself could not run)."""
    try:
        config = ctx.obj.config
        store = _path(ctx, "store", store, "--store")
        inbox = _path(ctx, "inbox", inbox, "--inbox", required=False)
        identity = _path(ctx, "identity", identity, "--identity", required=False)
        key_path = _path(ctx, "trusted_builder_key", trusted_key, "--trusted-key",
                         required=False)
    except ToolkitError as e:  # cannot tell: UNKNOWN, not a fault of the workstation
        raise ToolkitError(str(e), reason=e.reason, exit_status=UNKNOWN) from None
    threshold = stale_minutes if stale_minutes is not None else \
        config.thresholds.stale_minutes
    setup = check_setup(identity, key_path, printer=config.print.printer,
                        identity_given=ctx.params.get("identity") is not None,
                        audit_problem=writer_problem(config.audit, config.paths.audit_log))
    report = status(store, threshold, inbox=inbox, setup=setup)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        sys.exit(report.code)
    for line in report.lines():
        colour = "red" if line.startswith(("WARNING", "NOT READY")) else None
        click.secho(line, fg=colour, err=False)
    sys.exit(report.code)


COMMANDS = [agent]
