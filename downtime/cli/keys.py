"""`downtime keys`: create and list the builder's signing key and age identities."""

from __future__ import annotations

from pathlib import Path

import click

from snapshots.keys import KeyFileError, create_identity, create_signing_key

from ..names import KeyNameError, check_name
from ..passphrase import get_passphrase, passphrase_option
from ..provision import provision_keys, recipients_in

_dir = click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
                    help="Key directory (default: paths.keys of the config).")


def _key_dir(ctx: click.Context, directory: Path | None) -> Path:
    return ctx.obj.config.path("keys", directory, flag="--dir")


@click.group("keys")
def keys() -> None:
    """Create and list keys (builder signing key, escrow, pharmacy, workstations)."""


@keys.command("init")
@_dir
@click.option("--units", required=True, help="Unit codes, comma separated (e.g. ICU,4W,5E).")
@click.option("--workstations", default=1, show_default=True, type=click.IntRange(1, 100),
              help="Workstations per unit.")
@click.option("--overwrite", is_flag=True, help="Replace keys that already exist.")
@passphrase_option
@click.pass_context
def init(ctx: click.Context, directory: Path | None, units: str, workstations: int,
         overwrite: bool, passphrase_file: Path | None) -> None:
    """Create every key a site needs and print the [recipients] config table."""
    directory = _key_dir(ctx, directory)
    unit_list = [u.strip() for u in units.split(",") if u.strip()]
    # a bad unit code is refused before anyone types a passphrase
    if not unit_list:
        raise KeyNameError(f"--units {units!r}: no unit codes (e.g. --units ICU,4W,5E)")
    for unit in unit_list:
        check_name(unit, "unit code")
    passphrase = get_passphrase(passphrase_file, "Passphrase for the new keys", confirm=True)
    table = provision_keys(directory, passphrase, unit_list, workstations, overwrite)
    click.echo(f"keys written to {directory}; add this to your config:\n")
    click.echo(recipients_toml(table))


def recipients_toml(table: dict) -> str:
    lines = ["[recipients]"]
    for role in ("escrow", "pharmacy", "builder"):
        lines.append(f"{role} = {_list(table.get(role, []))}")
    lines.append("[recipients.units]")
    for unit, recipients in table.get("units", {}).items():
        lines.append(f'"{unit}" = {_list(recipients)}')
    return "\n".join(lines) + "\n"


def _list(values: list[str]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


@keys.command("identity")
@_dir
@click.argument("name")
@passphrase_option
@click.pass_context
def identity(ctx: click.Context, directory: Path | None, name: str,
             passphrase_file: Path | None) -> None:
    """Create one age identity NAME.age (passphrase-protected) and NAME.age.pub."""
    directory = _key_dir(ctx, directory)
    check_name(name, "key name")
    passphrase = get_passphrase(passphrase_file, f"Passphrase for {name}", confirm=True)
    click.echo(create_identity(directory, name, passphrase))


@keys.command("signing-key")
@_dir
@passphrase_option
@click.pass_context
def signing_key(ctx: click.Context, directory: Path | None, passphrase_file: Path | None) -> None:
    """Create the builder's Ed25519 signing key (builder.pem) and builder.pub to pin."""
    directory = _key_dir(ctx, directory)
    passphrase = get_passphrase(passphrase_file, "Passphrase for the signing key", confirm=True)
    click.echo(f"key id {create_signing_key(directory, passphrase)}")


@keys.command("list")
@_dir
@click.pass_context
def list_keys(ctx: click.Context, directory: Path | None) -> None:
    """List the identities' recipients in a key directory."""
    directory = _key_dir(ctx, directory)
    if not directory.is_dir():
        raise KeyFileError(f"{directory}: no key folder here")
    found = recipients_in(directory)
    if not found:  # an empty listing must not look like success to a script
        raise KeyFileError(f"{directory}: no identities (*.age.pub) in this folder")
    for name, recipient in found.items():
        click.echo(f"{name:20} {recipient}")


COMMANDS = [keys]
