"""`downtime sandbox`: a FHIR R4 server on 127.0.0.1 standing in for the EHR (serve), and
its faults (fault, status), over downtime.sandbox. docs/sandbox.md."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import click

from .errors import json_option

DATA_HELP = "The sandbox's own folder: its database and export files (default: ~/.local/share/" \
            "downtime/sandbox)."


def _data_dir(data: Path | None) -> Path:
    from ..sandbox.admin_client import default_data_dir

    return data if data is not None else default_data_dir()


@click.group("sandbox")
def sandbox() -> None:
    """A FHIR R4 server on 127.0.0.1 standing in for the EHR (sekmet-fhir, with the
    toolkit's faults): for demos, tests, benchmarks and drills, never a production target.
    Needs the [sandbox] extra."""


@sandbox.command("serve")
@click.option("--data", type=click.Path(file_okay=False, path_type=Path), help=DATA_HELP)
@click.option("--port", default=0, show_default=True, type=click.IntRange(0, 65535),
              help="Port of the FHIR server on 127.0.0.1 (0: a free one).")
@click.option("--admin-port", default=0, show_default=True, type=click.IntRange(0, 65535),
              help="Port of the admin endpoint (faults) on 127.0.0.1 (0: a free one).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Where to listen: 127.0.0.1, and nothing else is accepted.")
@click.option("--load", "load", type=click.Path(path_type=Path), metavar="DIR",
              help="Start afresh with this Bulk Data NDJSON folder (as `downtime generate` "
                   "writes it): the folder's database is replaced.")
@click.option("--cache", is_flag=True,
              help="Keep the loaded database in ~/.cache/downtime/sandbox and reuse it for the "
                   "same export (the same bytes).")
@click.option("--live", "rate", type=click.FloatRange(min=0, min_open=True), metavar="RATE",
              help="Feed it a hospital's day of changes, RATE per hour per inpatient (1: about "
                   "a real day).")
@click.option("--seed", default=1, show_default=True, type=int,
              help="Seed of the --live stream (the same seed, the same changes).")
def serve(data: Path | None, port: int, admin_port: int, host: str, load: Path | None,
          cache: bool, rate: float | None, seed: int) -> None:
    """Start the sandbox and print its FHIR base URL (the first line), then its admin URL;
    it runs until Ctrl-C or SIGTERM, and its data stays in its folder."""
    from ..sandbox import require_extra

    require_extra()
    from ..sandbox.cache import default_cache_dir
    from ..sandbox.server import start_sandbox

    folder = _data_dir(data)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    running = start_sandbox(folder, port=port, admin_port=admin_port, host=host, load=load,
                            cache_dir=default_cache_dir() if cache else None,
                            progress=lambda text: click.echo(text, err=True))
    try:
        click.echo(running.base_url)
        click.echo(f"admin: {running.admin_url} (downtime sandbox fault ...)")
        if running.loaded is not None:
            how = "from the cache" if running.loaded.cached else "loaded"
            click.echo(f"{how}: {running.loaded.total:,} resources of {load} in "
                       f"{running.loaded.seconds:.1f} s")
            for where, why in running.loaded.left_out:  # what a FHIR server would not store
                click.secho(f"left out {where}: {why}", fg="yellow", err=True)
        if rate is not None:
            live = running.start_live(rate, seed)
            click.echo(f"live: {rate:g} changes per hour per inpatient "
                       f"({live.inpatients} inpatients), seed {seed}")
        click.echo(f"data: {folder} (Ctrl-C stops the sandbox)", err=True)
        stop.wait()
    finally:
        running.stop()


FAULTS = ("down", "slow", "5xx", "429", "truncate", "clear")


@sandbox.command("fault")
@click.argument("kind")
@click.argument("which", required=False)
@click.option("--seconds", type=float, help="slow: the delay of each answer; down: how long "
                                            "(default: until cleared).")
@click.option("--share", type=float, help="The share of matching requests affected, 0-1 "
                                          "(deterministic: 0.5 is every second one).")
@click.option("--status", type=int, help="5xx: the status answered (default 503).")
@click.option("--retry-after", type=int, help="429 (default 2) and 5xx: the Retry-After "
                                              "seconds.")
@click.option("--keep", type=float, help="truncate: the share of the file's bytes served "
                                         "(default 0.5).")
@click.option("--mode", type=str, help="truncate: cut (mid-line), lines (at a line "
                                       "boundary) or drop (the connection broken off).")
@click.option("--match", type=str, help="Only requests whose path holds this (bulk-status, "
                                        "/Patient, $export, /auth/token).")
@click.option("--times", type=int, help="Affect this many requests, then clear.")
@click.option("--admin", "admin_url", help="The admin URL (default: the running sandbox's, "
                                           "from its folder).")
@click.option("--data", type=click.Path(file_okay=False, path_type=Path), help=DATA_HELP)
def fault(kind: str, which: str | None, seconds: float | None, share: float | None,
          status: int | None, retry_after: int | None, keep: float | None, mode: str | None,
          match: str | None, times: int | None, admin_url: str | None,
          data: Path | None) -> None:
    """Put a fault in force on the running sandbox: down, slow, 5xx, 429 or truncate; or
    `clear` them (all, or `clear KIND`). docs/sandbox.md says what each does."""
    from ..sandbox import SandboxError, admin_client
    from ..sandbox.faults import make_fault

    params = {"seconds": seconds, "share": share, "status": status,
              "retry_after": retry_after, "keep": keep, "mode": mode, "match": match,
              "times": times}
    params = {k: v for k, v in params.items() if v is not None}
    if kind == "clear":
        if params:
            raise SandboxError(f"fault clear takes no --{next(iter(params)).replace('_', '-')}")
        url = admin_url or admin_client.admin_url_of(_data_dir(data))
        cleared = admin_client.clear(url, which)
        click.echo(f"cleared: {', '.join(cleared)}" if cleared else "no fault was in force")
        return
    if which is not None:
        raise SandboxError(f"fault {kind} takes no second word ({which!r}); only clear does")
    if kind not in FAULTS:
        raise SandboxError(f"unknown fault {kind!r}: one of {', '.join(FAULTS)}")
    make_fault(kind, params)  # said here, in one line, before any sandbox is asked
    url = admin_url or admin_client.admin_url_of(_data_dir(data))
    set_ = admin_client.set_fault(url, kind, params)
    detail = ", ".join(f"{k} {v}" for k, v in set_.items() if k not in ("kind", "hits"))
    click.echo(f"fault {kind} in force{': ' + detail if detail else ''}")


@sandbox.command("status")
@click.option("--admin", "admin_url", help="The admin URL (default: the running sandbox's, "
                                           "from its folder).")
@click.option("--data", type=click.Path(file_okay=False, path_type=Path), help=DATA_HELP)
@json_option
def status(admin_url: str | None, data: Path | None, as_json: bool) -> None:
    """The running sandbox: its URLs, whether it is up, the faults in force, the live stream."""
    from ..sandbox import admin_client

    state = admin_client.status(admin_url or admin_client.admin_url_of(_data_dir(data)))
    if as_json:
        click.echo(json.dumps(state))
        return
    click.echo(f"{state['base_url']} {'up' if state['up'] else 'DOWN'} (admin "
               f"{state['admin_url']})")
    for item in state["faults"]:
        rest = ", ".join(f"{k} {v}" for k, v in item.items() if k != "kind")
        click.echo(f"fault {item['kind']}{': ' + rest if rest else ''}")
    if not state["faults"]:
        click.echo("no fault in force")
    if state.get("live"):
        live = state["live"]
        click.echo(f"live: {live['changes']} changes at {live['rate']:g}/h per inpatient "
                   f"({live['inpatients']} inpatients)"
                   f"{'; stopped: ' + live['error'] if live.get('error') else ''}")


COMMANDS = [sandbox]
