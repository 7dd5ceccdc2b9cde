"""docs/cli.md is the program's own `--help`, current, for every command there is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from downtime.cli import LAZY_COMMANDS
from downtime.cli.reference import walk

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "cli.md"


def test_every_command_has_help_of_its_own():
    commands = list(walk())
    names = {path[0] for path, _ in commands if path}
    assert names == set(LAZY_COMMANDS)  # the lazy group was walked, every module imported
    assert len(commands) >= 20
    for path, command in commands:
        assert (command.help or "").strip(), f"downtime {' '.join(path)} has no help"
        for param in command.params:
            if getattr(param, "hidden", False) or param.param_type_name == "argument":
                continue
            assert (getattr(param, "help", "") or "").strip() or param.name == "help", \
                f"downtime {' '.join(path)} {param.opts[0]} has no help"


def test_every_command_has_its_section():
    text = REFERENCE.read_text()
    for path, _ in walk():
        assert f"## `{' '.join(('downtime', *path))}`\n" in text, path


def test_the_reference_is_current():
    """As `make docs` would write it (cog --check): a changed option or help fails here."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    result = subprocess.run([str(Path(sys.executable).parent / "cog"), "--check",
                             str(REFERENCE)], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, ("docs/cli.md is out of date: run `make docs`\n"
                                    + result.stdout + result.stderr)


def test_the_help_says_what_this_version_does():
    """No command for reconciliation or drills exists yet: the help must not promise them."""
    from click.testing import CliRunner

    from downtime.cli import cli

    text = CliRunner().invoke(cli, ["--help"]).output.lower()
    names = {path[0] for path, _ in walk() if path}
    for promise, command in (("reconcil", "reconcile"), ("drill", "drill")):
        assert promise not in text or command in names, promise
