"""What the TUI holds while unlocked: who, with which identity, which snapshots are open.

No Textual here: this is the blocking work the screens run in workers (decrypting, querying),
kept plain so it can be tested and benchmarked on its own.

Which snapshots to open: the newest of each scope the identity is a recipient of. A pharmacy
identity is a recipient of the whole-house snapshot and opens that (every unit); a unit
workstation is a recipient of its unit's snapshot(s) only.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from snapshots import chart
from snapshots.keys import Identity
from snapshots.schema import FTS_TABLE
from snapshots.sealed import OpenedSnapshot, SnapshotError, open_snapshot
from snapshots.store import StoredSnapshot, newest_per_scope

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def choose(store: Path, recipient: str) -> list[StoredSnapshot]:
    """The snapshots to open for this recipient: the house one if it may, else its units'."""
    newest = newest_per_scope(store, recipient)
    if "house" in newest:
        return [newest["house"]]
    return [newest[s] for s in sorted(newest) if s.startswith("unit:")]


def signature(snaps: list[StoredSnapshot] | list[OpenedSnapshot]) -> tuple:
    return tuple(sorted((s.manifest.scope, s.manifest.sequence) for s in snaps))


@dataclass
class Session:
    """An unlocked workstation: identity, open snapshots and the census read from them."""

    user: str
    identity: Identity
    snapshots: list[OpenedSnapshot]
    census: list[chart.CensusRow] = field(default_factory=list)
    broken_glass: set[str] = field(default_factory=set)  # patient ids
    _where: dict[str, OpenedSnapshot] = field(default_factory=dict)

    @classmethod
    def open(cls, user: str, identity: Identity, store: Path, trusted_key: Ed25519PublicKey,
             today=None) -> Session:
        """Open the newest snapshots this identity can read, and read the census."""
        chosen = choose(store, identity.recipient)
        if not chosen:
            raise SnapshotError("not-a-recipient",
                                f"no snapshot in {store} is encrypted to {identity.name}")
        opened = [open_snapshot(s.path, trusted_key, [identity]) for s in chosen]
        session = cls(user, identity, opened)
        session.read_census(today)
        return session

    def read_census(self, today=None) -> None:
        rows, where = [], {}
        for snap in self.snapshots:
            for row in census_rows(snap.db, today):
                rows.append(row)
                where[row.patient_id] = snap
        self.census, self._where = rows, where

    def db_for(self, patient_id: str) -> sqlite3.Connection:
        snap = self._where.get(patient_id)
        if snap is None:
            raise KeyError(f"patient {patient_id} is not in the open snapshot(s)")
        return snap.db

    def snapshot_for(self, patient_id: str) -> OpenedSnapshot | None:
        return self._where.get(patient_id)

    def search(self, text: str) -> list[str] | None:
        """Patient ids matching the typed text (None: no filter)."""
        if not text.strip():
            return None
        found: list[str] = []
        for snap in self.snapshots:
            found.extend(search_ids(snap.db, text))
        return found

    @property
    def as_of(self) -> str:
        """The oldest data among the open snapshots (the one that matters for safety)."""
        return min(s.manifest.as_of for s in self.snapshots)

    @property
    def label(self) -> str:
        return ", ".join(f"{s.manifest.scope} #{s.manifest.sequence}" for s in self.snapshots)

    @property
    def snapshot_ids(self) -> str:
        return ",".join(s.manifest.snapshot_id for s in self.snapshots)

    @property
    def units(self) -> list[str]:
        return sorted({r.unit for r in self.census})

    def close(self) -> None:
        for snap in self.snapshots:
            snap.close()
        self.snapshots = []
        self.census = []
        self._where = {}


def search_ids(db: sqlite3.Connection, text: str) -> list[str]:
    """chart.search_patient_ids without ranking: the census orders rows itself, and ranking
    thousands of prefix matches (one typed letter) costs ~100 ms at 5,000 inpatients. Same
    tokenising and prefix semantics (tests/test_tui_session.py checks the sets agree)."""
    words = [w for w in "".join(c if c.isalnum() else " " for c in text).split() if w]
    if not words:
        return []
    query = " ".join(f'"{w}"*' for w in words)
    return list(dict.fromkeys(r[0] for r in db.execute(
        f"SELECT patient_id FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ?", (query,))))


def census_rows(db: sqlite3.Connection, today=None) -> list[chart.CensusRow]:
    """chart.census(db) in three queries instead of two per patient (same rows, same order;
    tests/test_tui_session.py checks they agree). At 5,000 inpatients this is the difference
    between ~0.4 s and ~0.08 s at unlock."""
    from datetime import date

    today = today or date.today()
    allergies: dict[str, list[chart.Allergy]] = {}
    for r in db.execute(
            "SELECT patient_id, id, substance, reaction, severity, criticality, coded, no_known, "
            "verification_status FROM allergies WHERE coalesce(clinical_status, 'active') = "
            "'active' AND coalesce(verification_status, '') NOT IN ('refuted', "
            "'entered-in-error') ORDER BY patient_id, no_known, criticality = 'high' DESC, "
            "substance"):
        allergies.setdefault(r[0], []).append(chart.Allergy(
            r[1], r[2] or "(unnamed substance)", r[3], r[4], r[5], bool(r[6]), bool(r[7]), r[8]))
    flags: dict[str, dict[str, list[str]]] = {}
    for pid, kind, text in db.execute(
            "SELECT patient_id, kind, text FROM flags WHERE status = 'active' "
            "ORDER BY patient_id, since"):
        flags.setdefault(pid, {}).setdefault(kind, []).append(text)
    rows = []
    for r in db.execute(chart._CENSUS_SQL.format(where="")):
        items = tuple(allergies.get(r[1], ()))
        kind = "unknown" if not items else ("nka" if all(a.no_known for a in items)
                                            else "allergies")
        f = {k: "; ".join(v) for k, v in flags.get(r[1], {}).items()}
        rows.append(chart.CensusRow(
            encounter_id=r[0], patient_id=r[1], unit=r[2] or "", room=r[3], bed=r[4],
            name=r[5] or "(no name)", age=chart.age_label(r[8], today),
            sex=(r[6] or "?")[:1].upper(), mrn=r[7] or "", birth_date=r[8], attending=r[9],
            allergy=chart.AllergyStatus(items, kind), code_status=f.get("code-status"),
            isolation=f.get("isolation"), fall_risk=f.get("fall-risk"),
            name_alert=bool(r[10]), admitted_at=r[11], deceased=bool(r[12]),
            encounter_class=r[13]))
    return rows


@dataclass
class ChartData:
    """Everything one chart screen shows, read in one go (in a worker)."""

    header: chart.Header
    meds: list[chart.MedOrder]
    vitals: list[chart.Observation]
    labs: list[chart.Observation]
    problems: list
    procedures: list
    notes: list


def read_chart(db: sqlite3.Connection, patient_id: str, now: datetime) -> ChartData:
    return ChartData(
        header=chart.header(db, patient_id, today=now.astimezone().date()),
        meds=chart.medications(db, patient_id, now),
        vitals=chart.observations(db, patient_id, "vital-signs"),
        labs=chart.observations(db, patient_id, "laboratory"),
        problems=chart.problems(db, patient_id),
        procedures=chart.procedures(db, patient_id),
        notes=chart.notes(db, patient_id),
    )
