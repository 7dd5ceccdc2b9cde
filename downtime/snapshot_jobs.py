"""The snapshot build job behind `downtime snapshot build` and `downtime demo`: build (full or
incremental) and publish, as one library call that tests use directly.

The source is a folder or file on disk, or the EHR's FHIR server (`remote`: snapshots.pull).
From a server, the time the data is as of on the server (a Bulk export's transactionTime)
is kept in the snapshot (meta `source_since`): the next incremental build asks for what
changed since then. A pull that fails raises before anything is written: the previous
snapshots stay as they are."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from snapshots.keys import Identity
from snapshots.manifest import Manifest
from snapshots.pruning import prune
from snapshots.publish import Recipients, publish
from snapshots.settings import BuildSettings

if TYPE_CHECKING:
    from snapshots.fhir_client import ClientSettings
    from snapshots.incremental import PreviousSnapshot
    from snapshots.pull import Pulled

SINCE_KEY = "source_since"  # meta: the server time the data of a server-built snapshot is at


@dataclass
class BuildOptions:
    source: Path | None  # None with `remote`
    out: Path
    per_unit: bool = False
    previous: Path | None = None
    settings: BuildSettings = field(default_factory=BuildSettings)
    recipients: Recipients = field(default_factory=Recipients)
    signing_key: Ed25519PrivateKey | None = None
    identity: Identity | None = None  # opens `previous`
    trusted_key: Ed25519PublicKey | None = None  # verifies `previous`
    keep: int = 3  # snapshots kept per scope in `out` (older ones pruned after the build)
    remote: ClientSettings | None = None  # pull from this FHIR server instead of `source`


@dataclass
class BuildJobResult:
    report: dict
    written: list[tuple[Path, Manifest]]
    units_without_keys: list[str]
    pruned: list[Path] = field(default_factory=list)


def run_build(options: BuildOptions) -> BuildJobResult:
    if options.signing_key is None:
        raise ValueError("a signing key is needed to publish snapshots")
    from snapshots.incremental import open_previous, refresh
    from snapshots.pipeline import build_database

    previous = None
    if options.previous:
        previous = open_previous(options.previous, options.identity, options.trusted_key)
    since, pulled = None, None
    if options.remote is not None:
        since = _since_of(previous) if previous else None
        pulled = _pull(options.remote, options.settings, since)
        source = pulled.source()
    else:
        source = options.source
    result = refresh(previous, source, options.settings) if previous else \
        build_database(source, options.settings)
    previous_id = previous.manifest.snapshot_id if previous else ""
    if pulled is not None:  # the server's time, for the next refresh; the pull, in the report
        result.report["pull"] = {"transaction_time": pulled.transaction_time,
                                 "since": since, "resources": pulled.resources,
                                 "log": pulled.log.events}
        result.conn.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                                [(SINCE_KEY, pulled.transaction_time),
                                 ("build_report", json.dumps(result.report, sort_keys=True))])
        result.conn.commit()
    as_of = options.settings.as_of.strftime("%Y-%m-%dT%H:%M:%SZ")
    written = publish(result.conn, options.out, recipients=options.recipients,
                      signing_key=options.signing_key, as_of=as_of,
                      source=result.report["source"], per_unit=options.per_unit,
                      previous_id=previous_id)
    pruned = [path for scope in sorted({m.scope for _, m in written})
              for path in prune(options.out, scope, options.signing_key.public_key(),
                                keep=options.keep, whole_file=False)]
    units = sorted(result.report["units"])
    missing = [u for u in units if options.per_unit and not options.recipients.units.get(u)]
    result.conn.close()
    return BuildJobResult(result.report, written, missing, pruned)


def _pull(remote: ClientSettings, settings: BuildSettings, since: str | None) -> Pulled:
    from snapshots.fhir_client import FhirClient
    from snapshots.pull import pull

    with FhirClient(remote) as client:
        return pull(client, settings, since)


def _since_of(previous: PreviousSnapshot) -> str:
    since = previous.meta(SINCE_KEY)
    if not since:
        from snapshots.sealed import SnapshotError

        raise SnapshotError("no-since", f"{previous.path}: was not built from a FHIR server "
                                        "(it holds no server time to ask for changes since); "
                                        "run a full build from the server once")
    return since
