"""Gathering what the unit workstations issued: their form registries and audit logs, copied
off each workstation (a file share, a USB stick) into a folder named for it, merged into the
episode (docs/reconcile.md, "Collecting").

- Each `forms.log` under the folder is read with the HIM or escrow identity, line by line: a
  line that does not open is reported (with its number) and the rest collected; the same
  form id and event seen twice (two copies, or collected twice) counts once.
- Each audit log (`audit*.log`) is checked (snapshots.audit.verify, with the writer's
  `audit-key.pub` beside it when there is one) and its head (last seq and hash) recorded in
  the journal: the central anchor docs/audit-log.md asks for. A broken chain is reported
  loudly and collected all the same: what it holds is evidence either way.
- Workstations of the episode's units that sent nothing are named, and so are the forms
  issued in the episode's window.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyrage

from snapshots.audit import load_audit_public_key, read_entries, verify
from snapshots.errors import ToolkitError, oserror_text

from .filing import Filer
from .rules import FormInfo

REGISTRY_LOG = "forms.log"
CHUNK = 500  # registry events per journal event: a big registry stays many small lines


class CollectError(ToolkitError):
    reason = "collect"


@dataclass
class WorkstationReport:
    name: str
    source: str
    registry_events: int = 0
    new_events: int = 0
    audits: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class CollectReport:
    workstations: list[WorkstationReport]
    missing: dict[str, str]  # expected workstation -> its unit, that sent nothing (ever)
    issued_in_window: list[FormInfo]
    broken_audits: list[str]

    @property
    def ok(self) -> bool:
        return not self.broken_audits and not any(w.problems for w in self.workstations)


def read_registry_lines(path: Path, identities: Sequence[pyrage.x25519.Identity]
                        ) -> tuple[list[dict[str, Any]], list[str]]:
    """Every registry event that opens, and a line per one that does not."""
    try:
        data = path.read_bytes()
    except OSError as e:
        return [], [oserror_text(e, "cannot read the registry", path)]
    records, problems = [], []
    lines = data.split(b"\n")
    cut = lines.pop() != b""
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            plain = pyrage.decrypt(base64.b64decode(line, validate=True), list(identities))
            record = json.loads(plain)
            if not {"form_id", "kind", "patient_id", "encounter_id", "unit",
                    "event", "at"} <= set(record):
                raise ValueError("not a registry event")
            records.append(record)
        except pyrage.DecryptError as e:
            why = "not encrypted to this identity (use the escrow identity)" \
                if "no matching keys" in str(e).lower() else f"does not decrypt ({e})"
            problems.append(f"{path}:{n}: {why}")
        except (binascii.Error, ValueError):
            problems.append(f"{path}:{n}: not a registry event (damaged)")
    if cut:
        problems.append(f"{path}:{len(lines) + 1}: the last line is cut off (a copy or a "
                        "write cut short); the lines before it are collected")
    return records, problems


def _audit_head(path: Path) -> dict[str, Any]:
    key_file = path.with_name("audit-key.pub")
    key = load_audit_public_key(key_file) if key_file.is_file() else None
    result = verify(path, key, key_source=f"{key_file.name} beside the log")
    try:
        entries, _ = read_entries(path)
    except OSError:
        entries = []
    last = entries[-1] if entries else {}
    return {"log": path.name, "ok": result.ok, "guarantee": result.guarantee,
            "entries": result.entries, "summary": result.summary(),
            "head_seq": last.get("seq"), "head_hash": last.get("hash"),
            "head_time": last.get("time")}


def collect(filer: Filer, paths: Sequence[Path], identities: Sequence[pyrage.x25519.Identity],
            expected: dict[str, str]) -> CollectReport:
    """Collect each workstation folder into the episode; `expected`: workstation -> unit."""
    reports = []
    for folder in paths:
        folder = Path(folder)
        if not folder.is_dir():
            raise CollectError(f"{folder}: not a folder (give each workstation's copy, a "
                               "folder named for the workstation)")
        reports.append(_collect_one(filer, folder, identities))
    state = filer.refresh()
    sent = set(state.workstations)
    missing = {ws: unit for ws, unit in expected.items() if ws not in sent}
    window, units = state.window, state.units
    issued = sorted((f for f in state.forms.values()
                     if (not units or f.unit in units) and f.issued_time() is not None
                     and (window is None or window.holds(f.issued_time()))),
                    key=lambda f: (f.unit, f.issued_at or f.printed_at or "", f.form_id))
    broken = [f"{r.name}: {a['log']}: {a['summary']}" for r in reports for a in r.audits
              if not a["ok"]]
    return CollectReport(reports, missing, issued, broken)


def _collect_one(filer: Filer, folder: Path, identities: Sequence[pyrage.x25519.Identity]
                 ) -> WorkstationReport:
    report = WorkstationReport(folder.name, str(folder))
    registries = sorted(folder.rglob(REGISTRY_LOG))
    audits = sorted(p for p in folder.rglob("audit*.log") if p.is_file())
    if not registries and not audits:
        report.problems.append(f"{folder}: no {REGISTRY_LOG} and no audit log in it")
        return report
    journal, who = filer.episode.journal, filer.episode.who
    for path in registries:
        records, problems = read_registry_lines(path, identities)
        report.problems += problems
        report.registry_events += len(records)
        state = filer.refresh()
        fresh = [r for r in records if (r["form_id"], r["event"]) not in state.registry_keys]
        # the first copy of a form's event wins; a record repeated within the copy once
        unique = list({(r["form_id"], r["event"]): r for r in reversed(fresh)}.values())[::-1]
        report.new_events += len(unique)
        chunks = [unique[i:i + CHUNK] for i in range(0, len(unique), CHUNK)] or [[]]
        events = journal.append_many([("registry-collected", {
            "workstation": folder.name, "source": str(path), "records": chunk,
            "seen": len(records) if i == 0 else 0}) for i, chunk in enumerate(chunks)], who)
        for event in events:
            filer.state.apply(event)
    for path in audits:
        head = _audit_head(path)
        report.audits.append(head)
        event = journal.append("audit-collected", {"workstation": folder.name,
                                                   "source": str(path), **head}, who)
        filer.state.apply(event)
    return report
