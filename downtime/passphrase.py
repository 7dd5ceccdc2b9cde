"""Where a passphrase comes from: `--passphrase-file`, else DOWNTIME_PASSPHRASE, else a prompt."""

from __future__ import annotations

import os
from pathlib import Path

import click

ENV = "DOWNTIME_PASSPHRASE"


def get_passphrase(passphrase_file: Path | None, prompt: str = "Passphrase",
                   confirm: bool = False) -> str:
    if passphrase_file is not None:
        try:
            text = Path(passphrase_file).read_text()
        except OSError as e:
            raise click.ClickException(f"{passphrase_file}: cannot read passphrase file "
                                       f"({e.strerror})") from None
        value = text.rstrip("\r\n")
        if not value:
            raise click.ClickException(f"{passphrase_file}: passphrase file is empty")
        return value
    if os.environ.get(ENV):
        return os.environ[ENV]
    return click.prompt(prompt, hide_input=True, confirmation_prompt=confirm)


passphrase_option = click.option(
    "--passphrase-file", type=click.Path(dir_okay=False, path_type=Path),
    help=f"Read the passphrase from this file (else ${ENV}, else a prompt).")
