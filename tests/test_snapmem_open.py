"""Opening a snapshot streams it: the ciphertext is never held whole beside the plaintext, the
sizes the manifest signs are enforced, and reading a manifest does not read the payload."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import tracemalloc

import pytest

from snapshots import sealed
from snapshots.manifest import parse_line, signed_line
from tests.factory import sealed_snapshot

DB_BYTES = 4 << 20


@pytest.fixture
def big(tmp_path, keys):
    """A snapshot of a few MiB of incompressible rows, so buffers dominate what is traced."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE filler (data BLOB)")
    conn.executemany("INSERT INTO filler VALUES (?)",
                     [(os.urandom(2000),) for _ in range(DB_BYTES // 2000)])
    conn.commit()
    return sealed_snapshot(tmp_path, keys, conn=conn)


def _resign(path, keys, **changes) -> None:
    """Rewrite the manifest line with some fields changed, validly signed by the builder."""
    data = path.read_bytes()
    head, payload = data.split(b"\n", 1)
    manifest = dataclasses.replace(parse_line(head + b"\n")[0], **changes)
    path.write_bytes(signed_line(manifest, keys.signing) + payload)


def test_open_holds_the_database_about_once(big, keys):
    size = sealed.read_manifest(big).db_size
    assert size >= DB_BYTES
    tracemalloc.start()
    try:
        manifest, database = sealed.verify(big, keys.trusted, [keys.unit])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert database is not None and len(database) == manifest.db_size
    # Payload and plaintext both held (the naive way) would be over 2x.
    assert peak < 1.25 * size, f"peak {peak} for a {size}-byte database"


def test_opened_database_is_whole(big, keys):
    snap = sealed.open_snapshot(big, keys.trusted, [keys.unit])
    assert snap.db.execute("SELECT count(*) FROM filler").fetchone()[0] == DB_BYTES // 2000
    snap.close()


def test_plaintext_longer_than_signed_size_is_refused(big, keys):
    size = sealed.read_manifest(big).db_size
    _resign(big, keys, db_size=size - 4096)
    with pytest.raises(sealed.SnapshotError) as err:
        sealed.open_snapshot(big, keys.trusted, [keys.unit])
    assert err.value.reason == "tampered" and "signed size" in str(err.value)


def test_impossible_signed_database_size_is_refused(big, keys):
    _resign(big, keys, db_size=10**15)
    with pytest.raises(sealed.SnapshotError) as err:
        sealed.open_snapshot(big, keys.trusted, [keys.unit])
    assert err.value.reason == "tampered"


def test_payload_hash_is_checked_even_when_age_is_happy(big, keys):
    _resign(big, keys, payload_sha256="0" * 64)
    with pytest.raises(sealed.SnapshotError) as err:
        sealed.open_snapshot(big, keys.trusted, [keys.unit])
    assert err.value.reason == "tampered" and "signed hash" in str(err.value)


def test_read_manifest_reads_only_the_first_line(big, monkeypatch):
    reads = []
    real = open

    class Counting:
        def __init__(self, f):
            self.f = f

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def read(self, *a):
            reads.append(a)
            return self.f.read(*a)

    monkeypatch.setattr(sealed, "open", lambda *a, **k: Counting(real(*a, **k)), raising=False)
    assert sealed.read_manifest(big).scope == "unit:4W"
    assert reads == []


def test_seal_leaves_no_side_file(big):
    assert [p.name for p in big.parent.iterdir()] == [big.name]
