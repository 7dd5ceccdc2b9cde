"""Sealed snapshot files: write, inspect, verify and open.

A snapshot file is one signed JSON manifest line, then a standard age v1 file whose plaintext
is the SQLite database (docs/snapshot-format.md). Opening checks, in order: the manifest is
well formed; it is signed by the pinned builder key; its sequence is newer than any seen; the
payload is whole; it decrypts for one of our identities; the payload's and the database's
SHA-256 match the signed ones. Then the database is deserialized into memory and made
read-only. Nothing decrypted is ever written to disk.

Memory: the payload is never held whole. It streams from the file through age (hashed as it
goes) into one buffer of the signed database size, so opening holds the plaintext once, and
twice only for the moment `deserialize` copies it into SQLite.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import pyrage
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import ToolkitError, oserror_text
from .keys import Identity, key_id
from .manifest import (
    FORMAT,
    MAX_MANIFEST_BYTES,
    Manifest,
    ManifestError,
    parse_line,
    signature_valid,
    signed_line,
)
from .schema import SCHEMA_VERSION

SUFFIX = ".dtsnap"
CHUNK = 1 << 20


class SnapshotError(ToolkitError):
    """A snapshot was refused. `reason` is a short stable code, str() the one-line message."""

    def __init__(self, reason: str, message: str):
        super().__init__(message, reason=reason)


@dataclass
class OpenedSnapshot:
    """A decrypted snapshot: its manifest and a read-only in-memory database."""

    path: Path
    manifest: Manifest
    db: sqlite3.Connection

    def close(self) -> None:
        self.db.close()


class _HashingSink:
    """Where age writes the ciphertext when sealing: a file, counted and hashed on the way."""

    def __init__(self, f: BinaryIO):
        self.f, self.sha, self.size = f, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.f.write(data)


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
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    database = conn.serialize()
    db_sha256, db_size = hashlib.sha256(database).hexdigest(), len(database)
    # The manifest line (which carries the payload's hash) comes first in the file, so the
    # ciphertext goes to a side file and is appended after the line: it never sits in memory
    # beside the database image. It is ciphertext: fine on disk.
    side = out.with_name(f".{out.name}.{os.getpid()}.age.part")
    try:
        with open(side, "w+b") as f:
            sink = _HashingSink(f)
            pyrage.encrypt_io(io.BytesIO(database), sink,
                              [pyrage.x25519.Recipient.from_str(r) for r in recipients])
            del database
            manifest = Manifest(
                snapshot_id=str(uuid.uuid4()),
                scope=scope,
                sequence=sequence,
                built_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                as_of=as_of,
                source=source,
                counts=dict(counts),
                db_sha256=db_sha256,
                db_size=db_size,
                payload_sha256=sink.sha.hexdigest(),
                payload_size=sink.size,
                recipients=sorted(set(recipients)),
                schema_version=SCHEMA_VERSION,
                builder_key_id=key_id(signing_key.public_key()),
                previous_id=previous_id,
                units=sorted(units),
            )
            f.seek(0)
            _atomic_write(out, signed_line(manifest, signing_key), f)
    finally:
        side.unlink(missing_ok=True)
    return manifest


def _atomic_write(path: Path, head: bytes, payload: BinaryIO) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    with open(tmp, "wb") as f:
        f.write(head)
        _append(payload, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _append(src: BinaryIO, dst: BinaryIO) -> None:
    """The rest of `src` after what `dst` holds: copied by the kernel (copy_file_range) where
    it can, else through a buffer."""
    dst.flush()
    try:
        copied = os.copy_file_range(src.fileno(), dst.fileno(), 1 << 30)
    except (AttributeError, OSError):  # not on this system, or not between these files
        shutil.copyfileobj(src, dst, CHUNK)  # nothing was copied: start from the beginning
        return
    while copied:
        copied = os.copy_file_range(src.fileno(), dst.fileno(), 1 << 30)


# How every manifest line begins (its keys are sorted, "format" first).
_ENVELOPE_START = b'{"format":"' + FORMAT.encode() + b'"'


def _cut_manifest(head: bytes) -> bool:
    """Whether these bytes, the whole file, are the start of a manifest line."""
    return head.startswith(_ENVELOPE_START) or (len(head) >= 8 and
                                                _ENVELOPE_START.startswith(head))


def _head(path: Path, f: BinaryIO) -> tuple[bytes, int]:
    """The manifest line and how many payload bytes follow it."""
    try:
        head = f.readline(MAX_MANIFEST_BYTES)
        size = os.fstat(f.fileno()).st_size - len(head)
    except OSError as e:
        raise SnapshotError("unreadable", oserror_text(e, "cannot read", path)) from None
    if not head.endswith(b"\n") and size == 0 and len(head) < MAX_MANIFEST_BYTES \
            and _cut_manifest(head):
        # The file ends inside a snapshot's manifest line: a copy cut short, not another file.
        raise SnapshotError("truncated", f"{path}: truncated: the file ends inside the manifest "
                                         f"line, after {len(head)} bytes and before any payload")
    if not head.endswith(b"\n") or not head.startswith(b"{"):
        raise SnapshotError("not-a-snapshot", f"{path}: not a snapshot file (no manifest line)")
    return head, size


def _open(path: Path) -> BinaryIO:
    if path.is_dir():  # open() would say "Is a directory", which is true but not the point
        raise SnapshotError("not-a-snapshot", f"{path}: is a folder, not a snapshot file "
                                              "(give one .dtsnap file)")
    try:
        return open(path, "rb")
    except OSError as e:
        raise SnapshotError("unreadable", oserror_text(e, "cannot read", path)) from None


def read_manifest(path: Path) -> Manifest:
    """The manifest, unverified: for `snapshot info` and choosing what to open. Reads only the
    first line, however large the payload."""
    path = Path(path)
    with _open(path) as f:
        head, _ = _head(path, f)
    try:
        return parse_line(head)[0]
    except ManifestError as e:
        raise SnapshotError("not-a-snapshot", f"{path}: not a snapshot file: {e}") from None


def verify(
    path: Path,
    trusted_key: Ed25519PublicKey,
    identities: Sequence[Identity] = (),
    newer_than: int | None = None,
) -> tuple[Manifest, bytearray | None]:
    """Check a snapshot file; return its manifest and, given identities, the decrypted database.

    Raises SnapshotError with one of the reasons: not-a-snapshot, unknown-signer,
    bad-signature, replayed, truncated, tampered, not-a-recipient, unreadable.
    """
    path = Path(path)
    with _open(path) as f:
        head, size = _head(path, f)
        manifest = _checked_manifest(path, head, trusted_key, newer_than)
        if size < manifest.payload_size:
            raise SnapshotError("truncated", f"{path}: truncated: payload is {size} of "
                                             f"{manifest.payload_size} bytes")
        if size > manifest.payload_size:
            raise _tampered(path)
        payload = _Payload(path, f, manifest.payload_size)
        mine = [i for i in identities if i.recipient in manifest.recipients]
        if not mine:
            payload.drain()
            payload.check(manifest)
            if identities:
                raise SnapshotError("not-a-recipient", f"{path}: not encrypted to "
                                    f"{', '.join(i.name for i in identities)}")
            return manifest, None
        return manifest, _decrypt(path, manifest, payload, mine)


def _checked_manifest(path: Path, head: bytes, trusted_key: Ed25519PublicKey,
                      newer_than: int | None) -> Manifest:
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
    return manifest


def _tampered(path: Path) -> SnapshotError:
    return SnapshotError("tampered", f"{path}: payload does not match the signed hash")


class _Unreadable(Exception):
    """The file failed under us mid-read (kept apart from age's own OSError on bad data)."""


class _Payload:
    """The age payload as age reads it: hashed on the way through, and never more than the
    signed size."""

    def __init__(self, path: Path, f: BinaryIO, size: int):
        self.path, self.f, self.left, self.sha = path, f, size, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        n = self.left if n is None or n < 0 or n > self.left else n
        try:
            data = self.f.read(n)
        except OSError as e:
            raise _Unreadable(e.strerror) from None
        self.left -= len(data)
        self.sha.update(data)
        return data

    def drain(self) -> None:
        """Hash whatever age did not read (all of it, when nothing is decrypted)."""
        try:
            while self.read(CHUNK):
                pass
        except _Unreadable as e:
            raise SnapshotError("unreadable", f"{self.path}: cannot read ({e})") from None

    def check(self, manifest: Manifest) -> None:
        if self.left or self.sha.hexdigest() != manifest.payload_sha256:
            raise _tampered(self.path)


class _Plaintext:
    """Where age writes the database: one buffer of the signed size, filled in place (a
    growing buffer would copy itself as it grows)."""

    def __init__(self, size: int):
        self.buf, self.pos = bytearray(size), 0
        self.view = memoryview(self.buf)

    def write(self, data: bytes) -> int:
        end = self.pos + len(data)
        if end > len(self.buf):
            raise _TooLong
        self.view[self.pos:end] = data
        self.pos = end
        return len(data)


class _TooLong(Exception):
    """The plaintext is longer than the signed database size."""


def _decrypt(path: Path, manifest: Manifest, payload: _Payload,
             mine: Sequence[Identity]) -> bytearray:
    if not 0 <= manifest.db_size <= manifest.payload_size:
        raise SnapshotError("tampered", f"{path}: signed database size is not possible")
    plain = _Plaintext(manifest.db_size)
    failure = None
    try:
        pyrage.decrypt_io(payload, plain, [i.secret for i in mine])
    except _Unreadable as e:
        raise SnapshotError("unreadable", f"{path}: cannot read ({e})") from None
    except (pyrage.DecryptError, OSError, _TooLong) as e:
        failure = "longer than its signed size" if isinstance(e, _TooLong) else str(e)
    plain.view.release()
    # A wrong hash is the truer account of a damaged file than age's complaint about it.
    payload.drain()
    payload.check(manifest)
    if failure:
        raise SnapshotError("tampered", f"{path}: payload does not decrypt ({failure})")
    if plain.pos != manifest.db_size or \
            hashlib.sha256(plain.buf).hexdigest() != manifest.db_sha256:
        raise SnapshotError("tampered", f"{path}: decrypted database does not match its hash")
    return plain.buf


def load_database(database: bytes | bytearray, writable: bool = False) -> sqlite3.Connection:
    """Deserialize a database image into memory; read-only unless asked."""
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    conn.execute("PRAGMA temp_store = MEMORY")  # a large sort must not spill to a temp file
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
    db = load_database(database)
    del database  # SQLite holds its own copy now: let ours go before anything else runs
    return OpenedSnapshot(Path(path), manifest, db)
