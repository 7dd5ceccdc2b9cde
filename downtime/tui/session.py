"""What the TUI holds while unlocked: who, with which identity, which snapshots are open.

No Textual here: this is the blocking work the screens run in workers (decrypting, querying),
kept plain so it can be tested and benchmarked on its own.

Which snapshots to open: the newest of each scope the identity is a recipient of. A pharmacy
identity is a recipient of the whole-house snapshot and opens that (every unit); a unit
workstation is a recipient of its unit's snapshot(s) only. When the newest of a scope does not
open (damaged on disk, a bad copy), the next older one that does is opened instead and the
session says so: older data, clearly labelled, beats no data at 3 a.m.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from snapshots import allergy_check, allergy_status, blood_pressure, chart
from snapshots.errors import ToolkitError
from snapshots.keys import Identity
from snapshots.schema import FTS_TABLE
from snapshots.sealed import OpenedSnapshot, SnapshotError, open_snapshot
from snapshots.store import StoredSnapshot, by_scope

Clock = Callable[[], datetime]


class NotInSnapshot(ToolkitError, KeyError):
    """A patient asked for who is not in the open snapshots (discharged since, or another
    unit's)."""

    reason = "not-in-snapshot"

    def __str__(self) -> str:  # KeyError's own quotes its argument
        return str(self.args[0])


def utc_now() -> datetime:
    return datetime.now(UTC)


def candidates(store: Path, recipient: str) -> list[list[StoredSnapshot]]:
    """Per scope to open (the house one if this recipient may, else its units'), that scope's
    snapshots newest first."""
    scopes = by_scope(store, recipient)
    if "house" in scopes:
        return [scopes["house"]]
    return [scopes[s] for s in sorted(scopes) if s.startswith("unit:")]


def choose(store: Path, recipient: str, skip: frozenset[Path] = frozenset()
           ) -> list[StoredSnapshot]:
    """The newest snapshot of each scope to open, passing over the files in `skip`."""
    chosen = []
    for scope in candidates(store, recipient):
        usable = [s for s in scope if s.path not in skip]
        if usable:
            chosen.append(usable[0])
    return chosen


def open_newest_good(scope: list[StoredSnapshot], trusted_key: Ed25519PublicKey,
                     identity: Identity) -> tuple[OpenedSnapshot, list[tuple[Path, str]]]:
    """Open the newest snapshot of `scope` that verifies; also say which newer ones did not.
    Raises the newest one's error when none opens."""
    failed: list[tuple[Path, str]] = []
    first_error: SnapshotError | None = None
    for stored in scope:
        try:
            return open_snapshot(stored.path, trusted_key, [identity]), failed
        except SnapshotError as e:
            first_error = first_error or e
            failed.append((stored.path, str(e)))
    assert first_error is not None  # scope lists are never empty
    raise first_error


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
    # newer snapshot files passed over because they did not open, with the reason
    passed_over: list[tuple[Path, str]] = field(default_factory=list)
    _where: dict[str, OpenedSnapshot] = field(default_factory=dict)
    _units: tuple[list[chart.CensusRow], list[str]] | None = None
    _search: list[SearchIndex] = field(default_factory=list)

    @classmethod
    def open(cls, user: str, identity: Identity, store: Path, trusted_key: Ed25519PublicKey,
             today=None) -> Session:
        """Open the newest snapshots this identity can read, and read the census."""
        scopes = candidates(store, identity.recipient)
        if not scopes:
            raise SnapshotError("not-a-recipient",
                                f"no snapshot in {store} is encrypted to {identity.name}")
        opened, passed_over = [], []
        try:
            for scope in scopes:
                snap, failed = open_newest_good(scope, trusted_key, identity)
                opened.append(snap)
                passed_over.extend(failed)
        except SnapshotError:
            for snap in opened:
                snap.close()
            raise
        session = cls(user, identity, opened, passed_over=passed_over)
        session.read_census(today)
        return session

    @property
    def skip(self) -> frozenset[Path]:
        return frozenset(path for path, _ in self.passed_over)

    def fallback_warning(self) -> str | None:
        """One line for the screen when an older snapshot is open because a newer one failed."""
        if not self.passed_over:
            return None
        path, reason = self.passed_over[0]
        more = f" (and {len(self.passed_over) - 1} more)" if len(self.passed_over) > 1 else ""
        return (f"NEWER SNAPSHOT UNREADABLE: {path.name}{more}: {reason}. Showing the newest "
                f"good one ({self.label}). Tell IT.")

    def read_census(self, today=None) -> None:
        rows, where = [], {}
        for snap in self.snapshots:
            for row in census_rows(snap.db, today):
                rows.append(row)
                where[row.patient_id] = snap
        self.census, self._where = rows, where
        self._search = [SearchIndex.read(snap.db) for snap in self.snapshots]

    def db_for(self, patient_id: str) -> sqlite3.Connection:
        snap = self._where.get(patient_id)
        if snap is None:
            raise NotInSnapshot(f"patient {patient_id} is not in the open snapshot(s)")
        return snap.db

    def snapshot_for(self, patient_id: str) -> OpenedSnapshot | None:
        return self._where.get(patient_id)

    def search(self, text: str) -> list[str] | None:
        """Patient ids matching the typed text (None: no filter)."""
        if not text.strip():
            return None
        found: list[str] = []
        for index in self._search:
            found.extend(index.search(text))
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
        # asked on every census refresh: worked out once per census, not per keystroke
        if self._units is None or self._units[0] is not self.census:
            self._units = (self.census, sorted({r.unit for r in self.census}))
        return self._units[1]

    def close(self) -> None:
        for snap in self.snapshots:
            snap.close()
        self.snapshots = []
        self.census = []
        self._where = {}
        self._search = []


@dataclass
class SearchIndex:
    """A snapshot's patient search: chart.search_patient_ids without ranking (the census
    orders rows itself, and ranking thousands of one-letter matches cost ~100 ms at 5,000
    inpatients), same tokenising and prefix semantics (tests/test_tui_session.py checks the
    sets agree). What a read-only snapshot lets be worked out once is: which patient each
    index row is (reading patient_id per match cost ~3 µs a row, 15 ms for the 5,000 matches
    of "mrn1"), and how many rows there are (when every row matches, as the first letters
    of an MRN do, a count says so in a fraction of a millisecond)."""

    db: sqlite3.Connection
    patient_of: dict[int, str]  # index rowid -> patient id
    everyone: list[str]

    @classmethod
    def read(cls, db: sqlite3.Connection) -> SearchIndex:
        patient_of = {r[0]: r[1] for r in db.execute(
            f"SELECT rowid, patient_id FROM {FTS_TABLE}")}
        return cls(db, patient_of, list(dict.fromkeys(patient_of.values())))

    def search(self, text: str) -> list[str]:
        words = [w for w in "".join(c if c.isalnum() else " " for c in text).split() if w]
        if not words:
            return []
        query = " ".join(f'"{w}"*' for w in words)
        match = f"FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ?"
        (count,) = self.db.execute(f"SELECT count(*) {match}", (query,)).fetchone()
        if count == len(self.patient_of):
            return self.everyone
        if not count:
            return []
        return list(dict.fromkeys(self.patient_of[r[0]] for r in self.db.execute(
            f"SELECT rowid {match}", (query,))))


def search_ids(db: sqlite3.Connection, text: str) -> list[str]:
    """Patient ids matching `text` (see SearchIndex; this one reads the index each time)."""
    return SearchIndex.read(db).search(text)


def census_rows(db: sqlite3.Connection, today=None) -> list[chart.CensusRow]:
    """chart.census(db) in three queries instead of two per patient (same rows, same order;
    tests/test_tui_session.py checks they agree). At 5,000 inpatients this is the difference
    between ~0.4 s and ~0.08 s at unlock."""
    from datetime import date

    today = today or date.today()
    allergies = allergy_status.read_all(db)
    lost = chart.allergies_not_loaded(db)
    flags: dict[str, dict[str, list[str]]] = {}
    for pid, kind, text in db.execute(
            "SELECT patient_id, kind, text FROM flags WHERE status = 'active' "
            "ORDER BY patient_id, since"):
        flags.setdefault(pid, {}).setdefault(kind, []).append(text)
    rows = []
    for r in db.execute(chart._CENSUS_SQL.format(where="")):
        f = {k: "; ".join(v) for k, v in flags.get(r[1], {}).items()}
        rows.append(chart.CensusRow(
            encounter_id=r[0], patient_id=r[1], unit=r[2] or "", room=r[3], bed=r[4],
            name=r[5] or "(no name)", age=chart.age_label(r[8], today),
            sex=(r[6] or "?")[:1].upper(), mrn=r[7] or "", birth_date=r[8], attending=r[9],
            allergy=allergy_status.status_of(allergies.get(r[1], ()), lost.get(r[1], 0)),
            code_status=f.get("code-status"),
            isolation=f.get("isolation"), fall_risk=f.get("fall-risk"),
            name_alert=bool(r[10]), admitted_at=r[11], deceased=bool(r[12]),
            encounter_class=r[13]))
    return rows


@dataclass
class ChartData:
    """Everything one chart screen shows, read in one go (in a worker)."""

    header: chart.Header
    meds: list[chart.MedOrder]
    check: allergy_check.AllergyCheck
    vitals: list[chart.Observation]
    labs: list[chart.Observation]
    problems: list
    procedures: list
    notes: list


def read_chart(db: sqlite3.Connection, patient_id: str, now: datetime) -> ChartData:
    header = chart.header(db, patient_id, today=now.astimezone().date())
    meds = chart.medications(db, patient_id, now)
    return ChartData(
        header=header, meds=meds,
        check=chart.allergy_check(db, patient_id, meds=meds, allergy=header.allergy),
        # a blood pressure is one reading, "135/92" (snapshots.blood_pressure)
        vitals=blood_pressure.paired(chart.observations(db, patient_id, "vital-signs")),
        labs=chart.observations(db, patient_id, "laboratory"),
        problems=chart.problems(db, patient_id),
        procedures=chart.procedures(db, patient_id),
        notes=chart.notes(db, patient_id),
    )
