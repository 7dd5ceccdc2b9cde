"""`downtime browse`: open the chart viewer (Textual) on this workstation's snapshots."""

from __future__ import annotations

from pathlib import Path

import click
import platformdirs

from snapshots.audit import default_audit_log
from snapshots.errors import IoError
from snapshots.keys import KeyFileError

_path = click.Path(path_type=Path)


def default_trusted_key() -> Path:
    """Where a workstation keeps the pinned builder key when no config names it (installed
    by IT with the workstation, e.g. /etc/xdg/downtime/builder.pub)."""
    return platformdirs.site_config_path("downtime") / "builder.pub"


@click.command("browse")
@click.option("--store", type=click.Path(file_okay=False, path_type=Path),
              help="Snapshot store (default: paths.store of the config).")
@click.option("--identity", type=click.Path(dir_okay=False, path_type=Path),
              help="This workstation's (or role's) age identity (default: paths.identity).")
@click.option("--trusted-key", type=click.Path(dir_okay=False, path_type=Path),
              help="Pinned builder public key (default: paths.trusted_builder_key, else "
                   f"{default_trusted_key()}).")
@click.option("--audit-log", type=click.Path(dir_okay=False, path_type=Path),
              help=f"Audit log (default: paths.audit_log, else {default_audit_log()}).")
@click.option("--idle-lock-minutes", type=float, help="Lock after this long idle (default 5).")
@click.pass_context
def browse(ctx: click.Context, store: Path | None, identity: Path | None,
           trusted_key: Path | None, audit_log: Path | None,
           idle_lock_minutes: float | None) -> None:
    """Browse the census and charts of the newest snapshots this identity can open."""
    config = ctx.obj.config.with_paths(store=store, identity=identity,
                                       trusted_builder_key=trusted_key, audit_log=audit_log)
    config = config.with_paths(
        trusted_builder_key=config.paths.trusted_builder_key or default_trusted_key(),
        audit_log=config.paths.audit_log or default_audit_log()
    ).with_thresholds(idle_lock_minutes=idle_lock_minutes)
    store = config.path("store", flag="--store")
    identity = config.path("identity", flag="--identity")
    trusted = config.paths.trusted_builder_key
    if not trusted.is_file():
        raise KeyFileError(
            f"{trusted}: no pinned builder key here; pass --trusted-key, set "
            "paths.trusted_builder_key in the config, or install the builder's public key there")
    if not store.is_dir():
        raise IoError(f"{store}: no snapshot store here")
    if not identity.is_file():
        raise KeyFileError(f"{identity}: no identity file here")
    from ..tui.app import make_app

    make_app(config).run()


COMMANDS = [browse]
