"""Keeping the last few good snapshots of a scope, and never the last good one away."""

from __future__ import annotations

import logging
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from snapshots.sealed import SnapshotError, verify
from snapshots.store import list_snapshots

log = logging.getLogger("downtime.agent")


def prune(store: Path, scope: str, trusted_key: Ed25519PublicKey, keep: int = 3) -> list[Path]:
    """Delete the scope's snapshots older than its `keep` newest good ones; return what went.

    Only files that verify count as good; files older than the oldest kept good one are
    removed, good or not; nothing newer than that is touched. With no good file at all,
    nothing is deleted.
    """
    keep = max(1, keep)
    mine = [s for s in list_snapshots(store)[0] if s.manifest.scope == scope]  # newest first
    good = 0
    removed: list[Path] = []
    for snap in mine:
        if good >= keep:
            snap.path.unlink(missing_ok=True)
            removed.append(snap.path)
            continue
        try:
            verify(snap.path, trusted_key)
            good += 1
        except SnapshotError as e:
            log.warning("%s in the store does not verify: %s", snap.path.name, e)
    for path in removed:
        log.info("pruned %s", path.name)
    return removed
