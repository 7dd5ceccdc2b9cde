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
import re
import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import platformdirs

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


class AuditError(Exception):
    """The audit log cannot be written (a care action must not go unrecorded silently)."""


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
            raise AuditError(f"{self.path}: cannot open audit log ({e.strerror})") from None
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
            raise AuditError(f"{self.path}: cannot write audit log ({e.strerror})") from None
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


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    where: str = ""  # "line 12 (seq 12)" — where the first problem is
    why: str = ""  # what is wrong there (or, when ok, a warning worth reading)

    def __str__(self) -> str:
        if self.ok and self.why:
            return f"audit log intact: {self.entries} entries; note: {self.why}"
        if self.ok:
            return f"audit log intact: {self.entries} entries, hash chain and head match"
        if not self.where:  # nothing to check: no file, or none readable
            return self.why
        return f"audit log NOT intact at {self.where}: {self.why}"


_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def entry_problem(entry: object) -> str:
    """Why `entry` is not an entry this module writes ('' when it is one)."""
    if not isinstance(entry, dict):
        return "not a JSON object"
    seq = entry.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int):
        return f"seq {seq!r:.20} is not a number"
    if entry.get("action") not in ACTIONS:
        return f"unknown action {entry.get('action')!r:.40}"
    if not isinstance(entry.get("time"), str) or not _TIME.fullmatch(entry["time"]):
        return f"time {entry.get('time')!r:.40} is not a UTC time"
    if not isinstance(entry.get("user"), str):
        return "user is not text"
    for key in ("host", "patient_id", "snapshot_id", "detail"):
        if entry.get(key) is not None and not isinstance(entry[key], str):
            return f"{key} is not text"
    for key in ("prev", "hash"):
        if not isinstance(entry.get(key), str) or not _SHA256.fullmatch(entry[key]):
            return f"{key} is not a SHA-256 hash"
    return ""


def read_entries(path: Path) -> tuple[list[dict], list[tuple[int, str]]]:
    """Every well-formed entry, without checking the chain (for export after a verify), and
    (line number, why) of every line that is not one: none is dropped without a word."""
    entries, damaged = [], []
    raws = Path(path).read_bytes().split(b"\n")
    for number, raw in enumerate(raws, start=1):
        if not raw.strip():
            if number < len(raws):  # the empty string after the last newline is no line
                damaged.append((number, "empty line"))
            continue
        try:
            entry = json.loads(raw)
        except ValueError:
            damaged.append((number, "not JSON (damaged or cut off)"))
            continue
        problem = entry_problem(entry)
        if problem:
            damaged.append((number, problem))
        else:
            entries.append(entry)
    return entries, damaged


