"""Keeping the last few good snapshots of a scope, and never the last good one away: the
workstation agent prunes its store after each install, the builder its output store after
each build (a build every 15 minutes would otherwise fill the disk)."""

from __future__ import annotations

import logging
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .sealed import SnapshotError, verify
from .store import list_snapshots, signed_by

log = logging.getLogger("downtime.store")


def prune(store: Path, scope: str, trusted_key: Ed25519PublicKey, keep: int = 3,
          whole_file: bool = True) -> list[Path]:
    """Delete the scope's snapshots older than its `keep` newest good ones; return what went.

    Only files that verify count as good; files older than the oldest kept good one are
    removed, good or not; nothing newer than that is touched. With no good file at all,
    nothing is deleted. `whole_file=False` checks the signed manifest only, not the payload's
    hash: for the builder's own output, which it has just written and signed.
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
        if not whole_file:
            good += signed_by(snap.path, trusted_key)
            continue
        try:
            verify(snap.path, trusted_key)
            good += 1
        except SnapshotError as e:
            log.warning("%s in the store does not verify: %s", snap.path.name, e)
    for path in removed:
        log.info("pruned %s", path.name)
    return removed
