"""Checking an audit log: the hash chain from the first entry, then the head witness; the
first broken place is reported with where and why (docs/audit-log.md)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from .log import ACTIONS, GENESIS, entry_hash, head_path


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
