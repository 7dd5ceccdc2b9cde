"""The audit writer's key: one Ed25519 key pair per workstation log, whose private half only
the writer's OS user can read (the agent's service user, docs/security-model.md).

A signature rather than an HMAC: whoever checks an HMAC holds the very secret that makes
one, so every auditor, IT desk and reconciliation run that verified a log could also forge
it. With a signature they need only the public half (`audit-key.pub`), which can be handed
out, printed and pinned freely.

What is signed (each with its own context, so that one can never stand in for the other):
- an entry: `ENTRY_CONTEXT + its hash` (the hash covers every field but `hash` and `sig`,
  the key id among them, and chains to the entry before);
- a head (the `.head` witness beside the log, and every anchor copied off the workstation):
  `HEAD_CONTEXT + the canonical JSON of its fields but `sig``.

The private key is unencrypted PKCS#8 PEM, 0600: it signs unattended, so a passphrase would
have to be stored beside it anyway; it is protected, like an SSH host key, by belonging to a
user the browsing user is not (docs/audit-log.md, "What it still cannot guarantee").
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import ToolkitError, oserror_text
from ..keys import KeyFileError, key_id, load_public_key

ENTRY_CONTEXT = b"downtime audit entry v1\n"
HEAD_CONTEXT = b"downtime audit head v1\n"
HEAD_FIELDS = ("seq", "hash", "key", "host", "writer", "time")


class AuditKeyError(ToolkitError):
    """The audit key cannot be read, made or used."""

    reason = "audit-key"


def public_key_path(key_path: Path) -> Path:
    """The public half beside the key: `audit-key.pem` -> `audit-key.pub`."""
    key_path = Path(key_path)
    if key_path.suffix == ".pem":
        return key_path.with_suffix(".pub")
    return key_path.with_name(key_path.name + ".pub")


@dataclass(frozen=True)
class AuditSigner:
    """The writer's key, held in memory by the writer alone."""

    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def id(self) -> str:
        return key_id(self.public)

    def sign_entry(self, digest: str) -> str:
        return _b64(self.private.sign(ENTRY_CONTEXT + digest.encode()))

    def sign_head(self, head: dict) -> str:
        return _b64(self.private.sign(HEAD_CONTEXT + _head_body(head)))

    def public_pem(self) -> bytes:
        return self.public.public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)


def load_or_create_key(path: Path) -> AuditSigner:
    """The writer's key at `path`, made (0600, with its public half beside it, 0644) when
    there is none yet. AuditKeyError for a file that is not one."""
    path = Path(path)
    if not path.exists():
        _create(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), None)
    except OSError as e:
        raise AuditKeyError(oserror_text(e, "cannot read the audit key", path)) from None
    except (ValueError, TypeError):
        raise AuditKeyError(f"{path}: not an unencrypted PEM private key (the audit key)") \
            from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditKeyError(f"{path}: not an Ed25519 key (the audit key)")
    signer = AuditSigner(key)
    public = public_key_path(path)
    if not public.exists() or public.read_bytes() != signer.public_pem():
        _write_public(public, signer.public_pem())
    return signer


def load_audit_public_key(path: Path) -> Ed25519PublicKey:
    """A pinned audit public key (PEM); AuditKeyError in one line if it is not one."""
    try:
        return load_public_key(path)
    except KeyFileError as e:
        raise AuditKeyError(f"{e} (an audit public key)") from None


def entry_signature_ok(public: Ed25519PublicKey, entry: dict) -> bool:
    return _verified(public, entry.get("sig"), ENTRY_CONTEXT + str(entry.get("hash")).encode())


def head_signature_ok(public: Ed25519PublicKey, head: dict) -> bool:
    return _verified(public, head.get("sig"), HEAD_CONTEXT + _head_body(head))


def signature_shape_ok(value: object) -> bool:
    """An Ed25519 signature in standard base64 (64 bytes)."""
    return _unb64(value) is not None


def _verified(public: Ed25519PublicKey, sig: object, message: bytes) -> bool:
    raw = _unb64(sig)
    if raw is None:
        return False
    try:
        public.verify(raw, message)
    except InvalidSignature:
        return False
    return True


def _head_body(head: dict) -> bytes:
    body = {k: head.get(k) for k in HEAD_FIELDS}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _unb64(value: object) -> bytes | None:
    if not isinstance(value, str) or len(value) != 88:
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 64 else None


def _create(path: Path) -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
    except FileExistsError:
        return  # another writer made it first: use that one
    except OSError as e:
        raise AuditKeyError(oserror_text(e, "cannot make the audit key", path)) from None


def _write_public(path: Path, pem: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as e:
        raise AuditKeyError(oserror_text(e, "cannot write the audit public key", path)) \
            from None
