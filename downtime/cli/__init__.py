"""The `downtime` command: a thin layer over library functions.

Each command group lives in its own module here and is registered below. Commands call the
libraries and raise what they raise; errors.py turns a ToolkitError into one line (or JSON)
and its exit status, in one place for every command: a user never sees a traceback.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import click

from ..config import Config, load_config
from .errors import JSON_FLAG, ToolkitGroup, report_bug

# command name -> the module here that defines it, imported only when that command runs: the
# whole set pulls in WeasyPrint, Textual and the snapshot builder (a third of a second), and
# `downtime print packet` has well under a second to hand its first page to CUPS.
LAZY_COMMANDS = {"generate": "generate", "keys": "keys", "snapshot": "snapshot", "demo": "demo",
                 "agent": "agent", "browse": "browse", "audit": "audit", "print": "print_forms",
                 "sandbox": "sandbox"}


class LazyGroup(ToolkitGroup):
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
    """Downtime toolkit: encrypted snapshots of the current inpatients, the workstation's
    agent and chart viewer, and printed downtime forms."""
    # main() says whether the command line asks for --json: the subcommand has not parsed its
    # options yet, and a script reading JSON must get a config error as JSON too.
    if isinstance(ctx.obj, dict) and ctx.obj.get(JSON_FLAG):
        ctx.meta[JSON_FLAG] = True
    ctx.obj = Context(load_config(config_file))


def main() -> None:
    try:
        cli(standalone_mode=True, obj={JSON_FLAG: "--json" in sys.argv[1:]})
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - a bug: told without its message (errors.py)
        report_bug(e)
