"""The drill's site: everything the actions share about the demo hospital in `ctx.workdir`.

    workdir/
      hospital/        the generated hospital (the EHR's data, synthetic; the sandbox loads it)
      sandbox/         the sandbox's own folder (sekmet.db: the EHR stand-in's database)
      keys/            builder.pub (the pinned key) and the ws-<unit>-<n> identities,
                       passphrase-protected as on a real workstation (the drill's passphrase
                       is held in memory only); the builder's signing key and the escrow,
                       pharmacy, builder and HIM identities are the drill's, in memory (each
                       passphrase KDF costs a second or more: a drill makes only the
                       workstations' keys on disk)
      builder/store/   the builder's sealed snapshots
      share/           where `publish` puts each new snapshot (the file share the agents take
                       from); each workstation's inbox gets a copy too
      ws/<name>/       one simulated workstation: downtime.toml, inbox/, store/, registry/
      cups/            the drill's private cupsd (configuration, spool, logs)
      reconcile/       the reconciliation episode (journal and pages, encrypted)

`ctx.shared["site"]` holds the `Site` (made by the first action that needs it, normally
`sandbox up`). A few helpers every action module uses live here too: timing, results, the
one-line reason of an error.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyrage
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from snapshots.errors import ToolkitError, oserror_text
from snapshots.keys import (
    Identity,
    create_identities_kept,
    create_identity_kept,
    load_identity,
    load_public_key,
)

from ...provision import workstation_name
from ..api import DrillContext, StepResult

SITE = "site"


class DrillActionError(ToolkitError):
    """A drill step that cannot do what it was asked (one line: what and where)."""

    reason = "drill"


@dataclass
class Workstation:
    """One simulated unit workstation: a folder with its config, identity, inbox and store."""

    name: str
    unit: str
    folder: Path
    identity_file: Path
    installed_at: float | None = None  # time.time() its current snapshot was installed
    ready_at: float | None = None  # time.time() `readiness` first found it downtime-ready
    identity: Identity | None = None  # loaded once (the KDF costs most of a second)

    @property
    def inbox(self) -> Path:
        return self.folder / "inbox"

    @property
    def store(self) -> Path:
        return self.folder / "store"

    def opened_identity(self, passphrase: str) -> Identity:
        if self.identity is None:
            self.identity = load_identity(self.identity_file, passphrase)
        return self.identity


@dataclass
class Site:
    root: Path
    passphrase: str
    units: list[str]
    signing: Ed25519PrivateKey
    recipients: dict[str, Any]  # provision_keys' table: escrow, pharmacy, builder, units
    builder_identity: Identity  # opens the previous house snapshot (incremental builds)
    escrow: Identity
    him: pyrage.x25519.Identity  # the reconciliation clerks' identity
    hospital: Path | None = None
    workstations: list[Workstation] = field(default_factory=list)
    identities: dict[str, Identity] = field(default_factory=dict)  # workstation keys made

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def store(self) -> Path:
        return self.root / "builder" / "store"

    @property
    def share(self) -> Path:
        return self.root / "share"

    @property
    def trusted(self) -> Ed25519PublicKey:
        return load_public_key(self.keys / "builder.pub")

    def add_workstation_key(self, unit: str) -> Identity:
        """A new workstation identity for `unit` (its file passphrase-protected, the identity
        kept in memory). Builds from now on encrypt to it."""
        n = len(self.recipients["units"].get(unit, [])) + 1
        identity = create_identity_kept(self.keys, workstation_name(unit, n), self.passphrase)
        self.recipients["units"].setdefault(unit, []).append(identity.recipient)
        self.identities[identity.name] = identity
        return identity


    def add_workstation_keys(self, units: list[str]) -> list[Identity]:
        """A new workstation identity for each of `units` (a unit named twice gets two),
        their passphrase KDFs side by side (snapshots.keys.create_identities_kept)."""
        names, counts = [], {}
        for unit in units:
            counts[unit] = counts.get(unit, len(self.recipients["units"].get(unit, []))) + 1
            names.append((unit, workstation_name(unit, counts[unit])))
        made = create_identities_kept(self.keys, [n for _, n in names], self.passphrase)
        for (unit, _), identity in zip(names, made, strict=True):
            self.recipients["units"].setdefault(unit, []).append(identity.recipient)
            self.identities[identity.name] = identity
        return made


def _identity(name: str) -> Identity:
    return Identity(name, pyrage.x25519.Identity.generate())


def make_site(root: Path, units: list[str], passphrase: str | None = None) -> Site:
    """The site's keys: the pinned builder key on disk; no workstation key yet
    (`install-agents` makes them)."""
    from cryptography.hazmat.primitives import serialization

    (root / "keys").mkdir(parents=True, exist_ok=True)
    signing = Ed25519PrivateKey.generate()
    (root / "keys" / "builder.pub").write_bytes(signing.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    builder, escrow, pharmacy = (_identity(n) for n in ("builder", "escrow", "pharmacy"))
    table = {"escrow": [escrow.recipient], "pharmacy": [pharmacy.recipient],
             "builder": [builder.recipient], "units": {}}
    return Site(root, passphrase or secrets.token_urlsafe(18), list(units), signing, table,
                builder, escrow, pyrage.x25519.Identity.generate())


def site_of(ctx: DrillContext) -> Site:
    site = ctx.shared.get(SITE)
    if site is None:
        raise DrillActionError("no drill site yet: a `sandbox` step with op = \"up\" comes "
                               "first (it generates the hospital and the site's keys)")
    return site


def why(error: BaseException) -> str:
    """The one-line reason of an error an action met."""
    if isinstance(error, OSError):
        return oserror_text(error)
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def failed(detail: str, **extra: Any) -> StepResult:
    return StepResult(outcome="failed", detail=detail, **extra)


def now_utc() -> datetime:
    return datetime.now(UTC)


@contextmanager
def timer() -> Iterator[list[float]]:
    """`with timer() as t: ...` then t[0] is the seconds it took."""
    started = time.perf_counter()
    took = [0.0]
    try:
        yield took
    finally:
        took[0] = round(time.perf_counter() - started, 3)


def whole(params: Any, name: str, default: int, least: int = 0) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise DrillActionError(f"{name} = {value!r}: a whole number from {least}")
    return value


def number(params: Any, name: str, default: float, least: float = 0) -> float:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < least:
        raise DrillActionError(f"{name} = {value!r}: a number from {least:g}")
    return float(value)
