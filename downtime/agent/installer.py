"""Installing one snapshot file from the inbox into the store, crash-safely.

The order of steps is what makes a SIGKILL at any point harmless:
1. verify the inbox file (signature against the pinned key, sequence newer than the newest
   installed for its scope, payload whole and matching its signed hash);
2. copy it to a hidden `.NAME.agent.part` in the store, fsync it;
3. `os.replace` it to its final name and fsync the store folder (the atomic step);
4. record the sequence as seen (`.seen-sequences.json`); 5. remove the inbox file; 6. prune.
A kill before 3 leaves a hidden part file (ignored by the store, removed on the next pass) and
the inbox file still there; a kill after 3 leaves an installed snapshot and, at worst, the
inbox file, which the next pass recognises as already installed. The previous snapshot is only
ever pruned after the new one is in place.

Replay: a file is refused unless its sequence is newer than the newest ever installed for its
scope, remembered in `.seen-sequences.json` so that deleting or pruning store files cannot let
an older signed snapshot back in. (A builder that starts its sequences again needs IT to remove
that file, on purpose.)

A file still being copied in is recognised by its change time (ctime, which a copy tool that
keeps the source's mtime cannot set back) being recent, so it waits instead of being refused.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from snapshots.manifest import Manifest
from snapshots.pruning import prune
from snapshots.sealed import SUFFIX, SnapshotError, read_manifest, verify
from snapshots.store import file_name, list_snapshots

log = logging.getLogger("downtime.agent")

PART = ".agent.part"
SEEN = ".seen-sequences.json"
REJECTED = "rejected"
SETTLE_SECONDS = 30.0  # a truncated file younger than this may still be being copied in

OnInstall = Callable[[Path, Manifest], None]


@dataclass
class InstallResult:
    source: Path
    status: str  # installed | already-installed | rejected | waiting
    reason: str = ""  # SnapshotError reason code when rejected/waiting
    message: str = ""
    manifest: Manifest | None = None
    installed: Path | None = None

    def __str__(self) -> str:
        if self.status == "installed" and self.manifest:
            return (f"installed {self.installed.name} ({self.manifest.scope}, "
                    f"sequence {self.manifest.sequence})")
        if self.status == "already-installed" and self.installed:
            return (f"already-installed {self.source.name}: the same file is in the store as "
                    f"{self.installed.name} (inbox copy removed)")
        return f"{self.status} {self.source.name}: {self.message or self.reason}"


def newest_installed(store: Path, scope: str) -> int | None:
    """The newest sequence of `scope` this store has held: on disk now, or ever installed."""
    seqs = [s.manifest.sequence for s in list_snapshots(store)[0] if s.manifest.scope == scope]
    seen = seen_sequences(store).get(scope)
    return max([*seqs, *([seen] if seen is not None else [])], default=None)


def seen_sequences(store: Path) -> dict[str, int]:
    try:
        data = json.loads((Path(store) / SEEN).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, int)}


def _remember(store: Path, scope: str, sequence: int) -> None:
    seen = seen_sequences(store)
    if seen.get(scope, 0) >= sequence:
        return
    seen[scope] = sequence
    tmp = Path(store) / f".{SEEN}.tmp"
    with open(tmp, "w") as f:
        json.dump(seen, f, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, Path(store) / SEEN)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _installed_copy(store: Path, manifest: Manifest) -> Path | None:
    """The store file of the same name and snapshot id, if there is one."""
    target = Path(store) / file_name(manifest.scope, manifest.sequence)
    if target.exists():
        try:
            if read_manifest(target).snapshot_id == manifest.snapshot_id:
                return target
        except SnapshotError:
            return target  # a damaged copy of it: the inbox file may repair it
    return None


def _same_bytes(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            chunk = fa.read(1 << 20)
            if chunk != fb.read(1 << 20):
                return False
            if not chunk:
                return True


def reject(path: Path, inbox: Path, reason: str, message: str) -> Path:
    """Move a refused file to inbox/rejected/ with a `.reason.txt` beside it."""
    folder = Path(inbox) / REJECTED
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = folder / f"{stamp}-{path.name}"
    n = 1
    while target.exists():
        target = folder / f"{stamp}-{n}-{path.name}"
        n += 1
    note = target.with_name(target.name + ".reason.txt")
    note.write_text(f"reason: {reason}\nmessage: {message}\nrejected_at: {stamp}\n"
                    f"original: {path}\n")
    os.replace(path, target)
    log.warning("rejected %s: %s", path.name, message)
    return target


def install_file(path: Path, store: Path, trusted_key: Ed25519PublicKey, *,
                 inbox: Path | None = None, keep: int = 3, settle_seconds: float = SETTLE_SECONDS,
                 on_install: OnInstall | None = None) -> InstallResult:
    """Verify one inbox file and install it into the store (see the module docstring)."""
    path, store = Path(path), Path(store)
    inbox = Path(inbox) if inbox else path.parent
    store.mkdir(parents=True, exist_ok=True)
    try:
        manifest = read_manifest(path)
    except SnapshotError as e:
        if _young(path, settle_seconds):  # the manifest line may not be written yet
            return InstallResult(path, "waiting", e.reason, str(e))
        reject(path, inbox, e.reason, str(e))
        return InstallResult(path, "rejected", e.reason, str(e))
    name = file_name(manifest.scope, manifest.sequence)
    if Path(name).name != name or name.startswith(".") or "\x00" in name:
        # the store file is named from the (signed) scope: it must not lead out of the store
        why = f"scope {manifest.scope!r:.60} cannot name a file in the store"
        reject(path, inbox, "bad-scope", why)
        return InstallResult(path, "rejected", "bad-scope", why, manifest)
    floor = newest_installed(store, manifest.scope)
    done = _installed_copy(store, manifest)
    if done is not None and manifest.sequence == floor:
        # What a kill between the install and the inbox clean-up leaves: the very same bytes,
        # installed and whole. Anything else under that name is verified below like any file:
        # a tampered or cut copy is rejected (kept as evidence, never silently deleted), a good
        # one repairs a damaged store copy. An older sequence is a replay, identical or not.
        if _same_bytes(done, path) and _verifies(done, trusted_key):
            path.unlink(missing_ok=True)
            return InstallResult(path, "already-installed", manifest=manifest, installed=done)
        floor = manifest.sequence - 1
    try:
        verify(path, trusted_key, newer_than=floor)
    except SnapshotError as e:
        if e.reason == "truncated" and _young(path, settle_seconds):
            return InstallResult(path, "waiting", e.reason, str(e), manifest)
        reject(path, inbox, e.reason, str(e))
        return InstallResult(path, "rejected", e.reason, str(e), manifest)
    target = store / file_name(manifest.scope, manifest.sequence)
    part = store / f".{target.name}{PART}"
    with open(path, "rb") as src, open(part, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
        dst.flush()
        os.fsync(dst.fileno())
    try:
        verify(part, trusted_key)  # the copy is what we installed, byte for byte
    except SnapshotError as e:
        part.unlink(missing_ok=True)
        return InstallResult(path, "waiting", e.reason, f"copy did not verify: {e}", manifest)
    os.replace(part, target)
    _fsync_dir(store)
    _remember(store, manifest.scope, manifest.sequence)
    path.unlink(missing_ok=True)
    log.info("installed %s (%s, sequence %d)", target.name, manifest.scope, manifest.sequence)
    prune(store, manifest.scope, trusted_key, keep=keep)
    if on_install is not None:
        try:
            on_install(target, manifest)
        except Exception:  # a failing hook must not undo or block an install
            log.exception("on_install hook failed for %s", target.name)
    return InstallResult(path, "installed", manifest=manifest, installed=target)


def _verifies(path: Path, trusted_key: Ed25519PublicKey) -> bool:
    try:
        verify(path, trusted_key)
        return True
    except SnapshotError:
        return False


def _young(path: Path, settle_seconds: float) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    return time.time() - max(st.st_mtime, st.st_ctime) < settle_seconds


def candidates(inbox: Path) -> list[Path]:
    """Snapshot files waiting in the inbox, oldest sequence first (by name, then mtime)."""
    found = [p for p in Path(inbox).iterdir()
             if p.is_file() and not p.name.startswith(".") and p.name.endswith(SUFFIX)]

    def order(p: Path):
        try:
            return (0, read_manifest(p).sequence, p.name)
        except SnapshotError:
            return (1, 0, p.name)

    return sorted(found, key=order)


def clean_parts(store: Path) -> None:
    for part in Path(store).glob(f".*{PART}"):
        part.unlink(missing_ok=True)


class StoreLock:
    """One agent per store at a time (released by the kernel even on SIGKILL)."""

    def __init__(self, store: Path):
        self.path = Path(store) / ".agent.lock"

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


def process_inbox(inbox: Path, store: Path, trusted_key: Ed25519PublicKey, keep: int = 3,
                  on_install: OnInstall | None = None,
                  settle_seconds: float = SETTLE_SECONDS) -> list[InstallResult]:
    """One pass over the inbox: install what is new and good, reject the rest. An inbox that
    is not there is an OSError: it is never made here (a share not mounted would otherwise
    be watched as an empty local folder)."""
    inbox, store = Path(inbox), Path(store)
    if not inbox.is_dir():
        raise FileNotFoundError(2, "no inbox folder here (is the share mounted?)", str(inbox))
    results = []
    with StoreLock(store):
        clean_parts(store)
        for path in candidates(inbox):
            results.append(install_file(path, store, trusted_key, inbox=inbox, keep=keep,
                                        settle_seconds=settle_seconds, on_install=on_install))
        # finish a prune an interrupted pass did not get to
        per_scope: dict[str, int] = {}
        for snap in list_snapshots(store)[0]:
            per_scope[snap.manifest.scope] = per_scope.get(snap.manifest.scope, 0) + 1
        for scope, count in per_scope.items():
            if count > keep:
                prune(store, scope, trusted_key, keep=keep)
    return results
