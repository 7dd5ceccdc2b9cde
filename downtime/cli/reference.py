"""The command-line reference (docs/cli.md), made from the commands' own `--help`, so the
page cannot say other than the program does. `make docs` writes it (cog); a test checks it
is current and that every command, walked through the lazy group, has help of its own."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import click
from click.testing import CliRunner

WIDTH = 100  # columns the help is laid out in, whatever terminal runs `make docs`


def walk(group: click.Group | None = None, path: tuple[str, ...] = ()
         ) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command under `group` (the whole `downtime` tree by default), depth first, the
    group itself first; lazy subcommands are imported on the way."""
    from . import cli

    group = group or cli
    ctx = click.Context(group, info_name=" ".join(("downtime", *path)))
    yield path, group
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        if isinstance(command, click.Group):
            yield from walk(command, (*path, name))
        else:
            yield (*path, name), command


def help_text(path: tuple[str, ...]) -> str:
    """`downtime PATH --help` as a user sees it, the user's home folder written as `~`."""
    from . import cli

    result = CliRunner().invoke(cli, [*path, "--help"], prog_name="downtime",
                                terminal_width=WIDTH, env={"COLUMNS": str(WIDTH)})
    if result.exit_code != 0:
        raise RuntimeError(f"downtime {' '.join(path)} --help failed: {result.output}")
    return result.output.replace(str(Path.home()), "~").rstrip() + "\n"


def reference() -> str:
    """The body of docs/cli.md: one section per command, its help in a code block."""
    os.environ.setdefault("COLUMNS", str(WIDTH))
    parts = []
    for path, _command in walk():
        title = " ".join(("downtime", *path))
        parts.append(f"## `{title}`\n\n```text\n{help_text(path)}```\n")
    return "\n".join(parts)
