"""Snapshot-file test vectors, one failure class each (docs/snapshot-format.md), organised as
age's own test vectors are: a file per case, its expected outcome beside it.

The committed set lives in tests/vectors/; `python -m tests.vectors tests/vectors` writes it
anew with fresh keys: `<name>.vector` (a snapshot file; not `.dtsnap`, which .gitignore keeps
out of the repository), `<name>.expect` holding `ok` or the refusal reason, the trusted key
`builder.pub`, the identity `recipient.key` (plaintext, test-only), `newer-than` for the replay
case and a README with one line per vector. The payload is a tiny fixed SQLite database with
one synthetic row: no patient data, real or generated.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pyrage
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from snapshots import sealed
from snapshots.keys import Identity
from tests.factory import Keys

REPLAY_NEWER_THAN = 5
SUFFIX = ".vector"
VECTORS = Path(__file__).resolve().parent / "vectors"

# name -> (expected outcome, what the vector is)
CASES: dict[str, tuple[str, str]] = {
    "ok": ("ok", "a well-formed snapshot signed by the trusted key, encrypted to the recipient"),
    "manifest-bit-flip": ("bad-signature", "one bit of the manifest's scope flipped"),
    "manifest-wrong-types": ("not-a-snapshot", "manifest fields of the wrong JSON type "
                             "(counts an array, units a number)"),
    "signature-on-other-manifest": ("bad-signature", "a valid signature moved onto a manifest "
                                    "with another scope"),
    "payload-bit-flip": ("tampered", "one bit of the age payload flipped"),
    "payload-last-byte-flip": ("tampered", "the payload's last byte flipped"),
    "truncated": ("truncated", "the last 64 bytes of the payload cut off"),
    "swapped-payload": ("tampered", "the payload of another snapshot behind this manifest"),
    "extra-bytes": ("tampered", "one byte appended after the payload"),
    "other-signer": ("unknown-signer", "signed by a key other than the trusted one"),
    "replayed-sequence": ("replayed", f"sequence {REPLAY_NEWER_THAN}, not newer than the "
                          f"{REPLAY_NEWER_THAN} already seen (see newer-than)"),
    "not-a-snapshot": ("not-a-snapshot", "a bare SQLite header, no manifest line"),
    "no-manifest-newline": ("truncated", "the manifest line alone, without its newline: a "
                                         "copy cut before its payload"),
    "not-a-recipient": ("not-a-recipient", "encrypted to other identities only"),
}


def tiny_database() -> sqlite3.Connection:
    """The fixed plaintext: one table, one synthetic row, 512-byte pages (a ~1 KB image)."""
    conn = sqlite3.connect(":memory:")
    conn.execute("PRAGMA page_size = 512")
    conn.execute("CREATE TABLE note (text TEXT)")
    conn.execute("INSERT INTO note VALUES ('downtime snapshot test vector: no patient data')")
    conn.commit()
    conn.execute("VACUUM")
    return conn


def _seal(keys: Keys, sequence: int = 9, recipients: list[str] | None = None) -> bytes:
    """A snapshot file's bytes (written through a temporary file, as seal does)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="vectors-") as tmp:
        out = Path(tmp) / "v.vector"
        sealed.seal(tiny_database(), out, scope="unit:4W", sequence=sequence,
                    as_of="2026-11-24T14:05:00Z", source="tests/vectors.py",
                    counts={"note": 1}, recipients=recipients or [keys.unit.recipient],
                    signing_key=keys.signing, units=["4W"])
        return out.read_bytes()


def _flip(data: bytes, at: int) -> bytes:
    out = bytearray(data)
    out[at] ^= 0x01
    return bytes(out)


def _with_manifest(data: bytes, **changes: object) -> bytes:
    head, rest = data.split(b"\n", 1)
    envelope = json.loads(head)
    envelope["manifest"].update(changes)
    return json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode() + b"\n" + rest


def _with_envelope(data: bytes, other: bytes) -> bytes:
    """`data`'s signature on `other`'s manifest."""
    head, rest = data.split(b"\n", 1)
    envelope = json.loads(head)
    envelope["manifest"] = json.loads(other.split(b"\n", 1)[0])["manifest"]
    return json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode() + b"\n" + rest


def build_cases(keys: Keys) -> dict[str, bytes]:
    good = _seal(keys)
    head, payload = good.split(b"\n", 1)
    # age's random grease stanzas vary the payload length; a swapped payload at least as long
    # as the signed one is refused as tampered (a shorter one would read as truncated).
    other = _seal(keys, sequence=10)
    while len(other.split(b"\n", 1)[1]) < len(payload):
        other = _seal(keys, sequence=10)
    rogue = Keys(signing=Ed25519PrivateKey.generate(), unit=keys.unit)
    stranger = Identity("x", pyrage.x25519.Identity.generate())
    moved = _seal(keys, sequence=9)
    return {
        "ok": good,
        "manifest-bit-flip": _flip(good, head.index(b'"scope"') + 10),
        "manifest-wrong-types": _with_manifest(good, counts=[], units=5),
        "signature-on-other-manifest": _with_envelope(good, _with_manifest(moved,
                                                                           scope="unit:ICU")),
        "payload-bit-flip": _flip(good, len(head) + 200),
        "payload-last-byte-flip": _flip(good, len(good) - 1),
        "truncated": good[:-64],
        "swapped-payload": head + b"\n" + other.split(b"\n", 1)[1],
        "extra-bytes": good + b"\x00",
        "other-signer": _seal(rogue),
        "replayed-sequence": _seal(keys, sequence=REPLAY_NEWER_THAN),
        "not-a-snapshot": b"SQLite format 3\x00" + b"\x00" * 100,
        "no-manifest-newline": head,
        "not-a-recipient": _seal(keys, sequence=11, recipients=[stranger.recipient]),
    }


def write_vectors(out: Path) -> dict[str, str]:
    """Write every vector (fresh keys) into `out`; return name -> expected outcome."""
    out.mkdir(parents=True, exist_ok=True)
    keys = Keys()
    data = build_cases(keys)
    assert set(data) == set(CASES)
    lines = ["# Snapshot file test vectors", "",
             "Written by `python -m tests.vectors tests/vectors`; checked by "
             "tests/test_vectors.py. Trusted key `builder.pub`, identity `recipient.key` "
             "(test-only, plaintext), `newer-than` for the replay case. The payload is a tiny "
             "synthetic SQLite database: no patient data.", "",
             "| vector | expect | what it is |", "| --- | --- | --- |"]
    for name, (expect, what) in CASES.items():
        (out / f"{name}{SUFFIX}").write_bytes(data[name])
        (out / f"{name}.expect").write_text(expect + "\n")
        lines.append(f"| `{name}{SUFFIX}` | {expect} | {what} |")
    (out / "README.md").write_text("\n".join(lines) + "\n")
    (out / "builder.pub").write_bytes(keys.trusted.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    (out / "recipient.key").write_text(str(keys.unit.secret) + "\n")
    (out / "newer-than").write_text(f"replayed-sequence {REPLAY_NEWER_THAN}\n")
    return {name: expect for name, (expect, _) in CASES.items()}


if __name__ == "__main__":
    written = write_vectors(Path(sys.argv[1] if len(sys.argv) > 1 else VECTORS))
    print(f"wrote {len(written)} vectors")
