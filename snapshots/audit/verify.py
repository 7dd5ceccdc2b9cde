"""Checking an audit log: the hash chain from the first entry, the signatures (given the
writer's public key), the head witness, then the anchors (given where they are); the first
broken place is reported with where and why, and an intact log with what holds for it
(docs/audit-log.md, "Checking it"):

- anchored up to seq N: entries 1..N are those an anchor copied off the workstation vouches
  for; no rewrite of them, by anyone, goes unseen;
- keyed: every entry (from the first the writer signed) is signed by the key given: no one
  without the writer's private key could have written or rewritten them;
- plain chain only: edits, deletions and truncation that did not recompute the hashes are
  caught; a rewrite that did is not.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..keys import key_id
from .anchors import head_problem, read_anchors
from .log import ACTIONS, FIELDS, GENESIS, OPTIONAL_FIELDS, entry_hash, head_path
from .signing import entry_signature_ok, head_signature_ok, signature_shape_ok


@dataclass(frozen=True)
class Assurance:
    """What an intact log's check established besides the chain."""

    signed: tuple[int, int] | None = None  # first and last seq of the signed entries
    key: str | None = None  # the key id they are signed by
    checked_by: str = ""  # where the key that checked the signatures came from; "" unchecked
    anchored_to: int | None = None
    anchor: str = ""  # the anchor that reached furthest
    notes: tuple[str, ...] = ()

    @property
    def guarantee(self) -> str:
        if self.anchored_to:
            return "anchored"
        return "keyed" if self.signed and self.checked_by else "plain"


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    where: str = ""  # "line 12 (seq 12)" — where the first problem is
    why: str = ""  # what is wrong there (or, when ok, a note about the head worth reading)
    assurance: Assurance = field(default_factory=Assurance)

    @property
    def guarantee(self) -> str:
        return self.assurance.guarantee if self.ok else "broken"

    def summary(self) -> str:
        if not self.ok:
            return self.why if not self.where else \
                f"audit log NOT intact at {self.where}: {self.why}"
        a, n = self.assurance, self.entries
        matched = f"{n} entr{'y' if n == 1 else 'ies'}, hash chain and head match"
        if a.guarantee == "plain":
            why = (f"signed by audit key {a.key}, but not checked: no public key given"
                   if a.signed else "not signed, not anchored: whoever can write the file "
                   "could have rewritten it unseen")
            return f"audit log plain chain only: {matched} ({why})"
        first, last = a.signed
        signed = "every entry" if first == 1 else f"entries {first}..{last}"
        keyed = f"{signed} signed by audit key {a.key} ({a.checked_by})"
        if a.guarantee == "keyed":
            return f"audit log keyed: {matched}; {keyed}; not anchored"
        return (f"audit log anchored up to seq {a.anchored_to} and keyed: {matched}; entries "
                f"1..{a.anchored_to} match the anchor {a.anchor}; {keyed}")

    def notes(self) -> list[str]:
        return ([self.why] if self.ok and self.why else []) + list(self.assurance.notes)

    def __str__(self) -> str:
        return "\n".join([self.summary(), *(f"  note: {n}" for n in self.notes())])

    def as_dict(self) -> dict:
        a = self.assurance
        return {"ok": self.ok, "guarantee": self.guarantee, "entries": self.entries,
                "where": self.where or None, "why": None if self.ok else self.why,
                "signed": list(a.signed) if a.signed else None, "key": a.key,
                "key_checked_by": a.checked_by or None, "anchored_to": a.anchored_to,
                "anchor": a.anchor or None, "notes": self.notes()}


_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_KEY = re.compile(r"[0-9a-f]{16}")
_KNOWN = frozenset((*FIELDS, *OPTIONAL_FIELDS, "hash", "sig"))