def verify(path: Path) -> VerifyResult:
    """Check the chain and the head witness; report the first broken place."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return VerifyResult(False, 0, "", "no audit log at this path")
    except OSError as e:
        return VerifyResult(False, 0, "", f"cannot read the audit log ({e.strerror})")
    raws = data.split(b"\n")
    cut_off = raws.pop() != b""  # the last line has no newline: a write or a copy cut short
    problem = _check_chain(raws)
    if problem is not None:  # the first broken place, even when the end is cut off too
        return problem
    count = len(raws)
    if cut_off:
        return VerifyResult(False, count, f"line {count + 1}",
                            "last entry is cut off (truncated write or truncated file)")
    return _check_head(path, raws)


def _check_chain(raws: list[bytes]) -> VerifyResult | None:
    """The first place where the complete lines do not chain, or None when they all do."""
    prev, seq, count = GENESIS, 0, 0
    for number, raw in enumerate(raws, start=1):
        where = f"line {number}"
        try:
            entry = json.loads(raw)
            if not isinstance(entry, dict):
                raise ValueError
        except ValueError:
            return VerifyResult(False, count, where, "not a valid entry (edited or damaged)")
        where = f"line {number} (seq {entry.get('seq')})"
        if entry.get("hash") != entry_hash(entry):
            return VerifyResult(False, count, where,
                                "entry does not match its own hash (edited)")
        if entry.get("prev") != prev:
            if entry.get("seq") == seq + 1:
                why = "does not chain to the entry before it (edited or replaced)"
            elif isinstance(entry.get("seq"), int) and entry["seq"] > seq + 1:
                later = _line_of_seq(raws[number:], seq + 1)
                why = (f"seq {entry['seq']} stands before seq {seq + 1} (line "
                       f"{number + later}): reordered" if later else
                       f"entries {seq + 1}..{entry['seq'] - 1} are missing (deleted)")
            else:
                why = f"seq {entry.get('seq')} after seq {seq} (reordered or duplicated)"
            return VerifyResult(False, count, where, why)
        if entry.get("seq") != seq + 1:
            return VerifyResult(False, count, where,
                                f"seq {entry.get('seq')} where {seq + 1} was expected")
        problem = entry_problem(entry)
        if problem:  # chained and hashed, yet not what AuditLog writes: forged, or a bug
            return VerifyResult(False, count, where, f"not a valid entry: {problem}")
        prev, seq, count = entry["hash"], entry["seq"], count + 1
    return None


def _check_head(path: Path, raws: list[bytes]) -> VerifyResult:
    """The head witness against a chain of complete, well-chained lines."""
    count = seq = len(raws)
    prev = json.loads(raws[-1])["hash"] if raws else GENESIS
    try:
        head = json.loads(head_path(path).read_text())
    except FileNotFoundError:
        if count == 0:
            return VerifyResult(True, 0)
        return VerifyResult(False, count, str(head_path(path)),
                            "head witness file is missing; cannot rule out a truncated log")
    except (ValueError, OSError):
        head = None
    if not isinstance(head, dict) or isinstance(head.get("seq"), bool) or \
            not isinstance(head.get("seq"), int) or not isinstance(head.get("hash"), str):
        return VerifyResult(False, count, str(head_path(path)), "head witness file is damaged")
    if head.get("seq") != seq or head.get("hash") != prev:
        if head.get("seq") == seq - 1 and count and head.get("hash") == _prev_of_last(raws):
            # the entry was written and fsynced, the process died before its witness was
            return VerifyResult(True, count, why="the head witness is one entry behind (the "
                                "writer stopped between the entry and its witness); the next "
                                "append brings it up to date")
        if isinstance(head.get("seq"), int) and head["seq"] > seq:
            return VerifyResult(False, count, f"end of log (after seq {seq})",
                                f"entries {seq + 1}..{head['seq']} are missing (truncated)")
        return VerifyResult(False, count, f"end of log (seq {seq})",
                            f"head witness says seq {head.get('seq')}, log ends at seq {seq}")
    return VerifyResult(True, count)


def _line_of_seq(raws: list[bytes], wanted: int) -> int:
    """1-based position in `raws` of the entry with seq `wanted`, 0 when none has it."""
    for offset, raw in enumerate(raws, start=1):
        try:
            if json.loads(raw).get("seq") == wanted:
                return offset
        except (ValueError, AttributeError):
            continue
    return 0


def _prev_of_last(raws: list[bytes]) -> str | None:
    try:
        return json.loads(raws[-1]).get("prev")
    except (ValueError, AttributeError, IndexError):
        return None


# --- FHIR export -----------------------------------------------------------------------------

DCM = "http://dicom.nema.org/resources/ontology/DCM"
RESTFUL = "http://hl7.org/fhir/restful-interaction"
_TYPES = {  # action -> (type code, type display, subtype, FHIR action code)
    "unlock": ((DCM, "110114", "User Authentication"), (DCM, "110122", "Login"), "E"),
    "unlock-failed": ((DCM, "110114", "User Authentication"), (DCM, "110122", "Login"), "E"),
    "lock": ((DCM, "110114", "User Authentication"), (DCM, "110123", "Logout"), "E"),
    "chart-open": ((DCM, "110110", "Patient Record"), (RESTFUL, "read", "read"), "R"),
    "break-glass": ((DCM, "110113", "Security Alert"), (RESTFUL, "read", "read"), "R"),
    "snapshot-switch": ((DCM, "110100", "Application Activity"),
                        (DCM, "110120", "Application Start"), "E"),
    "print": ((DCM, "110106", "Export"), (DCM, "110106", "Export"), "R"),
    "submit": ((DCM, "110107", "Import"), (RESTFUL, "transaction", "transaction"), "C"),
    "snapshot-fallback": ((DCM, "110113", "Security Alert"),
                          (DCM, "110100", "Application Activity"), "E"),
}


def audit_event(entry: dict) -> dict:
    """One log entry as a FHIR R4 AuditEvent."""
    (tsys, tcode, tdisp), (ssys, scode, sdisp), action = _TYPES[entry["action"]]
    failed = entry["action"] == "unlock-failed"
    event: dict = {
        "resourceType": "AuditEvent",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"downtime-audit:{entry['hash']}")),
        "type": {"system": tsys, "code": tcode, "display": tdisp},
        "subtype": [{"system": ssys, "code": scode, "display": sdisp}],
        "action": action,
        "recorded": entry["time"].replace(".000000Z", "Z"),
        "outcome": "4" if failed else "0",
        "agent": [{"who": {"display": entry["user"] or "(unknown)"}, "requestor": True,
                   "network": {"address": entry.get("host") or "unknown", "type": "1"}}],
        "source": {"site": "downtime-toolkit",
                   "observer": {"display": entry.get("host") or "unknown"},
                   "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                             "code": "4", "display": "Application Server"}]},
    }
    if failed:
        event["outcomeDesc"] = entry.get("detail") or "unlock failed"
    if entry["action"] == "break-glass":
        event["purposeOfEvent"] = [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "BTG",
            "display": "break the glass"}], "text": entry.get("detail") or ""}]
    entities = []
    if entry.get("patient_id"):
        entities.append({"what": {"reference": f"Patient/{entry['patient_id']}"},
                         "type": {"system": "http://terminology.hl7.org/CodeSystem/"
                                  "audit-entity-type", "code": "1", "display": "Person"},
                         "role": {"system": "http://terminology.hl7.org/CodeSystem/"
                                  "object-role", "code": "1", "display": "Patient"}})
    chain = [{"type": "seq", "valueString": str(entry["seq"])},
             {"type": "prev-hash", "valueString": entry["prev"]},
             {"type": "hash", "valueString": entry["hash"]}]
    if entry.get("detail") and entry["action"] != "break-glass":
        chain.append({"type": "detail", "valueString": entry["detail"]})
    snapshot = {"what": {"identifier": {"system": "urn:downtime:snapshot-id",
                                        "value": entry.get("snapshot_id") or "none"}},
                "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                         "code": "2", "display": "System Object"},
                "description": "downtime snapshot and audit-chain position",
                "detail": chain}
    entities.append(snapshot)
    event["entity"] = entities
    return event


@dataclass(frozen=True)
class ExportResult:
    count: int  # AuditEvents written
    damaged: list[tuple[int, str]] = field(default_factory=list)  # lines left out, and why


def export_fhir(path: Path, out_file: Path) -> ExportResult:
    """Write every well-formed entry as a FHIR R4 Bundle (type collection) of AuditEvent; say
    which lines could not be (they would make the Bundle invalid FHIR)."""
    entries, damaged = read_entries(path)
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "entry": [{"fullUrl": f"urn:uuid:{ev['id']}", "resource": ev}
                  for ev in (audit_event(e) for e in entries)],
    }
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    # owner-only, like the log itself: patient ids and break-glass reasons are in it
    fd = os.open(out_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(bundle, indent=1, ensure_ascii=False) + "\n")
    return ExportResult(len(entries), damaged)
