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

from ..config import Config, ConfigError, load_config
from .errors import JSON_FLAG, ToolkitGroup, report_bug

# command name -> the module here that defines it, imported only when that command runs: the
# whole set pulls in WeasyPrint, Textual and the snapshot builder (a third of a second), and
# `downtime print packet` has well under a second to hand its first page to CUPS.
LAZY_COMMANDS = {"generate": "generate", "keys": "keys", "snapshot": "snapshot", "demo": "demo",
                 "agent": "agent", "browse": "browse", "audit": "audit", "print": "print_forms",
                 "builder": "builder", "sandbox": "sandbox", "parity": "parity",
                 "reconcile": "reconcile", "drill": "drill"}


class LazyGroup(ToolkitGroup):
    """A group whose subcommands are imported on first use (as click's documentation shows)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def resolve_command(self, ctx: click.Context, args: list[str]):  # noqa: ANN201 - click's
        # the words of the command line after the options of `downtime` itself
        ctx.meta["command_words"] = tuple(a for a in args if not a.startswith("-"))[:2]
        ctx.meta["config_after"] = any(a == "--config" or a.startswith("--config=")
                                       for a in args)
        return super().resolve_command(ctx, args)

    def get_command(self, ctx: click.Context | None, name: str) -> click.Command | None:
        if name not in self.commands and name in LAZY_COMMANDS:
            module = importlib.import_module(f"{__name__}.{LAZY_COMMANDS[name]}")
            for command in module.COMMANDS:
                _accept_config_here(command)
                self.add_command(command)
        return self.commands.get(name)


def _config_here(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    """`--config` after the command (`downtime snapshot verify F --config X`, as most people
    type it): loaded then, and it wins over one given before the command."""
    if value is None:
        return
    try:
        ctx.find_object(Context).config = load_config(value)
    except ConfigError as e:
        if tuple(ctx.command_path.split()[1:3]) in MONITORING_CHECKS:
            e.exit_status = UNKNOWN
        elif ctx.command_path.split()[1:2] and \
                ctx.command_path.split()[1] in CHECKS_FAILING_WITH_1:
            e.exit_status = CANNOT_RUN
        raise


def _accept_config_here(command: click.Command) -> None:
    """Give a command, and each command of a group, its own `--config`."""
    if not any("--config" in getattr(p, "opts", ()) for p in command.params):
        command.params.append(click.Option(
            ["--config"], type=click.Path(dir_okay=False, path_type=Path), expose_value=False,
            callback=_config_here, help="TOML config file (here, or before the command)."))
    for sub in getattr(command, "commands", {}).values():
        _accept_config_here(sub)


class Context:
    """What every command gets: the loaded config (possibly empty)."""

    def __init__(self, config: Config):
        self.config = config


# Checks a monitoring system runs (Nagios, Icinga, Zabbix): when the check itself cannot run
# (a config that cannot be used), they answer UNKNOWN (exit 3), not a failure of what they
# check.
MONITORING_CHECKS = {("agent", "status"), ("builder", "status")}
UNKNOWN = 3
# Commands whose exit 1 says what they checked failed: a config that cannot be used is 2
# (could not run) for them.
CHECKS_FAILING_WITH_1 = {"parity"}
CANNOT_RUN = 2


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
    try:
        ctx.obj = Context(load_config(config_file))
    except ConfigError as e:
        if ctx.meta.get("config_after"):  # the one after the command wins: this one is moot
            ctx.obj = Context(Config())
            return
        if ctx.meta.get("command_words") in MONITORING_CHECKS:
            e.exit_status = UNKNOWN
        elif ctx.meta.get("command_words", ())[:1] and \
                ctx.meta["command_words"][0] in CHECKS_FAILING_WITH_1:
            e.exit_status = CANNOT_RUN
        raise


def main() -> None:
    try:
        cli(standalone_mode=True, obj={JSON_FLAG: "--json" in sys.argv[1:]})
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - a bug: told without its message (errors.py)
        report_bug(e)
