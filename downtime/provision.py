"""Provisioning a hospital's keys: the builder's signing key and the age identities of the
escrow, pharmacy, builder and every unit workstation, plus the config table naming them."""

from __future__ import annotations

from pathlib import Path

from snapshots.keys import RECIPIENT_SUFFIX, create_identity, create_signing_key, read_recipient

from .names import KeyNameError, check_name


def workstation_name(unit: str, n: int) -> str:
    return f"ws-{unit}-{n}"


def provision_keys(directory: Path, passphrase: str, units: list[str],
                   workstations: int = 1, overwrite: bool = False) -> dict:
    """Create every key a site needs; return the `[recipients]` table for the config."""
    if not units:
        raise KeyNameError("no unit codes given: name the units whose workstations need keys")
    if workstations < 1:
        raise KeyNameError("each unit needs at least one workstation key")
    for unit in units:
        check_name(unit, "unit code")
    units = list(dict.fromkeys(units))  # "ICU,ICU" is one unit, not a refused second key
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    create_signing_key(directory, passphrase, overwrite=overwrite)
    roles = {name: [create_identity(directory, name, passphrase, overwrite)]
             for name in ("escrow", "pharmacy", "builder")}
    roles["units"] = {unit: [create_identity(directory, workstation_name(unit, n), passphrase,
                                             overwrite) for n in range(1, workstations + 1)]
                      for unit in units}
    return roles


def recipients_in(directory: Path) -> dict[str, str]:
    """name -> recipient for every `NAME.age.pub` in a key directory."""
    return {p.name.removesuffix(RECIPIENT_SUFFIX): read_recipient(p)
            for p in sorted(Path(directory).glob(f"*{RECIPIENT_SUFFIX}"))}
