"""The agent's after-install step: pre-render the unit packet of a newly installed unit
snapshot, encrypted, so `print packet` at downtime sends pages at once (forms.prerender)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from forms.prerender import prerender_packet
from snapshots.keys import Identity
from snapshots.manifest import Manifest
from snapshots.sealed import SnapshotError, open_snapshot

PRERENDERED = "prerendered"
log = logging.getLogger("downtime.agent.prerender")


def prerender_hook(identity: Identity, trusted_key: Ed25519PublicKey,
                   store: Path) -> Callable[[Path, Manifest], None]:
    def after_install(path: Path, manifest: Manifest) -> None:
        if not manifest.scope.startswith("unit:") or identity.recipient not in \
                manifest.recipients:
            return
        try:
            snapshot = open_snapshot(path, trusted_key, [identity])
        except SnapshotError as e:
            log.warning("not pre-rendering %s: %s", path.name, e)
            return
        try:
            for unit in manifest.units:
                out = prerender_packet(snapshot, unit, Path(store) / PRERENDERED,
                                       [identity.recipient])
                log.info("pre-rendered the %s packet: %s", unit, out.name)
        finally:
            snapshot.close()
    return after_install
