"""Sealed snapshot files: write, inspect, verify and open.

A snapshot file is one signed JSON manifest line, then a standard age v1 file whose plaintext
is the SQLite database (docs/snapshot-format.md). Opening checks, in order: the manifest is
well formed; it is signed by the pinned builder key; its sequence is newer than any seen; the
payload is whole and its SHA-256 matches; it decrypts for one of our identities; the database
hash matches. Then the database is deserialized into memory and made read-only. Nothing
decrypted is ever written to disk.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyrage
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .keys import Identity, key_id
from .manifest import (
    MAX_MANIFEST_BYTES,
    Manifest,
    ManifestError,
    parse_line,
    signature_valid,
    signed_line,
)
from .schema import SCHEMA_VERSION

SUFFIX = ".dtsnap"


class SnapshotError(Exception):
    """A snapshot was refused. `reason` is a short stable code, str() the one-line message."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass
class OpenedSnapshot:
    """A decrypted snapshot: its manifest and a read-only in-memory database."""

    path: Path
    manifest: Manifest
    db: sqlite3.Connection

    def close(self) -> None:
        self.db.close()


def seal(
    conn: sqlite3.Connection,
    out: Path,
    *,
    scope: str,
    sequence: int,
    as_of: str,
    source: str,
    counts: dict[str, int],
    recipients: Sequence[str],
    signing_key: Ed25519PrivateKey,
    previous_id: str = "",
    units: Sequence[str] = (),
) -> Manifest:
    """Encrypt the database to the recipients, sign the manifest, write the file atomically."""
    if not recipients:
        raise SnapshotError("no-recipients", "no recipients: nobody could open this snapshot")
    database = conn.serialize()
    payload = pyrage.encrypt(database, [pyrage.x25519.Recipient.from_str(r) for r in recipients])
    manifest = Manifest(
        snapshot_id=str(uuid.uuid4()),
        scope=scope,
        sequence=sequence,
        built_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        as_of=as_of,
        source=source,
        counts=dict(counts),
        db_sha256=hashlib.sha256(database).hexdigest(),
        db_size=len(database),
        payload_sha256=hashlib.sha256(payload).hexdigest(),
        payload_size=len(payload),
        recipients=sorted(set(recipients)),
        schema_version=SCHEMA_VERSION,
        builder_key_id=key_id(signing_key.public_key()),
        previous_id=previous_id,
        units=sorted(units),
    )
    _atomic_write(out, signed_line(manifest, signing_key) + payload)
    return manifest


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _split(path: Path) -> tuple[bytes, bytes]:
    try:
        with open(path, "rb") as f:
            head = f.readline(MAX_MANIFEST_BYTES)
            payload = f.read()
    except OSError as e:
        raise SnapshotError("unreadable", f"{path}: cannot read ({e.strerror})") from None
    if not head.endswith(b"\n") or not head.startswith(b"{"):
        raise SnapshotError("not-a-snapshot", f"{path}: not a snapshot file (no manifest line)")
    return head, payload


def read_manifest(path: Path) -> Manifest:
    """The manifest, unverified: for `snapshot info` and choosing what to open."""
    head, _ = _split(Path(path))
    try:
        return parse_line(head)[0]
    except ManifestError as e:
        raise SnapshotError("not-a-snapshot", f"{path}: not a snapshot file: {e}") from None


def verify(
    path: Path,
    trusted_key: Ed25519PublicKey,
    identities: Sequence[Identity] = (),
    newer_than: int | None = None,
) -> tuple[Manifest, bytes | None]:
    """Check a snapshot file; return its manifest and, given identities, the decrypted database.

    Raises SnapshotError with one of the reasons: not-a-snapshot, unknown-signer,
    bad-signature, replayed, truncated, tampered, not-a-recipient.
    """
    path = Path(path)
    head, payload = _split(path)
    try:
        manifest, signer, signature = parse_line(head)
    except ManifestError as e:
        raise SnapshotError("not-a-snapshot", f"{path}: not a snapshot file: {e}") from None
    if signer != key_id(trusted_key):
        raise SnapshotError("unknown-signer",
                            f"{path}: signed by unknown key {signer}, not the pinned builder "
                            f"key {key_id(trusted_key)}")
    if not signature_valid(manifest, signature, trusted_key):
        raise SnapshotError("bad-signature", f"{path}: manifest signature is not valid")
    if newer_than is not None and manifest.sequence <= newer_than:
        raise SnapshotError("replayed",
                            f"{path}: sequence {manifest.sequence} is not newer than "
                            f"{newer_than} already seen (stale or replayed snapshot)")
    if len(payload) < manifest.payload_size:
        raise SnapshotError("truncated", f"{path}: truncated: payload is {len(payload)} of "
                                         f"{manifest.payload_size} bytes")
    if len(payload) > manifest.payload_size or \
            hashlib.sha256(payload).hexdigest() != manifest.payload_sha256:
        raise SnapshotError("tampered", f"{path}: payload does not match the signed hash")
    if not identities:
        return manifest, None
    return manifest, _decrypt(path, manifest, payload, identities)


def _decrypt(path: Path, manifest: Manifest, payload: bytes,
             identities: Sequence[Identity]) -> bytes:
    mine = [i for i in identities if i.recipient in manifest.recipients]
    if not mine:
        raise SnapshotError("not-a-recipient",
                            f"{path}: not encrypted to {', '.join(i.name for i in identities)}")
    try:
        database = pyrage.decrypt(payload, [i.secret for i in mine])
    except pyrage.DecryptError as e:
        raise SnapshotError("tampered", f"{path}: payload does not decrypt ({e})") from None
    if hashlib.sha256(database).hexdigest() != manifest.db_sha256:
        raise SnapshotError("tampered", f"{path}: decrypted database does not match its hash")
    return database


def load_database(database: bytes, writable: bool = False) -> sqlite3.Connection:
    """Deserialize a database image into memory; read-only unless asked."""
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    conn.deserialize(database)
    if not writable:
        conn.execute("PRAGMA query_only = 1")
    conn.row_factory = sqlite3.Row
    return conn


def open_snapshot(
    path: Path,
    trusted_key: Ed25519PublicKey,
    identities: Sequence[Identity],
    newer_than: int | None = None,
) -> OpenedSnapshot:
    """Verify, decrypt and open a snapshot read-only in memory."""
    if not identities:
        raise SnapshotError("not-a-recipient", f"{path}: no identity given to open it with")
    manifest, database = verify(path, trusted_key, identities, newer_than)
    assert database is not None  # identities were given, so verify decrypted
    return OpenedSnapshot(Path(path), manifest, load_database(database))
