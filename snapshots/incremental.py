"""Incremental refresh: the previous house snapshot plus a delta source (what a Bulk Data
`_since` export gives: only the resources changed since, and Bundles of DELETE entries) make
the next snapshot without re-reading the whole EHR.

Rows whose source hash is unchanged are reused as they are; changed ones are mapped again;
deletions remove rows; an encounter that is no longer active (a discharge) takes its patient
out of the census; rows that have aged out of the configured windows are pruned.

A patient admitted since the previous build has only what the delta holds: the build says so
in the gap register, and the next full build completes the chart. If the delta admits a patient
whose Patient resource is neither in the delta nor in the previous snapshot (a returning
patient, unchanged since long ago), the encounter is listed as excluded ("run a full build")
and the census is incomplete.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from . import map_core as core
from .build import Builder
from .build_results import BuildResult
from .collector import collector_paused
from .fhirdata import utc_time
from .keys import Identity
from .manifest import Manifest
from .reading import DELETE, Record, Source
from .schema import FTS_TABLE, PATIENT_TABLES, TABLES
from .sealed import SnapshotError, load_database, verify
from .settings import BuildSettings
from .sourcecensus import SourceCensus

TABLE_OF = {"Patient": "patients", "Encounter": "encounters", "Practitioner": "practitioners",
            "AllergyIntolerance": "allergies", "Condition": "problems",
            "MedicationRequest": "med_orders", "MedicationAdministration": "administrations",
            "Observation": "observations", "Procedure": "procedures",
            "DocumentReference": "notes", "Flag": "flags", "Location": "locations"}


def _made_by(table: str) -> str:
    """WHERE clause (one parameter: the resource id) for the rows one source resource made.
    It goes by primary key, not by an index on src_id (which would cost the snapshot 5% of its
    size): a row's id is the resource id, or `<id>#<n>` for an observation's components."""
    if "src_id" not in TABLES[table]:
        return "id = ?1"  # locations: no lineage, keyed by the Location id itself
    return "(id = ?1 OR (id >= ?1 || '#' AND id < ?1 || '$')) AND src_id = ?1"


class Refresher(Builder):
    """A Builder that starts from the previous snapshot's database instead of an empty one."""

    def __init__(self, settings: BuildSettings, conn: sqlite3.Connection,
                 previous_sequence: int = 0):
        super().__init__(settings, conn)
        conn.row_factory = None
        conn.execute("PRAGMA temp_store = MEMORY")  # no plaintext sort spills on disk
        # As in a full build: no rollback journal (every page a refresh changes would first be
        # copied into one). A refresh that fails is thrown away whole, never rolled back.
        conn.execute("PRAGMA journal_mode = OFF")
        self.previous_sequence = previous_sequence
        self.leaving: set[str] = set()  # patients whose census encounter the delta ended
        self.forget: set[tuple[str, str]] = set()  # (type, id) brought again by the delta
        # what the checks of the whole database find again at the end; a gap found while
        # mapping a record (admit after discharge...) stays until that record comes again
        self.conn.execute("DELETE FROM gaps WHERE reason IN ('warning:timestamp-future', "
                          "'warning:timestamp-before-birth', 'warning:allergy-conflict')")
        self._load_previous()

    def _load_previous(self) -> None:
        conn = self.conn
        self.census = dict(conn.execute("SELECT patient_id, id FROM encounters"))
        cols = list(TABLES["patients"])
        identifiers = self._previous_identifiers()
        for row in conn.execute(f"SELECT {', '.join(cols)} FROM patients"):
            patient = dict(zip(cols, row, strict=True))
            self.patients[patient["id"]] = (patient, identifiers.get(patient["id"], []))
            for old in filter(None, (patient["merged_from"] or "").split(",")):
                self.ctx.resolver.replaced_by[old] = patient["id"]
        lineage = ("src_type", "src_id", "src_version", "src_updated", "src_hash")
        for row in conn.execute("SELECT id, name, physical, parent, code, kind, "
                                f"{', '.join(lineage)} FROM locations"):
            self.places[row[0]] = core.Place(*row[:6])
            self.place_lineage[row[0]] = dict(zip(lineage, row[6:], strict=True))
        self.ctx.practitioners.update(conn.execute("SELECT id, name FROM practitioners"))
        # Census encounters of the previous build count in this one's source census (they are
        # still active unless the delta says otherwise), and its exclusions still stand until
        # the delta brings the encounter again.
        self.source_census = SourceCensus(self.census.values())
        for eid, pid, reason in conn.execute("SELECT encounter_id, patient_id, reason FROM "
                                             "census_exclusions"):
            self.exclusions.append({"encounter_id": eid, "patient_id": pid, "reason": reason})
            self.source_census.append(eid)
        self.previous_census = set(self.census)

    def _previous_identifiers(self) -> dict[str, list[dict]]:
        """Each patient's identifiers, in key order (as a search by patient gives them), read
        in one query rather than one a patient."""
        icols = list(TABLES["identifiers"])
        found: dict[str, list[dict]] = {}
        for r in self.conn.execute(f"SELECT {', '.join(icols)} FROM identifiers "
                                   "ORDER BY patient_id, system, value"):
            ident = dict(zip(icols, r, strict=True))
            found.setdefault(ident["patient_id"], []).append(ident)
        return found

    def _unknown_patient(self, pid: str) -> str:
        if pid in self.rejected_patients:
            return super()._unknown_patient(pid)
        return (f"patient {pid} not in delta or previous snapshot: run a full build "
                "(a _since export omits an unchanged Patient)")

    def _count_patients(self) -> None:
        """Of the census, who was read again in the delta and who was carried over from the
        previous snapshot unchanged; of the patients read, who is not in the census."""
        census = set(self.census)
        self.stats.add("Patient", "kept", len(census & self.read_patients))
        self.stats.add("Patient", "carried", len(census - self.read_patients))
        self.stats.add("Patient", "not-in-census", len(self.read_patients - census))

    def _take_core(self, rtype: str, rec: Record) -> None:
        if rtype == "Encounter":
            self._forget_encounter(rec.resource.get("id"))
        self._forget_gaps(rec)
        super()._take_core(rtype, rec)

    def _forget_encounter(self, eid: object) -> None:
        """The delta brings this encounter again: what the previous build decided about it
        (in the census, excluded) is decided afresh."""
        if not isinstance(eid, str):
            return
        self.exclusions = [e for e in self.exclusions if e["encounter_id"] != eid]
        if eid in self.source_census:
            self.source_census.remove(eid)

    def _forget_gaps(self, rec: Record) -> None:
        """The previous build's gaps about a resource the delta brings again are dropped
        (in one pass at the end: the gaps table has no index to delete by, one by one)."""
        rtype, rid = rec.resource.get("resourceType"), rec.resource.get("id")
        if isinstance(rtype, str) and isinstance(rid, str):
            self.forget.add((rtype, rid))

    def unchanged(self, rec: Record) -> bool:
        """True when the previous snapshot already holds this exact version."""
        table = TABLE_OF.get(rec.resource.get("resourceType") or "")
        if table is None or table == "locations" or not isinstance(rec.resource.get("id"), str):
            return False
        # The row keyed by the id itself first (most resources make one row), then the rows of
        # its components (`<id>#<n>`): the row _made_by finds first, for about two thirds of
        # the cost of asking for both in one OR (two searches of the key, then a merge).
        rid = rec.resource["id"]
        row = self.conn.execute(f"SELECT src_hash FROM {table} WHERE id = ?1 AND src_id = ?1",
                                (rid,)).fetchone() or \
            self.conn.execute(f"SELECT src_hash FROM {table} WHERE id >= ?1 || '#' AND "
                              "id < ?1 || '$' AND src_id = ?1 LIMIT 1", (rid,)).fetchone()
        return bool(row) and row[0] == self.ctx.lineage(rec)["src_hash"]

    def apply_deletes(self, records: Iterable[Record]) -> list[Record]:
        rest = []
        for rec in records:
            if rec.resource.get("resourceType") != DELETE:
                rest.append(rec)
                continue
            found = self.ctx.resolver.parse(rec.resource.get("url"))
            if not found or found[0] not in TABLE_OF:
                self.ctx.gaps.add(rec.where, "unhandled-delete",
                                  f"DELETE {rec.resource.get('url')!r} not understood",
                                  severity="warning")
                continue
            rtype, rid = found
            self.stats.add(rtype, "deleted")
            self.forget.add((rtype, rid))  # its gaps of earlier builds go with it
            if rtype == "Encounter" and self._encounter_patient(rid):
                self._leave(self._encounter_patient(rid), rid)
            elif rtype == "Patient" and rid in self.census:
                self._discharge(rid)
                self.patients.pop(rid, None)
            else:
                table = TABLE_OF[rtype]
                self.conn.execute(f"DELETE FROM {table} WHERE {_made_by(table)}", (rid,))
        return rest

    def _encounter_patient(self, encounter_id: str) -> str | None:
        row = self.conn.execute("SELECT patient_id FROM encounters WHERE id = ?",
                                (encounter_id,)).fetchone()
        return row[0] if row else None

    def _discharge(self, pid: str) -> None:
        """Take a patient out of the census: every row of theirs leaves the snapshot."""
        for table in PATIENT_TABLES:
            self.conn.execute(f"DELETE FROM {table} WHERE patient_id = ?", (pid,))
        self.conn.execute("DELETE FROM patients WHERE id = ?", (pid,))
        self.conn.execute(f"DELETE FROM {FTS_TABLE} WHERE patient_id = ?", (pid,))
        self.conn.execute("DELETE FROM gaps WHERE patient_id = ?", (pid,))
        eid = self.census.pop(pid, None)
        if eid:
            self._forget_encounter(eid)
        self.stats.add("Patient", "discharged")

    def _leave(self, pid: str, encounter_id: str) -> None:
        """The patient's census encounter ended. Whether the patient leaves is decided when
        every encounter of the delta is read: a readmission in the same delta keeps the chart
        (allergies and all) that the delta does not repeat."""
        self.conn.execute("DELETE FROM encounters WHERE id = ?", (encounter_id,))
        if self.census.get(pid) == encounter_id:
            del self.census[pid]
        self._forget_encounter(encounter_id)
        self.leaving.add(pid)

    def _settle_leavers(self) -> None:
        for pid in sorted(self.leaving):
            if pid not in self.census:
                self._discharge(pid)
                continue
            for table in ("med_orders", "observations", "notes"):  # the stay's rows follow
                self.conn.execute(f"UPDATE {table} SET encounter_id = ? WHERE patient_id = ?",
                                  (self.census[pid], pid))

    def _duplicate_open_encounter(self, rec: Record, pid: str) -> str | None:
        kept_id = self.census[pid]
        if any(r["id"] == kept_id for r in self.batches["encounters"]):
            return super()._duplicate_open_encounter(rec, pid)
        # The one kept is the previous snapshot's row, not in this build's batches.
        row = self.conn.execute("SELECT admitted_at FROM encounters WHERE id = ?",
                                (kept_id,)).fetchone()
        start = utc_time((rec.resource.get("period") or {}).get("start")) or ""
        if ((row[0] if row else "") or "") >= start:
            return f"patient {pid} already in census with encounter {kept_id} (later admission)"
        self.conn.execute("DELETE FROM encounters WHERE id = ?", (kept_id,))
        self.exclusions.append({"encounter_id": kept_id, "patient_id": pid,
                                "reason": f"superseded by later open encounter "
                                          f"{rec.resource['id']}"})
        del self.census[pid]
        return None

    def _encounter(self, rec: Record) -> None:
        res, s = rec.resource, self.ctx.settings
        pid = self._encounter_patient(res["id"])
        if pid is not None:
            self._leave(pid, res["id"])
            if not core.is_census_encounter(res, s.encounter_status, s.encounter_class):
                self.stats.add("Encounter", "not-in-census")
                return
        before = set(self.census)
        super()._encounter(rec)
        for new in set(self.census) - before - self.previous_census:
            self.ctx.gap(rec, "admitted-since-previous",
                         "patient joined the census in this refresh: the chart holds only what "
                         "the delta carried until the next full build", "warning", new)

    def _clinical(self, rtype: str, rec: Record) -> str:
        if self.unchanged(rec):
            return "unchanged"
        self._forget_gaps(rec)
        outcome = super()._clinical(rtype, rec)
        if outcome != "kept" and isinstance(rec.resource.get("id"), str):
            # It was in the snapshot but no longer qualifies (stopped, aged out, moved).
            table = TABLE_OF[rtype]
            self.conn.execute(f"DELETE FROM {table} WHERE {_made_by(table)}",
                              (rec.resource["id"],))
        return outcome

    def prune_windows(self) -> None:
        s, as_of = self.ctx.settings, self.ctx.settings.as_of

        def cut(**delta: float) -> str:
            return (as_of - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")
        # Vital signs and labs in one pass over the observations (most of the rows).
        self.conn.execute("DELETE FROM observations WHERE (category = 'vital-signs' AND "
                          "effective_at < ?) OR (category = 'laboratory' AND effective_at < ?)",
                          (cut(hours=s.vitals_hours), cut(days=s.labs_days)))
        for sql, limit in (
                ("DELETE FROM administrations WHERE given_at < ?",
                 cut(hours=s.administrations_hours)),
                ("DELETE FROM notes WHERE written_at < ?", cut(days=s.notes_days)),
                # as a full build: stopped/completed orders only within the labs window,
                # procedures within theirs
                ("DELETE FROM med_orders WHERE status NOT IN ('active', 'on-hold', 'draft') "
                 "AND authored_at < ?", cut(days=s.labs_days)),
                ("DELETE FROM procedures WHERE performed_at < ?", cut(days=s.procedures_days))):
            self.conn.execute(sql, (limit,))

    def finish(self, source_text: str) -> BuildResult:
        self._settle_leavers()
        stale = [(seq,) for seq, rtype, rid in self.conn.execute(
            "SELECT seq, resource_type, resource_id FROM gaps") if (rtype, rid) in self.forget]
        self.conn.executemany("DELETE FROM gaps WHERE seq = ?", stale)
        changed = {pid for pid, _ in self.patients.items() if pid in self.census}
        for pid in changed:
            self.conn.execute("DELETE FROM identifiers WHERE patient_id = ?", (pid,))
        self.conn.execute(f"DELETE FROM {FTS_TABLE}")
        self.conn.execute("DELETE FROM units")
        self.conn.execute("DELETE FROM locations")
        self.conn.execute("DELETE FROM downtime_ids")
        self.conn.execute("DELETE FROM census_exclusions")  # all of them are re-inserted
        self.conn.execute("DELETE FROM meta WHERE key != 'schema_version'")
        self.conn.execute("UPDATE encounters SET name_alert = 0, name_alert_with = ''")
        self.prune_windows()
        # Exclusions of patients who are no longer active inpatients (discharged since) and
        # of encounters this refresh took after all are dropped.
        taken = set(self.census.values())
        self.exclusions = [e for e in self.exclusions if e["encounter_id"] not in taken]
        for eid in self.census.values():
            if eid not in self.source_census:
                self.source_census.append(eid)
        result = super().finish(source_text)
        self.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES "
                          "('previous_sequence', ?)", (str(self.previous_sequence),))
        self.conn.commit()
        return result


