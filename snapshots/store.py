"""A snapshot store: a folder of sealed snapshot files, several scopes and sequences.

File names are `<scope>-<sequence>.dtsnap` with the scope's colon replaced
(`unit-4W-000012.dtsnap`, `house-000012.dtsnap`); what counts is the signed manifest inside,
not the name. Files starting with "." are partial writes and are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .errors import ToolkitError
from .keys import key_id
from .manifest import MAX_MANIFEST_BYTES, Manifest, ManifestError, parse_line, signature_valid
from .sealed import SUFFIX, SnapshotError, read_manifest


@dataclass(frozen=True)
class StoredSnapshot:
    path: Path
    manifest: Manifest


def file_name(scope: str, sequence: int) -> str:
    return f"{scope.replace(':', '-')}-{sequence:06d}{SUFFIX}"


def list_snapshots(store: Path) -> tuple[list[StoredSnapshot], list[tuple[Path, str]]]:
    """Every readable snapshot in the store (newest first) and the files that are not."""
    found, unreadable = [], []
    for path in sorted(Path(store).glob(f"*{SUFFIX}")):
        if path.name.startswith("."):
            continue
        try:
            found.append(StoredSnapshot(path, read_manifest(path)))
        except SnapshotError as e:
            unreadable.append((path, str(e)))
        except (OSError, ValueError) as e:  # one bad file must never hide the others
            unreadable.append((path, f"{path}: unreadable ({e})"))
    found.sort(key=lambda s: (s.manifest.sequence, s.manifest.built_at), reverse=True)
    return found, unreadable


def newest_per_scope(store: Path, recipient: str | None = None) -> dict[str, StoredSnapshot]:
    """The newest snapshot of each scope, optionally only those encrypted to `recipient`."""
    newest: dict[str, StoredSnapshot] = {}
    for snap in list_snapshots(store)[0]:
        if recipient is not None and recipient not in snap.manifest.recipients:
            continue
        newest.setdefault(snap.manifest.scope, snap)
    return newest


def newest_for_unit(store: Path, recipient: str, unit: str | None) -> StoredSnapshot | None:
    """The snapshot a reader of `unit` opens: the unit's own newest if `recipient` can open
    one, else the house's; with unit None, the house's."""
    newest = newest_per_scope(store, recipient)
    if unit is None:
        return newest.get("house")
    return newest.get(f"unit:{unit}") or newest.get("house")


class UnknownUnit(ToolkitError):
    reason = "unknown-unit"


def match_unit(store: Path, recipient: str, unit: str) -> str:
    """The unit code as the snapshots `recipient` opens spell it ("4w" -> "4W"), matched
    without regard to case; UnknownUnit listing the units there are when none matches."""
    units = sorted({u for snap in newest_per_scope(store, recipient).values()
                    for u in snap.manifest.units})
    if unit in units:
        return unit
    same = [u for u in units if u.casefold() == unit.casefold()]
    if len(same) == 1:
        return same[0]
    there = ", ".join(units) if units else "none: no snapshot here that this identity opens"
    raise UnknownUnit(f"{store}: no unit {unit!r} in the snapshots this identity opens "
                      f"(units: {there})")


def by_scope(store: Path, recipient: str | None = None) -> dict[str, list[StoredSnapshot]]:
    """Every snapshot of each scope, newest first (the fallbacks when the newest won't open),
    optionally only those encrypted to `recipient`."""
    scopes: dict[str, list[StoredSnapshot]] = {}
    for snap in list_snapshots(store)[0]:
        if recipient is None or recipient in snap.manifest.recipients:
            scopes.setdefault(snap.manifest.scope, []).append(snap)
    return scopes


def highest_sequence(store: Path, trusted_key: Ed25519PublicKey | None = None) -> int:
    """The highest sequence in the store; given the builder's key, only among manifests
    that key signed: an unsigned file with a huge sequence must not push the next build's
    sequence (and so every workstation's replay floor) out of reach."""
    best = 0
    for snap in list_snapshots(store)[0]:
        if snap.manifest.sequence > best and (trusted_key is None or
                                              signed_by(snap.path, trusted_key)):
            best = snap.manifest.sequence
    return best


def signed_by(path: Path, trusted_key: Ed25519PublicKey) -> bool:
    """Whether the file's manifest carries a valid signature by `trusted_key` (the payload
    is not checked: this is about whose sequence number it is)."""
    try:
        with open(path, "rb") as f:
            head = f.readline(MAX_MANIFEST_BYTES)
        manifest, signer, signature = parse_line(head)
    except (OSError, ManifestError):
        return False
    return signer == key_id(trusted_key) and signature_valid(manifest, signature, trusted_key)
