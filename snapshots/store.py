"""A snapshot store: a folder of sealed snapshot files, several scopes and sequences.

File names are `<scope>-<sequence>.dtsnap` with the scope's colon replaced
(`unit-4W-000012.dtsnap`, `house-000012.dtsnap`); what counts is the signed manifest inside,
not the name. Files starting with "." are partial writes and are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .manifest import Manifest
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


def by_scope(store: Path, recipient: str | None = None) -> dict[str, list[StoredSnapshot]]:
    """Every snapshot of each scope, newest first (the fallbacks when the newest won't open),
    optionally only those encrypted to `recipient`."""
    scopes: dict[str, list[StoredSnapshot]] = {}
    for snap in list_snapshots(store)[0]:
        if recipient is None or recipient in snap.manifest.recipients:
            scopes.setdefault(snap.manifest.scope, []).append(snap)
    return scopes


def highest_sequence(store: Path) -> int:
    snaps = list_snapshots(store)[0]
    return max((s.manifest.sequence for s in snaps), default=0)
