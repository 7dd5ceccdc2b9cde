"""Where a passphrase comes from: `--passphrase-file`, else DOWNTIME_PASSPHRASE, else a prompt
(or, when stdin is not a terminal, its first line)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from snapshots.errors import ToolkitError, oserror_text

ENV = "DOWNTIME_PASSPHRASE"


class PassphraseError(ToolkitError):
    """No passphrase could be had (an empty or unreadable file, no line on stdin)."""

    reason = "passphrase"


def get_passphrase(passphrase_file: Path | None, prompt: str = "Passphrase",
                   confirm: bool = False) -> str:
    if passphrase_file is not None:
        try:
            text = Path(passphrase_file).read_text()
        except OSError as e:
            raise PassphraseError(oserror_text(e, "cannot read passphrase file",
                                               passphrase_file)) from None
        value = text.rstrip("\r\n")
        if not value:
            raise PassphraseError(f"{passphrase_file}: passphrase file is empty")
        return value
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


passphrase_option = click.option(
    "--passphrase-file", type=click.Path(dir_okay=False, path_type=Path),
    help=f"Read the passphrase from this file (else ${ENV}, else a prompt).")
