"""Where a passphrase comes from: `--passphrase-file`, else DOWNTIME_PASSPHRASE, else a prompt
(or, when stdin is not a terminal, its first line)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import click

from snapshots.errors import ToolkitError, oserror_text

ENV = "DOWNTIME_PASSPHRASE"


class PassphraseError(ToolkitError):
    """No passphrase could be had (an empty or unreadable file, no line on stdin)."""

    reason = "passphrase"


# The passphrase is all that stands between a copied identity file and every snapshot it
# opens, against an offline guesser (scrypt slows each guess, it does not stop them). NIST SP
# 800-63B asks at least 8 characters of a memorized secret, 15 when it is the only factor; a
# unit's workstation passphrase is typed at every unlock, so new keys need 12 (a few words).
MIN_NEW_PASSPHRASE = 12


def get_passphrase(passphrase_file: Path | None, prompt: str = "Passphrase",
                   confirm: bool = False) -> str:
    """The passphrase, from the first place that has one. `confirm` is for a new key: asked
    twice at a prompt, and refused when shorter than MIN_NEW_PASSPHRASE wherever it came
    from."""
    value = _passphrase(passphrase_file, prompt, confirm)
    if confirm and len(value) < MIN_NEW_PASSPHRASE:
        raise PassphraseError(f"the passphrase for a new key must be at least "
                              f"{MIN_NEW_PASSPHRASE} characters (this one has {len(value)}): "
                              "a few words are easier to type than a short code and far "
                              "harder to guess")
    return value


def _passphrase(passphrase_file: Path | None, prompt: str, confirm: bool) -> str:
    if passphrase_file is not None:
        return _from_file(Path(passphrase_file))
    if os.environ.get(ENV):
        return os.environ[ENV]
    if not sys.stdin.isatty():
        # piped in (`... | downtime ...`): one line, no echo to hide, no getpass warning noise
        value = sys.stdin.readline().rstrip("\r\n")
        if not value:
            raise PassphraseError(f"no passphrase given ({prompt.lower()}): stdin is not a "
                                  f"terminal and had no line; pass --passphrase-file or "
                                  f"set ${ENV}")
        return value
    try:
        return click.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
    except click.Abort:  # end of input (a script, cron) or Ctrl+C: say what was missing
        raise PassphraseError(f"no passphrase given ({prompt.lower()}): type it at the "
                              f"prompt, or pass --passphrase-file or set ${ENV}") from None


def _from_file(path: Path) -> str:
    try:
        text = path.read_text()
        mode = path.stat().st_mode
    except OSError as e:
        raise PassphraseError(oserror_text(e, "cannot read passphrase file", path)) from None
    value = text.rstrip("\r\n")
    if not value:
        raise PassphraseError(f"{path}: passphrase file is empty")
    if mode & 0o066:  # warned, not refused: the file is already exposed, and care goes on
        click.secho(f"warning: {path}: the passphrase file can be read by others (mode "
                    f"{stat.S_IMODE(mode):03o}); anyone who can read it can open the "
                    f"identity: chmod 600 {path}", fg="yellow", err=True)
    return value


passphrase_option = click.option(
    "--passphrase-file", type=click.Path(dir_okay=False, path_type=Path),
    help=f"Read the passphrase from this file (else ${ENV}, else a prompt).")
