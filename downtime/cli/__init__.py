"""The `downtime` command: a thin layer over library functions.

Each command group lives in its own module here and is registered below. Commands turn the
library's exceptions into one-line errors (click.ClickException) and a non-zero exit: a user
never sees a traceback.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import click

from ..config import Config, ConfigError, load_config

# command name -> the module here that defines it, imported only when that command runs: the
# whole set pulls in WeasyPrint, Textual and the snapshot builder (a third of a second), and
# `downtime print packet` has well under a second to hand its first page to CUPS.
LAZY_COMMANDS = {"generate": "generate", "keys": "keys", "snapshot": "snapshot", "demo": "demo",
                 "agent": "agent", "browse": "browse", "audit": "audit", "print": "print_forms"}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (as click's documentation shows)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def get_command(self, ctx: click.Context | None, name: str) -> click.Command | None:
        if name not in self.commands and name in LAZY_COMMANDS:
            module = importlib.import_module(f"{__name__}.{LAZY_COMMANDS[name]}")
            for command in module.COMMANDS:
                self.add_command(command)
        return self.commands.get(name)


class Context:
    """What every command gets: the loaded config (possibly empty)."""

    def __init__(self, config: Config):
        self.config = config


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              envvar="DOWNTIME_CONFIG", help="TOML config file (or $DOWNTIME_CONFIG).")
@click.version_option(package_name="downtime-toolkit")
@click.pass_context
def cli(ctx: click.Context, config_file: Path | None) -> None:
    """Downtime toolkit: encrypted EHR snapshots, downtime forms, reconciliation, drills."""
    # main() says whether the command line asks for --json: the subcommand has not parsed its
    # options yet, and a script reading JSON must get its error as JSON too.
    json_errors = isinstance(ctx.obj, dict) and ctx.obj.get("json_errors", False)
    try:
        ctx.obj = Context(load_config(config_file))
    except ConfigError as e:
        if json_errors:
            click.echo(json.dumps({"ok": False, "reason": "config", "message": str(e)}))
            raise click.exceptions.Exit(1) from None
        raise click.ClickException(str(e)) from None


def main() -> None:
    try:
        cli(standalone_mode=True, obj={"json_errors": "--json" in sys.argv[1:]})
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
