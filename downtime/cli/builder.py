"""`downtime builder`: the central service that keeps every workstation's snapshot fresh;
`builder status`: its monitoring check."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from pathlib import Path

import click

from snapshots.errors import ToolkitError
from snapshots.keys import load_identity, load_signing_key

from ..builder.service import Builder, with_every
from ..builder.status import UNKNOWN, judge
from ..passphrase import get_passphrase, passphrase_option
from .errors import json_option
from .snapshot import build_source


@click.group("builder", invoke_without_command=True,
             epilog="Exit status: 0 when stopped (SIGTERM, Ctrl-C) or after --once went well; "
                    "1 when --once failed (the previous snapshots stay in place).")
@click.option("--every", type=click.FloatRange(min=1), help="Seconds between runs (default: "
              "[builder] every_seconds, 30).")
@click.option("--once", is_flag=True, help="One run (full unless --incremental), then exit.")
@click.option("--incremental", is_flag=True, help="With --once: incremental from the newest "
              "house snapshot in the store.")
@click.option("--source", metavar="PATH|URL", help="Folder or file, or the EHR's FHIR base URL "
              "(default: paths.source, or [source] url).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Store to build into (default: paths.store).")
@passphrase_option
@click.pass_context
def builder(ctx: click.Context, every: float | None, once: bool, incremental: bool,
            source: str | None, out: Path | None, passphrase_file: Path | None) -> None:
    """Pull from the source, build, publish per-unit snapshots into the [builder] publish
    folders, prune; again every --every seconds (full builds at start and every
    full_every_minutes, incremental in between when the source is a FHIR server)."""
    if ctx.invoked_subcommand is not None:
        return
    config = ctx.obj.config
    store = config.path("store", out, flag="--out")
    local, remote = build_source(config, source)
    passphrase = get_passphrase(passphrase_file, "Signing key passphrase")
    signing = load_signing_key(config.path("signing_key", flag="--signing-key"), passphrase)
    identity = None
    if remote is not None:  # incremental builds open the previous house snapshot with the
        keys = config.path("keys", required=False)  # builder's identity, as `snapshot build`
        identity = load_identity(keys / "builder.age" if keys else
                                 config.path("identity", flag="--identity"), passphrase)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    service = Builder(config, store, signing, identity, source=local, remote=remote,
                      settings=with_every(config.builder, every))
    if once:
        result = service.run_once(full=not incremental)
        sys.exit(0 if result is not None else 1)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        service.run(stop)
    except KeyboardInterrupt:
        pass


@builder.command("status", epilog="Exit status, as a monitoring plugin's: 0 OK, 1 WARNING, "
                 "2 CRITICAL, 3 UNKNOWN.")
@click.option("--store", type=click.Path(file_okay=False, path_type=Path),
              help="The builder's store (default: paths.store).")
@json_option
@click.pass_context
def status_cmd(ctx: click.Context, store: Path | None, as_json: bool) -> None:
    """The builder's last pull and build, the data's age, the last error, the next run: one
    line for Nagios, Icinga or Zabbix, or the whole as JSON for a dashboard."""
    try:
        config = ctx.obj.config
        verdict = judge(config.path("store", store, flag="--store"), config.builder)
    except ToolkitError as e:  # cannot tell: UNKNOWN, not a failure of the builder
        raise ToolkitError(str(e), reason=e.reason, exit_status=UNKNOWN) from None
    if as_json:
        click.echo(json.dumps(verdict.as_dict(), indent=2))
    else:
        click.echo(verdict.line)
    sys.exit(verdict.code)


COMMANDS = [builder]
