"""The adapters snapshots.schema registers for speed leave what SQLite stores unchanged."""

from __future__ import annotations

import sqlite3

from snapshots import schema


def test_none_and_bytes_are_stored_as_null_and_blob():
    assert schema.SCHEMA_VERSION  # the module is loaded: its adapters are registered
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a TEXT, b BLOB, c)")
    digest = bytes(range(16))
    conn.execute("INSERT INTO t VALUES (?, ?, ?)", (None, digest, b""))
    conn.executemany("INSERT INTO t VALUES (?, ?, ?)", [(None, digest, None)] * 3)
    rows = conn.execute("SELECT typeof(a), typeof(b), b, typeof(c), c FROM t").fetchall()
    assert rows[0] == ("null", "blob", digest, "blob", b"")
    assert rows[1:] == [("null", "blob", digest, "null", None)] * 3


def test_the_adapters_are_identities():
    adapters = sqlite3.adapters
    proto = sqlite3.PrepareProtocol
    digest = b"\x00\xff" * 8
    assert adapters[(type(None), proto)](None) is None
    assert adapters[(bytes, proto)](digest) is digest
