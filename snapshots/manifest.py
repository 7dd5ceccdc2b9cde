"""The signed manifest line that heads every snapshot file.

The manifest says what the file is (id, scope, sequence, when, from what, counts, hashes)
without decrypting anything, and the builder's Ed25519 signature says who made it: age alone
cannot, since anyone holding a recipient's public key can encrypt to it.

The signature covers the manifest's canonical JSON: keys sorted, no spaces, UTF-8.
"""

from __future__ import annotations

import base64
import json
from dataclasses import MISSING, asdict, dataclass, field, fields

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import ToolkitError
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


class ManifestError(ToolkitError):
    """The first line is not a well-formed, signed snapshot manifest."""

    reason = "manifest"


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
        manifest = Manifest(**_checked(envelope["manifest"]))
        return manifest, str(signature["key_id"]), base64.b64decode(signature["value"],
                                                                    validate=True)
    except ManifestError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ManifestError(f"malformed manifest ({type(e).__name__})") from None


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# What each manifest field must hold. A manifest is read before its signature is checked (by
# `snapshot info`, by the store listing), so a wrong type must be refused here, as a bad
# manifest, not crash whatever reads it next.
_FIELD_CHECKS = {
    "str": lambda v: isinstance(v, str),
    "int": lambda v: _is_int(v) and v >= 0,
    "dict[str, int]": lambda v: isinstance(v, dict) and all(
        isinstance(k, str) and _is_int(n) for k, n in v.items()),
    "list[str]": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
}


def _checked(data: object) -> dict:
    if not isinstance(data, dict):
        raise ManifestError("malformed manifest (not a JSON object)")
    for f in fields(Manifest):
        if f.name not in data:
            if f.default is MISSING and f.default_factory is MISSING:
                raise ManifestError(f"malformed manifest (no {f.name})")
            continue
        if not _FIELD_CHECKS[str(f.type)](data[f.name]):
            raise ManifestError(f"malformed manifest ({f.name} is not {f.type})")
    unknown = set(data) - {f.name for f in fields(Manifest)}
    if unknown:
        raise ManifestError(f"malformed manifest (unknown field {sorted(unknown)[0]!r:.40})")
    return data


def signature_valid(manifest: Manifest, signature: bytes, public_key: Ed25519PublicKey) -> bool:
    try:
        public_key.verify(signature, manifest.canonical())
    except InvalidSignature:
        return False
    return True