def _same_schema(conn: sqlite3.Connection, previous: Path) -> None:
    """A previous snapshot made by an older toolkit lacks columns this one writes: say so in
    one line (a full build is needed once), rather than fail half way through the refresh."""
    for table, columns in TABLES.items():
        have = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
        if have != list(columns):
            conn.close()
            raise SnapshotError("schema-changed", f"{previous}: made with another canonical "
                                                  f"schema (table {table}); run a full build "
                                                  "once, then refresh from that")


@dataclass
class PreviousSnapshot:
    """The house snapshot a refresh starts from, opened (writable, in memory)."""

    path: Path
    manifest: Manifest
    conn: sqlite3.Connection

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None


def open_previous(previous: Path, identity: Identity | None,
                  trusted_key: Ed25519PublicKey | None) -> PreviousSnapshot:
    """Verify, decrypt and open the previous house snapshot for a refresh."""
    if identity is None or trusted_key is None:
        raise SnapshotError("not-a-recipient", "an incremental build needs an identity that "
                                               "opens the previous snapshot and the trusted key")
    manifest, database = verify(previous, trusted_key, [identity])
    if manifest.scope != "house":
        raise SnapshotError("wrong-scope", f"{previous}: is a {manifest.scope} snapshot; an "
                                           "incremental build starts from a house snapshot")
    conn = load_database(database, writable=True)
    _same_schema(conn, previous)
    return PreviousSnapshot(Path(previous), manifest, conn)


