"""Every snapshot test vector is accepted or refused exactly as its .expect file says."""

from __future__ import annotations

import pyrage
import pytest

from snapshots.keys import Identity, load_public_key
from snapshots.sealed import SnapshotError, open_snapshot
from tests.vectors import REPLAY_NEWER_THAN, write_vectors


@pytest.fixture(scope="module")
def vectors(tmp_path_factory):
    out = tmp_path_factory.mktemp("vectors")
    return out, write_vectors(out)


def outcome(folder, name) -> str:
    trusted = load_public_key(folder / "builder.pub")
    identity = Identity("unit", pyrage.x25519.Identity.from_str(
        (folder / "recipient.key").read_text().strip()))
    newer = REPLAY_NEWER_THAN if name == "replayed-sequence" else None
    try:
        open_snapshot(folder / f"{name}.dtsnap", trusted, [identity], newer_than=newer).close()
    except SnapshotError as e:
        return e.reason
    return "ok"


def test_every_failure_class_has_a_vector(vectors):
    _, cases = vectors
    assert set(cases.values()) >= {"ok", "bad-signature", "tampered", "truncated",
                                   "unknown-signer", "replayed", "not-a-snapshot",
                                   "not-a-recipient"}


@pytest.mark.parametrize("name", ["ok", "manifest-bit-flip", "payload-bit-flip",
                                  "payload-last-byte-flip", "truncated", "swapped-payload",
                                  "extra-bytes", "other-signer", "replayed-sequence",
                                  "not-a-snapshot", "no-manifest-newline", "not-a-recipient"])
def test_vector(vectors, name):
    folder, _ = vectors
    assert outcome(folder, name) == (folder / f"{name}.expect").read_text().strip()
