"""The `downtime` command: a thin layer over library functions.

Each command group lives in its own module here and is registered below. Commands turn the
library's exceptions into one-line errors (click.ClickException) and a non-zero exit: a user
never sees a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..config import Config, ConfigError, load_config


class Context:
    """What every command gets: the loaded config (possibly empty)."""

    def __init__(self, config: Config):
        self.config = config


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              envvar="DOWNTIME_CONFIG", help="TOML config file (or $DOWNTIME_CONFIG).")
@click.version_option(package_name="downtime-toolkit")
@click.pass_context
def cli(ctx: click.Context, config_file: Path | None) -> None:
    """Downtime toolkit: encrypted EHR snapshots, downtime forms, reconciliation, drills."""
    try:
        ctx.obj = Context(load_config(config_file))
    except ConfigError as e:
        raise click.ClickException(str(e)) from None


def _register() -> None:
    from . import agent, audit, browse, demo, generate, keys, print_forms, snapshot

    for module in (generate, keys, snapshot, demo, agent, browse, audit, print_forms):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main() -> None:
    try:
        cli(standalone_mode=True)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
