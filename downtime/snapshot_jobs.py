"""The snapshot build job behind `downtime snapshot build` and `downtime demo`: build (full or
incremental) and publish, as one library call that tests use directly."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from snapshots.keys import Identity
from snapshots.manifest import Manifest
from snapshots.pipeline import build_database
from snapshots.pruning import prune
from snapshots.publish import Recipients, publish
from snapshots.settings import BuildSettings


@dataclass
class BuildOptions:
    source: Path
    out: Path
    per_unit: bool = False
    previous: Path | None = None
    settings: BuildSettings = field(default_factory=BuildSettings)
    recipients: Recipients = field(default_factory=Recipients)
    signing_key: Ed25519PrivateKey | None = None
    identity: Identity | None = None  # opens `previous`
    trusted_key: Ed25519PublicKey | None = None  # verifies `previous`
    keep: int = 3  # snapshots kept per scope in `out` (older ones pruned after the build)


@dataclass
class BuildJobResult:
    report: dict
    written: list[tuple[Path, Manifest]]
    units_without_keys: list[str]
    pruned: list[Path] = field(default_factory=list)


def run_build(options: BuildOptions) -> BuildJobResult:
    if options.signing_key is None:
        raise ValueError("a signing key is needed to publish snapshots")
    previous_id = ""
    if options.previous:
        from snapshots.incremental import refresh_database

        result, previous_id = refresh_database(options.previous, options.source,
                                               options.settings, options.identity,
                                               options.trusted_key)
    else:
        result = build_database(options.source, options.settings)
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