def refresh_database(previous: Path, delta: Path, settings: BuildSettings,
                     identity: Identity | None, trusted_key: Ed25519PublicKey | None,
                     ) -> tuple[BuildResult, str]:
    """Apply a delta source to the previous house snapshot; return the result and its id."""
    opened = open_previous(previous, identity, trusted_key)
    return refresh(opened, delta, settings), opened.manifest.snapshot_id


def refresh(previous: PreviousSnapshot, delta: Path | Source, settings: BuildSettings
            ) -> BuildResult:
    """Apply a delta (an export on disk, or what a server gave: snapshots.pull) to the
    opened previous snapshot, with the garbage collector paused (snapshots.collector)."""
    with collector_paused():
        refresher = Refresher(settings, previous.conn, previous.manifest.sequence)
        source = delta if isinstance(delta, Source) else \
            Source(delta, refresher.ctx.gaps.bad_input)
        refresher.attach(source)
        for rec in source.bundle_records():
            refresher.ctx.resolver.register(rec.resource, rec.full_url)
        core_records = refresher.apply_deletes(source.core())
        later = refresher.read_core(core_records)
        refresher.read_clinical(later)
        refresher.read_clinical(refresher.apply_deletes(source.rest()))
        return refresher.finish(f"{previous.manifest.source} + delta {source.describe()}")
