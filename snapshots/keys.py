"""Keys: the builder's Ed25519 signing key and the age identities that open snapshots.

File formats (see docs/security-model.md):
- `NAME.age`      an age identity (the text `age-keygen` writes) encrypted under a passphrase
                  with age's scrypt recipient: the standard `age -d -i NAME.age` reads it.
- `NAME.age.pub`  the matching recipient, one `age1...` line.
- `builder.pem`   the Ed25519 signing key, PKCS#8 PEM encrypted under a passphrase.
- `builder.pub`   the Ed25519 public key, SubjectPublicKeyInfo PEM; workstations pin it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyrage
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import ToolkitError, oserror_text

IDENTITY_SUFFIX = ".age"
RECIPIENT_SUFFIX = ".age.pub"


class KeyFileError(ToolkitError):
    """A key file is missing, malformed, or the passphrase does not open it."""

    reason = "key"


class WrongPassphrase(KeyFileError):
    reason = "wrong-passphrase"


@dataclass(frozen=True)
class Identity:
    """A decrypted age identity, held in memory only."""

    name: str
    secret: pyrage.x25519.Identity

    @property
    def recipient(self) -> str:
        return str(self.secret.to_public())


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short, stable fingerprint of a signing key: 16 hex digits of SHA-256 of its raw bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _write_private(path: Path, data: bytes, overwrite: bool) -> None:
    """Write a secret file readable by its owner only; refuse to clobber an existing key."""
    if path.exists() and not overwrite:
        raise KeyFileError(f"{path}: already exists; refusing to overwrite a key")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def create_identity(directory: Path, name: str, passphrase: str, overwrite: bool = False) -> str:
    """Create `name.age` (encrypted identity) and `name.age.pub`; return the recipient."""
    return create_identity_kept(directory, name, passphrase, overwrite).recipient


def create_identity_kept(directory: Path, name: str, passphrase: str,
                         overwrite: bool = False) -> Identity:
    """`create_identity`, and the new identity itself, in memory: what made it need not pay
    the passphrase's key derivation a second time to use it (the drills' workstations)."""
    secret = pyrage.x25519.Identity.generate()
    recipient = str(secret.to_public())
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = f"# created: {created}\n# public key: {recipient}\n{secret}\n"
    sealed = pyrage.passphrase.encrypt(text.encode(), passphrase)
    _write_private(directory / f"{name}{IDENTITY_SUFFIX}", sealed, overwrite)
    (directory / f"{name}{RECIPIENT_SUFFIX}").write_text(recipient + "\n")
    return Identity(name, secret)


def _sealed(text: bytes, passphrase: str) -> bytes:
    return pyrage.passphrase.encrypt(text, passphrase)


def create_identities_kept(directory: Path, names: list[str], passphrase: str,
                           workers: int | None = None) -> list[Identity]:
    """`create_identity_kept` for several names, the passphrase KDFs (age's scrypt, as
    strong as one at a time) run side by side in worker processes: pyrage holds the GIL
    while it derives, so threads would take turns. One process per core at most."""
    if len(names) < 2:
        return [create_identity_kept(directory, n, passphrase) for n in names]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    made = []
    for name in names:
        secret = pyrage.x25519.Identity.generate()
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        text = f"# created: {created}\n# public key: {secret.to_public()}\n{secret}\n"
        made.append((name, secret, text.encode()))
    workers = min(len(names), workers or os.cpu_count() or 1)
    # spawn, not fork: a drill runs in the TUI's worker thread, and forking a threaded
    # process is unsafe; the children get only the key text and the passphrase, by pipe
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        sealed = list(pool.map(_sealed, [t for _, _, t in made],
                               [passphrase] * len(made)))
    out = []
    for (name, secret, _), data in zip(made, sealed, strict=True):
        _write_private(directory / f"{name}{IDENTITY_SUFFIX}", data, False)
        (directory / f"{name}{RECIPIENT_SUFFIX}").write_text(f"{secret.to_public()}\n")
        out.append(Identity(name, secret))
    return out


def load_identity(path: Path, passphrase: str) -> Identity:
    """Decrypt an identity file with its passphrase. Raises WrongPassphrase or KeyFileError."""
    try:
        sealed = Path(path).read_bytes()
    except OSError as e:
        raise KeyFileError(oserror_text(e, "cannot read identity file", path)) from None
    try:
        text = pyrage.passphrase.decrypt(sealed, passphrase).decode()
    except pyrage.DecryptError:
        if not sealed.startswith(b"age-encryption.org/v1\n-> scrypt "):
            raise KeyFileError(f"{path}: not a passphrase-protected age identity") from None
        raise WrongPassphrase(f"{path}: wrong passphrase") from None
    for line in text.splitlines():
        if line.startswith("AGE-SECRET-KEY-"):
            return Identity(identity_name(path),
                            pyrage.x25519.Identity.from_str(line.strip()))
    raise KeyFileError(f"{path}: holds no AGE-SECRET-KEY line")


def identity_file_problem(path: Path) -> str:
    """Why `path` could not be opened as an identity at downtime ('' when it looks right),
    without its passphrase: missing, unreadable, or not a passphrase-protected age file."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError as e:
        return oserror_text(e, "cannot read the identity file", path)
    if not head.startswith(b"age-encryption.org/v1\n-> scrypt "):
        return f"{path}: not a passphrase-protected age identity"
    return ""


def identity_name(identity: Path) -> str:
    """The name an identity file was made under: NAME.age -> NAME."""
    return Path(identity).name.removesuffix(IDENTITY_SUFFIX)


def recipient_file(identity: Path) -> Path:
    """Where create_identity put the public half of `identity`: NAME.age -> NAME.age.pub."""
    return identity.with_name(identity_name(identity) + RECIPIENT_SUFFIX)


def read_recipient(path: Path) -> str:
    """Read an `age1...` recipient from a .pub file, or accept the string itself."""
    text = str(path)
    if not text.startswith("age1"):
        try:
            text = Path(path).read_text().strip()
        except OSError as e:
            raise KeyFileError(oserror_text(e, "cannot read recipient", path)) from None
    try:
        pyrage.x25519.Recipient.from_str(text)
    except Exception:
        raise KeyFileError(f"{path}: not an age X25519 recipient (age1...)") from None
    return text


def create_signing_key(directory: Path, passphrase: str, name: str = "builder",
                       overwrite: bool = False) -> str:
    """Create the builder's Ed25519 key pair (`name.pem`, `name.pub`); return its key id."""
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    )
    _write_private(directory / f"{name}.pem", pem, overwrite)
    public = private.public_key()
    (directory / f"{name}.pub").write_bytes(
        public.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return key_id(public)


def load_signing_key(path: Path, passphrase: str) -> Ed25519PrivateKey:
    try:
        pem = Path(path).read_bytes()
    except OSError as e:
        raise KeyFileError(oserror_text(e, "cannot read signing key", path)) from None
    try:
        key = serialization.load_pem_private_key(pem, passphrase.encode())
    except ValueError:
        raise WrongPassphrase(f"{path}: wrong passphrase or not a PEM private key") from None
    except TypeError:
        raise KeyFileError(f"{path}: signing key is not passphrase-protected") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Load the pinned builder public key (PEM SubjectPublicKeyInfo)."""
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except OSError as e:
        raise KeyFileError(oserror_text(e, "cannot read public key", path)) from None
    except ValueError:
        raise KeyFileError(f"{path}: not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path}: not an Ed25519 public key")
    return key