def entry_problem(entry: object) -> str:
    """Why `entry` is not an entry this module writes ('' when it is one)."""
    if not isinstance(entry, dict):
        return "not a JSON object"
    seq = entry.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int):
        return f"seq {seq!r:.20} is not a number"
    unknown = sorted(set(entry) - _KNOWN)
    if unknown:
        return f"field {unknown[0]!r:.30} is not one an entry has (no hash covers it)"
    if entry.get("action") not in ACTIONS:
        return f"unknown action {entry.get('action')!r:.40}"
    for key in ("time", "spooled"):
        if (key == "time" or key in entry) and not _utc(entry.get(key)):
            return f"{key} {entry.get(key)!r:.40} is not a UTC time"
    if not isinstance(entry.get("user"), str):
        return "user is not text"
    for key in ("host", "patient_id", "snapshot_id", "detail", "os_user"):
        if entry.get(key) is not None and not isinstance(entry[key], str):
            return f"{key} is not text"
    for key in ("prev", "hash"):
        if not isinstance(entry.get(key), str) or not _SHA256.fullmatch(entry[key]):
            return f"{key} is not a SHA-256 hash"
    if ("key" in entry) != ("sig" in entry):
        return "a key without a signature, or a signature without a key"
    if "key" in entry and not (isinstance(entry["key"], str) and _KEY.fullmatch(entry["key"])):
        return "key is not a key id"
    if "sig" in entry and not signature_shape_ok(entry["sig"]):
        return "sig is not an Ed25519 signature"
    return ""


def _utc(value: object) -> bool:
    return isinstance(value, str) and bool(_TIME.fullmatch(value))


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


class _Broken(Exception):
    def __init__(self, count: int, where: str, why: str) -> None:
        super().__init__(why)
        self.result = VerifyResult(False, count, where, why)


