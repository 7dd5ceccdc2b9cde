"""The tamper-evident audit log: append-only JSON lines, each carrying the hash of the one before.

One entry per line (docs/audit-log.md):

    {"seq": 7, "time": "2026-11-24T14:07:02Z", "action": "chart-open", "user": "badge 4411",
     "host": "ws-4w-1", "patient_id": "p1", "snapshot_id": "...", "detail": null,
     "prev": "<hash of entry 6>", "hash": "<sha256 of this entry without 'hash'>"}

The chain shows an edited, deleted or reordered entry. A removed tail leaves a valid chain, so
every append also rewrites a small witness file next to the log (`<log>.head`: the last seq and
hash); `verify` compares the two and reports a truncated log. Appends take an exclusive `flock`
on the log and `fsync` it, so two processes (the TUI and `downtime print`) can append at once.

The log holds ids, hashes and who/when/what: never clinical content. The one free text kept is
the break-glass reason, which is the point of logging a break-glass.

Given a signer (the agent's audit writer, snapshots.audit.writer), every entry also carries the
writer's key id (`key`, hashed) and an Ed25519 signature of its hash (`sig`); the entries the
writer appends for another process name that process's OS user (`os_user`, from the kernel,
not from the asker), and those it takes over from a browsing user's spool keep the time they
were first written there (`spooled`). The head witness is then signed too (signing.py).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import platformdirs

from ..errors import ToolkitError, oserror_text
from .signing import AuditSigner

GENESIS = "0" * 64
ACTIONS = ("unlock", "unlock-failed", "chart-open", "break-glass", "snapshot-switch", "lock",
           "print", "submit", "snapshot-fallback")
FIELDS = ("seq", "time", "action", "user", "host", "patient_id", "snapshot_id", "detail", "prev")
# hashed when present: written by the audit writer only, so a plain log's hashes are unchanged
OPTIONAL_FIELDS = ("os_user", "spooled", "key")
MAX_DETAIL = 500


@dataclass(frozen=True)
class AuditItem:
    """What differs between the entries of one batch (AuditLog.append_many)."""

    patient_id: str | None = None
    snapshot_id: str | None = None
    detail: str | None = None
    spooled: str | None = None  # when it was first written to a browsing user's spool


Row = tuple[str, str, AuditItem]  # action, user, what differs


class AuditError(ToolkitError):
    """The audit log cannot be written (a care action must not go unrecorded silently)."""

    reason = "audit"


def _canonical(entry: dict) -> bytes:
    body = {k: entry.get(k) for k in FIELDS}
    body.update({k: entry[k] for k in OPTIONAL_FIELDS if k in entry})
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: dict) -> str:
    return hashlib.sha256(_canonical(entry)).hexdigest()


def head_path(path: Path) -> Path:
    return Path(path).with_name(Path(path).name + ".head")


def _now() -> datetime:
    return datetime.now(UTC)


class AuditLog:
    """Append entries to one audit log file; with a `signer`, sign each entry and the head
    (the audit writer's log). `warning` is for a sink that can fall back to something less
    (snapshots.audit.client): a log written here directly never does."""

    warning: str | None = None

    def __init__(self, path: Path, clock: Callable[[], datetime] | None = None,
                 host: str | None = None, signer: AuditSigner | None = None,
                 writer: str | None = None):
        self.path = Path(path)
        self.clock = clock or _now
        self.host = host or socket.gethostname()
        self.signer = signer
        self.writer = writer  # the writer's OS user, named in its signed heads
        self.last_head: dict | None = None  # the head written by this object's last append

    def append(self, action: str, user: str, *, patient_id: str | None = None,
               snapshot_id: str | None = None, detail: str | None = None) -> dict:
        return self.append_many(action, user, [AuditItem(patient_id, snapshot_id, detail)])[0]

    def append_many(self, action: str, user: str, items: Sequence[AuditItem],
                    os_user: str | None = None) -> list[dict]:
        """One entry per item, chained, under one lock and one fsync (a printed packet of a
        thousand forms is a thousand entries, not a thousand disk flushes)."""
        return self.append_rows([(action, user, item) for item in items], os_user)

    def append_rows(self, rows: Sequence[Row], os_user: str | None = None) -> list[dict]:
        """append_many for rows of differing actions and users (a spool taken over)."""
        for action, _user, _item in rows:
            if action not in ACTIONS:
                raise ValueError(f"unknown audit action {action!r}; one of {', '.join(ACTIONS)}")
        if not rows:
            return []
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as e:
            raise AuditError(oserror_text(e, "cannot open audit log", self.path)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            seq, prev = _last(fd)
            time = _utc_text(self.clock())
            entries, lines = [], []
            for action, user, item in rows:
                seq += 1
                entry = self._entry(seq, time, action, user, item, os_user, prev)
                prev = entry["hash"]
                entries.append(entry)
                lines.append(json.dumps(entry, ensure_ascii=False, separators=(",", ":")))
            os.write(fd, ("\n".join(lines) + "\n").encode())
            os.fsync(fd)
            self.last_head = self._head(seq, prev, time)
            _write_head(self.path, self.last_head)
        except OSError as e:
            raise AuditError(oserror_text(e, "cannot write audit log", self.path)) from None
        finally:
            os.close(fd)  # closing releases the lock
        return entries

    def _entry(self, seq: int, time: str, action: str, user: str, item: AuditItem,
               os_user: str | None, prev: str) -> dict:
        detail = None if item.detail is None else " ".join(str(item.detail).split())[:MAX_DETAIL]
        entry = {"seq": seq, "time": time, "action": action, "user": user, "host": self.host,
                 "patient_id": item.patient_id, "snapshot_id": item.snapshot_id,
                 "detail": detail}
        if os_user is not None:
            entry["os_user"] = os_user
        if item.spooled is not None:
            entry["spooled"] = item.spooled
        entry["prev"] = prev
        if self.signer is not None:
            entry["key"] = self.signer.id
        entry["hash"] = entry_hash(entry)
        if self.signer is not None:
            entry["sig"] = self.signer.sign_entry(entry["hash"])
        return entry

    def _head(self, seq: int, digest: str, time: str) -> dict:
        if self.signer is None:
            return {"seq": seq, "hash": digest}
        head = {"seq": seq, "hash": digest, "key": self.signer.id, "host": self.host,
                "writer": self.writer, "time": time}
        head["sig"] = self.signer.sign_head(head)
        return head


def default_audit_log() -> Path:
    """Where a workstation's audit log lives when no config names one (the TUI and
    `downtime print` write to the same file)."""
    return platformdirs.user_state_path("downtime") / "audit.log"


def _last(fd: int) -> tuple[int, str]:
    """The seq and hash of the last entry (read backwards from the end of the file)."""
    size = os.lseek(fd, 0, os.SEEK_END)
    if size == 0:
        return 0, GENESIS
    chunk, pos, tail = 4096, size, b""
    while pos > 0:
        step = min(chunk, pos)
        pos -= step
        tail = os.pread(fd, step, pos) + tail
        if tail.count(b"\n") >= 2 or pos == 0:
            break
    lines = [ln for ln in tail.split(b"\n") if ln.strip()]
    try:
        last = json.loads(lines[-1])
        return int(last["seq"]), str(last["hash"])
    except (ValueError, KeyError, IndexError, TypeError):
        raise AuditError("the audit log's last entry is damaged; run `downtime audit verify` "
                         "and keep the file as evidence") from None


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _write_head(path: Path, content: dict) -> None:
    head = head_path(path)
    tmp = head.with_name(head.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(content) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, head)
