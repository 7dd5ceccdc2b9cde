"""Open an identity file in a child process.

pyrage runs age's scrypt passphrase KDF (about a second, by design) holding Python's GIL, so
in a threaded program every other thread stops for that second: the TUI's screen freezes on
"Unlocking..." with no spinner and no key handled. A child process does the KDF instead; the
parent waits on a pipe, which releases the GIL.

The passphrase goes to the child on its standard input and the secret key comes back on its
standard output: both stay in memory (pipes), never on disk or in a command line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyrage

from .keys import Identity, KeyFileError, WrongPassphrase, load_identity

# The child runs this module's _child(). Isolated (-I): no PYTHON* variables, no current
# folder on the path, so nothing but this very package can receive the passphrase.
_ROOT = str(Path(__file__).resolve().parent.parent)
_CHILD = [sys.executable, "-I", "-c", "import sys; sys.path.insert(0, sys.argv.pop(1)); "
          "from snapshots.identity_process import _child; sys.exit(_child())", _ROOT]
TIMEOUT_S = 120  # a KDF takes a second or two; a hung child must not hang the caller


def load_identity_in_child(path: Path, passphrase: str) -> Identity:
    """load_identity, with the KDF in a child process. Raises WrongPassphrase or
    KeyFileError exactly as load_identity does."""
    try:
        done = subprocess.run([*_CHILD, str(Path(path).resolve())], input=passphrase.encode(),
                              capture_output=True, timeout=TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise KeyFileError(f"{path}: could not open the identity in a child process ({e})") \
            from None
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        last = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise KeyFileError(f"{path}: identity process failed: {last[0][:200]}") from None
    if answer.get("secret"):
        return Identity(answer["name"], pyrage.x25519.Identity.from_str(answer["secret"]))
    error = WrongPassphrase if answer.get("error") == "wrong-passphrase" else KeyFileError
    raise error(answer.get("message") or f"{path}: cannot open identity")


def _child() -> int:
    path = Path(sys.argv[1])
    passphrase = sys.stdin.buffer.read().decode()
    try:
        identity = load_identity(path, passphrase)
    except WrongPassphrase as e:
        answer = {"error": "wrong-passphrase", "message": str(e)}
    except KeyFileError as e:
        answer = {"error": "key-file", "message": str(e)}
    else:
        answer = {"name": identity.name, "secret": str(identity.secret)}
    sys.stdout.write(json.dumps(answer))
    return 0
