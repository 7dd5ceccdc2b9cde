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

GENESIS = "0" * 64
ACTIONS = ("unlock", "unlock-failed", "chart-open", "break-glass", "snapshot-switch", "lock",
           "print", "submit", "snapshot-fallback")
FIELDS = ("seq", "time", "action", "user", "host", "patient_id", "snapshot_id", "detail", "prev")
MAX_DETAIL = 500


@dataclass(frozen=True)
class AuditItem:
    """What differs between the entries of one batch (AuditLog.append_many)."""

    patient_id: str | None = None
    snapshot_id: str | None = None
    detail: str | None = None


class AuditError(ToolkitError):
    """The audit log cannot be written (a care action must not go unrecorded silently)."""

    reason = "audit"


def _canonical(entry: dict) -> bytes:
    body = {k: entry.get(k) for k in FIELDS}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: dict) -> str:
    return hashlib.sha256(_canonical(entry)).hexdigest()


def head_path(path: Path) -> Path:
    return Path(path).with_name(Path(path).name + ".head")


def _now() -> datetime:
    return datetime.now(UTC)


class AuditLog:
    """Append entries to one audit log file."""

    def __init__(self, path: Path, clock: Callable[[], datetime] | None = None,
                 host: str | None = None):
        self.path = Path(path)
        self.clock = clock or _now
        self.host = host or socket.gethostname()

    def append(self, action: str, user: str, *, patient_id: str | None = None,
               snapshot_id: str | None = None, detail: str | None = None) -> dict:
        return self.append_many(action, user, [AuditItem(patient_id, snapshot_id, detail)])[0]

    def append_many(self, action: str, user: str, items: Sequence[AuditItem]) -> list[dict]:
        """One entry per item, chained, under one lock and one fsync (a printed packet of a
        thousand forms is a thousand entries, not a thousand disk flushes)."""
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}; one of {', '.join(ACTIONS)}")
        if not items:
            return []
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as e:
            raise AuditError(oserror_text(e, "cannot open audit log", self.path)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            seq, prev = _last(fd)
            time = self.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            entries, lines = [], []
            for item in items:
                detail = None if item.detail is None else \
                    " ".join(str(item.detail).split())[:MAX_DETAIL]
                seq += 1
                entry = {"seq": seq, "time": time, "action": action, "user": user,
                         "host": self.host, "patient_id": item.patient_id,
                         "snapshot_id": item.snapshot_id, "detail": detail, "prev": prev}
                entry["hash"] = prev = entry_hash(entry)
                entries.append(entry)
                lines.append(json.dumps(entry, ensure_ascii=False, separators=(",", ":")))
            os.write(fd, ("\n".join(lines) + "\n").encode())
            os.fsync(fd)
            _write_head(self.path, seq, prev)
        except OSError as e:
            raise AuditError(oserror_text(e, "cannot write audit log", self.path)) from None
        finally:
            os.close(fd)  # closing releases the lock
        return entries


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


def _write_head(path: Path, seq: int, digest: str) -> None:
    head = head_path(path)
    tmp = head.with_name(head.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(json.dumps({"seq": seq, "hash": digest}) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, head)
