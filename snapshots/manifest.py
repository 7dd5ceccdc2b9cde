"""The signed manifest line that heads every snapshot file.

The manifest says what the file is (id, scope, sequence, when, from what, counts, hashes)
without decrypting anything, and the builder's Ed25519 signature says who made it: age alone
cannot, since anyone holding a recipient's public key can encrypt to it.

The signature covers the manifest's canonical JSON: keys sorted, no spaces, UTF-8.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .keys import key_id

FORMAT = "downtime-snapshot/1"
MAX_MANIFEST_BYTES = 1 << 20


@dataclass(frozen=True)
class Manifest:
    snapshot_id: str
    scope: str  # "house" or "unit:<code>"
    sequence: int
    built_at: str  # when the builder ran
    as_of: str  # the time the clinical data is current to
    source: str
    counts: dict[str, int]
    db_sha256: str
    db_size: int
    payload_sha256: str
    payload_size: int
    recipients: list[str]
    schema_version: int
    builder_key_id: str = ""
    previous_id: str = ""  # the snapshot an incremental build started from
    units: list[str] = field(default_factory=list)

    def canonical(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()

    @property
    def unit(self) -> str | None:
        return self.scope.removeprefix("unit:") if self.scope.startswith("unit:") else None


class ManifestError(Exception):
    """The first line is not a well-formed, signed snapshot manifest."""


def signed_line(manifest: Manifest, key: Ed25519PrivateKey) -> bytes:
    """The manifest as the one JSON line (ending in LF) that starts a snapshot file."""
    signature = key.sign(manifest.canonical())
    envelope = {
        "format": FORMAT,
        "manifest": asdict(manifest),
        "signature": {
            "alg": "Ed25519",
            "key_id": key_id(key.public_key()),
            "value": base64.b64encode(signature).decode(),
        },
    }
    return json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode() + b"\n"


def parse_line(line: bytes) -> tuple[Manifest, str, bytes]:
    """Parse a manifest line into (manifest, signer key id, signature); check shape only."""
    try:
        envelope = json.loads(line)
        if envelope.get("format") != FORMAT:
            raise ManifestError(f"format is {envelope.get('format')!r}, not {FORMAT}")
        signature = envelope["signature"]
        if signature.get("alg") != "Ed25519":
            raise ManifestError(f"unsupported signature algorithm {signature.get('alg')!r}")
        manifest = Manifest(**envelope["manifest"])
        return manifest, str(signature["key_id"]), base64.b64decode(signature["value"],
                                                                    validate=True)
    except ManifestError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ManifestError(f"malformed manifest ({type(e).__name__})") from None


def signature_valid(manifest: Manifest, signature: bytes, public_key: Ed25519PublicKey) -> bool:
    try:
        public_key.verify(signature, manifest.canonical())
    except InvalidSignature:
        return False
    return True
