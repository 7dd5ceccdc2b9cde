"""Snapshot-file test vectors, one failure class each (docs/snapshot-format.md).

`python -m tests.vectors OUTDIR` writes them with fresh keys: `<name>.dtsnap` plus
`<name>.expect` holding `ok` or the refusal reason, the trusted key `builder.pub`, the identity
`recipient.key` (plaintext, test-only) and `newer-than` for the replay case.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyrage
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from snapshots.keys import Identity
from tests.factory import Keys, sealed_snapshot

REPLAY_NEWER_THAN = 5


def _flip(data: bytes, at: int) -> bytes:
    out = bytearray(data)
    out[at] ^= 0x01
    return bytes(out)


def write_vectors(out: Path) -> dict[str, str]:
    out.mkdir(parents=True, exist_ok=True)
    keys = Keys()
    work = out / "_work"
    work.mkdir(exist_ok=True)
    good = sealed_snapshot(work, keys, sequence=9).read_bytes()
    head, payload = good.split(b"\n", 1)
    # age's random grease stanzas vary the payload length; a swapped payload at least as long
    # as the signed one is refused as tampered (a shorter one would read as truncated).
    other = sealed_snapshot(work, keys, sequence=10).read_bytes()
    while len(other.split(b"\n", 1)[1]) < len(payload):
        other = sealed_snapshot(work, keys, sequence=10).read_bytes()
    rogue = sealed_snapshot(work, Keys(signing=Ed25519PrivateKey.generate(), unit=keys.unit,
                                       pharmacy=keys.pharmacy, escrow=keys.escrow)).read_bytes()
    stranger_keys = Keys(signing=keys.signing,
                         unit=Identity("x", pyrage.x25519.Identity.generate()),
                         pharmacy=Identity("y", pyrage.x25519.Identity.generate()),
                         escrow=Identity("z", pyrage.x25519.Identity.generate()))
    cases = {
        "ok": (good, "ok"),
        "manifest-bit-flip": (_flip(good, head.index(b'"scope"') + 10), "bad-signature"),
        "payload-bit-flip": (_flip(good, len(head) + 200), "tampered"),
        "payload-last-byte-flip": (_flip(good, len(good) - 1), "tampered"),
        "truncated": (good[:-64], "truncated"),
        "swapped-payload": (head + b"\n" + other.split(b"\n", 1)[1], "tampered"),
        "extra-bytes": (good + b"\x00", "tampered"),
        "other-signer": (rogue, "unknown-signer"),
        "replayed-sequence": (sealed_snapshot(work, keys, sequence=REPLAY_NEWER_THAN)
                              .read_bytes(), "replayed"),
        "not-a-snapshot": (b"SQLite format 3\x00" + b"\x00" * 100, "not-a-snapshot"),
        "no-manifest-newline": (head, "not-a-snapshot"),
        "not-a-recipient": (sealed_snapshot(work, stranger_keys, sequence=11).read_bytes(),
                            "not-a-recipient"),
    }
    for name, (data, expect) in cases.items():
        (out / f"{name}.dtsnap").write_bytes(data)
        (out / f"{name}.expect").write_text(expect + "\n")
    (out / "builder.pub").write_bytes(keys.trusted.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    (out / "recipient.key").write_text(str(keys.unit.secret) + "\n")
    (out / "newer-than").write_text(f"replayed-sequence {REPLAY_NEWER_THAN}\n")
    for leftover in work.iterdir():
        leftover.unlink()
    work.rmdir()
    return {name: expect for name, (_, expect) in cases.items()}


if __name__ == "__main__":
    written = write_vectors(Path(sys.argv[1] if len(sys.argv) > 1 else "vectors"))
    print(f"wrote {len(written)} vectors")