def verify(path: Path, key: Ed25519PublicKey | None = None, *, key_source: str = "key given",
           anchors: Path | None = None) -> VerifyResult:
    """Check the chain, the signatures against `key` (when given), the head witness and the
    anchors at `anchors` (when given); report the first broken place, or what holds."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return VerifyResult(False, 0, "", "no audit log at this path")
    except OSError as e:
        return VerifyResult(False, 0, "", f"cannot read the audit log ({e.strerror})")
    raws = data.split(b"\n")
    cut_off = raws.pop() != b""  # the last line has no newline: a write or a copy cut short
    try:
        chain = _Chain(key)
        chain.walk(raws)  # the first broken place, even when the end is cut off too
        count = len(chain.entries)
        if cut_off:
            raise _Broken(count, f"line {count + 1}",
                          "last entry is cut off (truncated write or truncated file)")
        head_note, head = _check_head(path, chain)
        anchored_to, anchor, anchor_notes = (_check_anchors(anchors, chain)
                                             if anchors is not None and key is not None
                                             else (None, "", []))
    except _Broken as broken:
        return broken.result
    notes = [*_signature_notes(chain, key, anchors), *anchor_notes, *_spool_notes(chain),
             *_writer_notes(chain, head)]
    checked = key_source if key is not None and chain.signed else ""
    assurance = Assurance(chain.signed, chain.signer, checked, anchored_to, anchor,
                          tuple(notes))
    return VerifyResult(True, count, why=head_note, assurance=assurance)


class _Chain:
    """The complete lines, walked from the top: hashes, links, sequence, shape, signatures."""

    def __init__(self, key: Ed25519PublicKey | None) -> None:
        self.key, self.key_id = key, key_id(key) if key else None
        self.entries: list[dict] = []
        self.signer: str | None = None  # the key id the signed entries carry
        self.first_signed: int | None = None

    @property
    def signed(self) -> tuple[int, int] | None:
        return None if self.first_signed is None else (self.first_signed, len(self.entries))

    def walk(self, raws: list[bytes]) -> None:
        prev, seq = GENESIS, 0
        for number, raw in enumerate(raws, start=1):
            count, where = len(self.entries), f"line {number}"
            try:
                entry = json.loads(raw)
                if not isinstance(entry, dict):
                    raise ValueError
            except ValueError:
                raise _Broken(count, where, "not a valid entry (edited or damaged)") from None
            where = f"line {number} (seq {entry.get('seq')})"
            if entry.get("hash") != entry_hash(entry):
                raise _Broken(count, where, "entry does not match its own hash (edited)")
            if entry.get("prev") != prev:
                raise _Broken(count, where, _unchained(entry, seq, raws, number))
            if entry.get("seq") != seq + 1:
                raise _Broken(count, where, f"seq {entry.get('seq')} where {seq + 1} was "
                                            "expected")
            problem = entry_problem(entry)
            if problem:  # chained and hashed, yet not what AuditLog writes: forged, or a bug
                raise _Broken(count, where, f"not a valid entry: {problem}")
            self._signature(entry, count, where)
            self.entries.append(entry)
            prev, seq = entry["hash"], entry["seq"]

    def _signature(self, entry: dict, count: int, where: str) -> None:
        if "sig" not in entry:
            if self.first_signed is not None:
                raise _Broken(count, where, "not signed, though the entries before it are "
                                            "(its signature stripped, or written around the "
                                            "audit writer)")
            return
        if self.signer is None:
            self.signer, self.first_signed = entry["key"], entry["seq"]
        elif entry["key"] != self.signer:
            raise _Broken(count, where, f"signed by audit key {entry['key']}, the entries "
                                        f"before it by {self.signer} (another log spliced in)")
        if self.key is None:
            return
        if entry["key"] != self.key_id:
            raise _Broken(count, where, f"signed by audit key {entry['key']}, not by the key "
                                        f"given ({self.key_id}): another workstation's log, "
                                        "or a forged one")
        if not entry_signature_ok(self.key, entry):
            raise _Broken(count, where, "signature does not verify (forged, or damaged)")


def _unchained(entry: dict, seq: int, raws: list[bytes], number: int) -> str:
    if entry.get("seq") == seq + 1:
        return "does not chain to the entry before it (edited or replaced)"
    if isinstance(entry.get("seq"), int) and entry["seq"] > seq + 1:
        later = _line_of_seq(raws[number:], seq + 1)
        return (f"seq {entry['seq']} stands before seq {seq + 1} (line {number + later}): "
                "reordered" if later else
                f"entries {seq + 1}..{entry['seq'] - 1} are missing (deleted)")
    return f"seq {entry.get('seq')} after seq {seq} (reordered or duplicated)"


def _check_head(path: Path, chain: _Chain) -> tuple[str, dict | None]:
    """The head witness against a chain of complete, well-chained lines: (a note, the head)."""
    entries, where = chain.entries, str(head_path(path))
    count = seq = len(entries)
    prev = entries[-1]["hash"] if entries else GENESIS
    try:
        head = json.loads(head_path(path).read_text())
    except FileNotFoundError:
        if count == 0:
            return "", None
        raise _Broken(count, where, "head witness file is missing; cannot rule out a "
                                    "truncated log") from None
    except (ValueError, OSError):
        head = None
    if not isinstance(head, dict) or isinstance(head.get("seq"), bool) or \
            not isinstance(head.get("seq"), int) or not isinstance(head.get("hash"), str):
        raise _Broken(count, where, "head witness file is damaged")
    _check_head_signature(head, chain, where)
    if head.get("seq") == seq and head.get("hash") == prev:
        return "", head
    if head.get("seq") == seq - 1 and count and head.get("hash") == entries[-1]["prev"]:
        # the entry was written and fsynced, the process died before its witness was
        return ("the head witness is one entry behind (the writer stopped between the entry "
                "and its witness); the next append brings it up to date"), head
    if head["seq"] > seq:
        raise _Broken(count, f"end of log (after seq {seq})",
                      f"entries {seq + 1}..{head['seq']} are missing (truncated)")
    raise _Broken(count, f"end of log (seq {seq})",
                  f"head witness says seq {head.get('seq')}, log ends at seq {seq}")


def _check_head_signature(head: dict, chain: _Chain, where: str) -> None:
    count = len(chain.entries)
    if "sig" not in head:
        if chain.first_signed is not None and head["seq"] >= chain.first_signed:
            raise _Broken(count, where, "head witness is not signed, though the entries are "
                                        "(replaced by someone without the key)")
        return
    problem = head_problem(head)
    if problem:
        raise _Broken(count, where, f"head witness file is damaged: {problem}")
    if chain.key is None:
        return
    if head["key"] != chain.key_id:
        raise _Broken(count, where, f"head witness signed by audit key {head['key']}, not by "
                                    f"the key given ({chain.key_id})")
    if not head_signature_ok(chain.key, head):
        raise _Broken(count, where, "head witness's signature does not verify (forged, or "
                                    "damaged)")


def _check_anchors(anchors: Path, chain: _Chain) -> tuple[int | None, str, list[str]]:
    """(anchored up to seq, the anchor that reaches it, notes) of a signed, checked chain."""
    reading = read_anchors(anchors, chain.signer or chain.key_id)
    count = len(chain.entries)
    for path, why in reading.problems:
        raise _Broken(count, f"anchor {path}", why)
    if chain.signer is None:
        if reading.anchors and not count:
            newest = max(reading.anchors, key=lambda a: a.seq)
            raise _Broken(0, "end of log (seq 0)", f"the anchor {newest.label()} is ahead of "
                                                   f"the log: entries 1..{newest.seq} are "
                                                   "missing (emptied, or replaced)")
        if reading.anchors:  # the key's anchors say its writer wrote this log
            raise _Broken(count, "line 1", f"not signed, yet {len(reading.anchors)} anchor(s) "
                                           f"of the key given vouch for this log: its "
                                           "signatures were stripped (rewritten)")
        return None, "", [f"the log is not signed: no anchor at {anchors} can vouch for it"]
    best = None
    for anchor in sorted(reading.anchors, key=lambda a: a.seq):
        if not head_signature_ok(chain.key, anchor.head):
            raise _Broken(count, f"anchor {anchor.path}", "signature does not verify (forged, "
                                                          "or damaged)")
        if anchor.seq > count:
            raise _Broken(count, f"end of log (seq {count})",
                          f"the anchor {anchor.label()} is ahead of the log: entries "
                          f"{count + 1}..{anchor.seq} are missing (truncated, or replaced by "
                          "an older copy)")
        if chain.entries[anchor.seq - 1]["hash"] != anchor.head["hash"]:
            raise _Broken(count, f"line {anchor.seq} (seq {anchor.seq})",
                          f"does not match the anchor {anchor.label()}: the log was rewritten "
                          "below an anchored seq")
        best = anchor
    notes = [f"{reading.others} anchor(s) of other workstations' logs left aside"] \
        if reading.others else []
    if best is None:
        return None, "", [f"not anchored: no anchor of this log (key {chain.signer}) at "
                          f"{anchors}", *notes]
    if best.seq < count:
        notes.append(f"entries {best.seq + 1}..{count} are after the last anchor: keyed only")
    return best.seq, best.label(), notes


def _signature_notes(chain: _Chain, key: Ed25519PublicKey | None,
                     anchors: Path | None) -> list[str]:
    notes = []
    if chain.first_signed and chain.first_signed > 1:
        notes.append(f"entries 1..{chain.first_signed - 1} were written before the audit "
                     "writer took the log over: plain chain only")
    if key is not None and chain.signed is None and chain.entries:
        notes.append("no entry is signed (a log written without the agent's audit writer)")
    if key is None and anchors is not None:
        notes.append("anchors not checked: no public key given (an anchor is only as good as "
                     "its signature)")
    return notes


def _spool_notes(chain: _Chain) -> list[str]:
    """Runs of entries the writer took over from a browsing user's spool."""
    runs: list[list[dict]] = []
    for entry in chain.entries:
        if "spooled" not in entry:
            continue
        if runs and runs[-1][-1]["seq"] == entry["seq"] - 1:
            runs[-1].append(entry)
        else:
            runs.append([entry])
    return [f"entries {run[0]['seq']}..{run[-1]['seq']} were kept in the spool of "
            f"{run[0].get('os_user') or 'a browsing user'} (first written "
            f"{run[0]['spooled']}) while the audit writer was unreachable: unauthenticated "
            "until the writer took them, they may have been changed or left out before"
            for run in runs]


def _writer_notes(chain: _Chain, head: dict | None) -> list[str]:
    writer = head.get("writer") if head else None
    own = sum(1 for e in chain.entries if writer and e.get("os_user") == writer)
    if not own:
        return []
    were = "entry was" if own == 1 else "entries were"
    return [f"{own} {were} asked for by the writer's own OS user ({writer}), who can read the "
            "audit key: for those, the writer kept nothing from its own user"]


def _line_of_seq(raws: list[bytes], wanted: int) -> int:
    """1-based position in `raws` of the entry with seq `wanted`, 0 when none has it."""
    for offset, raw in enumerate(raws, start=1):
        try:
            if json.loads(raw).get("seq") == wanted:
                return offset
        except (ValueError, AttributeError):
            continue
    return 0
