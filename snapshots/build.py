"""Building the canonical database from a FHIR source.

Pass 1 reads the census-deciding resources (patients, encounters, locations, practitioners),
resolves merges and picks the active inpatients. Pass 2 streams every other resource, keeps
what belongs to a census patient within the configured windows, and maps it. Whatever cannot
be taken goes to the gap register; whatever is left out on purpose is counted per type.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import partial

from . import lost_records, map_allergy
from . import map_clinical as clinical
from . import map_core as core
from . import map_meds as meds
from .build_results import BuildResult, CensusAccount, PartialMap, TypeStats
from .checks import allergy_conflicts, timestamp_checks
from .fhirdata import as_list, text_of, to_datetime, utc_time
from .mapcontext import MapContext, is_r4_type
from .reading import CORE_TYPES, DELETE, MALFORMED_ENCOUNTER, Record, Source
from .report import build_report
from .schema import FTS_TABLE, create_schema, insert_rows, memory_connection, row_dict
from .settings import BuildSettings
from .sourcecensus import SourceCensus
from .structure import attachment_faults

# A tuple, not a set: a resourceType of the wrong shape (a list) must not raise here. The two
# types that make most of an export come first.
MAPPED_TYPES = ("Observation", "MedicationAdministration", "MedicationRequest",
                "AllergyIntolerance", "Condition", "Procedure", "DocumentReference", "Flag")
FLUSH_ROWS = 20_000


class Builder:
    def __init__(self, settings: BuildSettings, conn: sqlite3.Connection | None = None):
        """A build into a fresh database, or into `conn` (a refresh: the previous one)."""
        self.ctx = MapContext(settings)
        self.stats = TypeStats()
        if conn is None:
            conn = memory_connection(check_same_thread=False)
            conn.execute("PRAGMA journal_mode = OFF")
            conn.execute("PRAGMA synchronous = OFF")
            create_schema(conn)
        self.conn = conn
        self.batches: dict[str, list] = defaultdict(list)  # rows: dicts, or tuples (schema)
        self.census: dict[str, str] = {}
        self.patients: dict[str, tuple[dict, list[dict]]] = {}
        self.places: dict[str, core.Place] = {}
        self.place_lineage: dict[str, dict] = {}  # Location id -> lineage of its resource
        self.exclusions: list[dict] = []
        self.read_patients: set[str] = set()  # Patient resources this build read and took
        self.rejected_patients: dict[str, str] = {}  # patient id -> why it was not taken
        self.source_census = SourceCensus()
        self.pending = 0  # rows pass 2 has put in `batches` since the last flush
        self._targets: dict[str, str] = {}  # table -> where its rows go instead (divert)
        s = settings
        # Where the widest observation window and the vital-signs window begin (text).
        self.observation_cutoffs = (self.ctx.cutoff(days=max(s.vitals_hours / 24, s.labs_days)),
                                    self.ctx.window("vitals_hours")[0])

    # -- pass 1 -----------------------------------------------------------------------------
    def read_core(self, records: Iterable[Record]) -> list[Record]:
        """Group the census-deciding resources; return the others for pass 2."""
        grouped: dict[str, list[Record]] = defaultdict(list)
        later = []
        for rec in records:
            rtype = self._type_of(rec, count=False)
            if rtype is None:
                continue
            self.ctx.resolver.register(rec.resource, rec.full_url)
            if rtype in CORE_TYPES:
                self.stats.add(rtype, "read")
                grouped[rtype].append(rec)
            else:
                later.append(rec)
        for rtype in ("Medication", "Practitioner", "Organization", "PractitionerRole",
                      "Location", "Patient", "Encounter"):
            for rec in grouped.get(rtype, ()):
                if rtype in ("Organization", "PractitionerRole"):
                    self.stats.add(rtype, "ignored")
                else:
                    self._take_core(rtype, rec)
        self._fold_merges()
        return later

    def _take_core(self, rtype: str, rec: Record) -> None:
        """Check and map one census-deciding resource. A structurally wrong one (a list where
        a string belongs...) goes to the gap register and the build goes on; an active
        inpatient encounter that cannot be taken still counts in the source census, listed as
        excluded with the reason, so the report can never call an incomplete census complete."""
        mark = len(self.ctx.gaps.gaps)
        try:
            if self.ctx.check(rec):
                self._core(rtype, rec)
                return
        except Exception as e:  # noqa: BLE001 - any fault in one resource must not stop a build
            unmappable(self.ctx, rec, e)
        if rtype == "Encounter":
            self._account_rejected_encounter(rec, mark)
        elif rtype == "Patient" and isinstance(rec.resource.get("id"), str):
            # its encounter, if active, is excluded: say why the patient is not there
            self.rejected_patients[rec.resource["id"]] = "; ".join(
                g.detail for g in self.ctx.gaps.gaps[mark:] if g.severity == "error")
        self.stats.add(rtype, "rejected")

    def _account_rejected_encounter(self, rec: Record, mark: int) -> None:
        res, s = rec.resource, self.ctx.settings
        key = encounter_key(rec)
        if key in self.census.values() or any(e["encounter_id"] == key
                                              for e in self.exclusions):
            return  # already taken or excluded before the fault
        if not core.is_census_encounter(res, s.encounter_status, s.encounter_class):
            return
        self.source_census.add(key)
        why = "; ".join(f"{g.reason}: {g.detail}" for g in self.ctx.gaps.gaps[mark:]
                        if g.severity == "error") or "failed the structural checks"
        pid = self.ctx.resolver.patient_id(res.get("subject")) or ""
        self.exclusions.append({"encounter_id": key, "patient_id": pid,
                                "reason": f"rejected: {why}"[:300]})

    def _type_of(self, rec: Record, count: bool = True) -> str | None:
        rtype = rec.resource.get("resourceType")
        if not isinstance(rtype, str) or not rtype:
            self.ctx.gaps.add(rec.where, "not-a-resource", "JSON object without resourceType")
            return None
        if count:
            self.stats.add(rtype, "read")
        return rtype

    def _core(self, rtype: str, rec: Record) -> None:
        res = rec.resource
        if rtype == "Medication":
            self.ctx.medications[res["id"]] = text_of(res.get("code")) or res["id"]
            self.stats.add(rtype, "used")
        elif rtype == "Practitioner":
            self.batches["practitioners"].append(scalar_row(core.map_practitioner(self.ctx,
                                                                                  rec)))
            self.stats.add(rtype, "kept")
        elif rtype == "Location":
            place = core.map_location(self.ctx, rec)
            scalar_row(vars(place))
            self.places[place.id], self.place_lineage[place.id] = place, self.ctx.lineage(rec)
            self.stats.add(rtype, "used")
        elif rtype == "Patient":
            row, idents = core.map_patient(self.ctx, rec)
            self.patients[res["id"]] = scalar_row(row), [scalar_row(i) for i in idents]
            self.read_patients.add(res["id"])
        elif rtype == "Encounter":
            self._encounter(rec)

    def _fold_merges(self) -> None:
        """A replaced chart's identifiers move to the surviving chart (so its MRN still finds
        the patient); its clinical records follow through the resolver."""
        for old, _ in list(self.ctx.resolver.replaced_by.items()):
            new = self.ctx.resolver.patient_id(f"Patient/{old}")
            if old in self.patients and new in self.patients and new != old:
                row, idents = self.patients[new]
                row["merged_from"] = ",".join(filter(None, [row["merged_from"], old]))
                known = {(i["system"], i["value"]) for i in idents}
                idents.extend({**i, "patient_id": new} for i in self.patients[old][1]
                              if (i["system"], i["value"]) not in known)

    def _encounter(self, rec: Record) -> None:
        res, s = rec.resource, self.ctx.settings
        period = res.get("period") if isinstance(res.get("period"), dict) else {}
        start, end = to_datetime(period.get("start")), to_datetime(period.get("end"))
        if start and end and start > end:
            self.ctx.timestamp_issue(rec, "admit-after-discharge",
                                     f"period.start {period.get('start')} is after period.end "
                                     f"{period.get('end')}")
        elif start and end and _indeterminate(period["start"], period["end"]):
            self.ctx.timestamp_issue(rec, "indeterminate-period",
                                     f"period.start {period['start']} and period.end "
                                     f"{period['end']} differ in precision on the same day: "
                                     "which comes first cannot be told (FHIR per-1)")
        if not core.is_census_encounter(res, s.encounter_status, s.encounter_class):
            self.stats.add("Encounter", "not-in-census")
            return
        self.source_census.add(res["id"])
        pid = self.ctx.resolver.patient_id(res.get("subject"))
        reason = None
        if pid is None:
            reason = "subject is not a resolvable Patient reference"
        elif pid not in self.patients:
            reason = self._unknown_patient(pid)
        if reason:
            self._exclude(rec, pid or "", reason)
            return
        assert pid is not None
        # Mapped before a duplicate is resolved, so a fault here cannot leave the patient
        # with neither encounter.
        where = core.place(self.ctx, self.places, res)
        row = scalar_row(core.map_encounter(self.ctx, rec, pid, where))
        if pid in self.census:
            reason = self._duplicate_open_encounter(rec, pid)
            if reason:
                self._exclude(rec, pid, reason)
                return
        if where.unit_code == core.UNASSIGNED:
            self.ctx.gap(rec, "no-current-location", "open encounter without a resolvable "
                         "current location: listed under UNASSIGNED, in the house snapshot "
                         "only", "warning", pid)
        if self.patients[pid][0]["deceased"]:
            self.ctx.gap(rec, "deceased-open-encounter", "patient is recorded deceased but "
                         "the encounter is still in progress", "warning", pid)
        self.batches["encounters"].append(row)
        self.census[pid] = res["id"]
        self.stats.add("Encounter", "kept")

    def _unknown_patient(self, pid: str) -> str:
        if pid in self.rejected_patients:
            why = self.rejected_patients[pid] or "failed the structural checks"
            return f"patient {pid} was rejected: {why}"[:300]
        return f"patient {pid} is not in the source"

    def _duplicate_open_encounter(self, rec: Record, pid: str) -> str | None:
        """Two open inpatient encounters for one patient: keep the later admission."""
        kept_id = self.census[pid]
        kept = next(r for r in self.batches["encounters"] if r["id"] == kept_id)
        start = utc_time((rec.resource.get("period") or {}).get("start")) or ""
        if (kept["admitted_at"] or "") >= start:
            return f"patient {pid} already in census with encounter {kept_id} (later admission)"
        self.batches["encounters"].remove(kept)
        self.exclusions.append({"encounter_id": kept_id, "patient_id": pid,
                                "reason": f"superseded by later open encounter "
                                          f"{rec.resource['id']}"})
        self.stats.add("Encounter", "kept", -1)
        del self.census[pid]
        return None

    def _exclude(self, rec: Record, pid: str, reason: str) -> None:
        self.exclusions.append({"encounter_id": rec.resource["id"], "patient_id": pid,
                                "reason": reason})
        self.ctx.gap(rec, "census-exclusion", reason, patient_id=pid)
        self.stats.add("Encounter", "rejected")

    # -- pass 2 -----------------------------------------------------------------------------
    def read_clinical(self, records: Iterable[Record]) -> None:
        counts = self.stats.counts
        for rec in records:
            rtype = rec.resource.get("resourceType")
            if rtype not in MAPPED_TYPES:
                self._not_mapped(rtype, rec)
                continue
            tally = counts[rtype]  # TypeStats.add, inline: twice for every resource
            tally["read"] += 1
            mark = len(self.ctx.gaps.gaps)
            try:
                outcome = self._clinical(rtype, rec)
            except Exception as e:  # noqa: BLE001 - one bad resource must not stop a build
                unmappable(self.ctx, rec, e)
                outcome = "rejected"
            if outcome == "rejected":
                self._attribute(rec, mark)
            tally[outcome] += 1
            if self.pending >= FLUSH_ROWS:
                self.flush()

    def _attribute(self, rec: Record, mark: int) -> None:
        """A rejected record's error gaps (those from `mark` on) name its census patient and
        the status it carried (snapshots.lost_records)."""
        lost_records.attribute(self.ctx.gaps.gaps[mark:], rec.resource, self.ctx.resolver,
                               self.census)

    def _not_mapped(self, rtype: object, rec: Record) -> None:
        """A resource pass 2 does not map: counted, and a gap where it says something."""
        if not isinstance(rtype, str) or not rtype:
            self._type_of(rec)
        elif rtype in CORE_TYPES:
            self.stats.add(rtype, "read")
            self.ctx.gap(rec, "late-core-resource", f"{rtype} found after the census "
                         "was decided (misnamed file?); not used", "warning")
        else:
            self.stats.add(rtype, "read")
            self.stats.add(rtype, "ignored")
            if rtype == DELETE:  # a DELETE entry: only a refresh applies them
                self.ctx.gap(rec, "delete-in-full-build", f"DELETE "
                             f"{str(rec.resource.get('url'))[:80]!r} not applied: a "
                             "full build reads the source as it is", "warning")
            elif not is_r4_type(rtype):
                self.ctx.gap(rec, "unknown-resource-type", f"resourceType {rtype!r} "
                             "is not an R4 resource type; not used", "warning")
            elif rtype == "Media":  # not on the downtime chart, but say if broken
                for part in as_list(rec.resource.get("content")):
                    for fault in attachment_faults(part):
                        self.ctx.gap(rec, "invalid-attachment", f"{fault} (Media is "
                                     "not part of the downtime chart)", "warning")

    def _clinical(self, rtype: str, rec: Record) -> str:
        ctx = self.ctx
        if rtype == "Observation" and self._older_than_any_window(rec.resource):
            return "outside-window"  # most of an export's observations: skip them cheaply
        if not ctx.check(rec):
            return "rejected"
        res = rec.resource
        ref = res.get("patient") if rtype == "AllergyIntolerance" else res.get("subject")
        pid = ctx.resolver.patient_id(ref)
        if pid is None:
            ctx.gap(rec, "unresolved-subject", f"subject reference {_ref_text(ref)} does not "
                                               "resolve to a Patient")
            return "rejected"
        encounter = self.census.get(pid)
        if encounter is None:
            return "not-in-census"
        try:
            if rtype == "Observation":
                rows = clinical.map_observations(ctx, rec, pid, encounter)
                self.batches["observations"].extend(rows)
                self.pending += len(rows)
                return "kept"
            table, row = _MAPPERS[rtype](ctx, rec, pid, encounter)
        except clinical.OutsideWindow:
            return "outside-window"
        self.batches[table].append(row)
        self.pending += 1
        return "kept"

    def _older_than_any_window(self, res: dict) -> bool:
        when = res.get("effectiveDateTime")
        if not isinstance(when, str) or len(when) != 20 or not when.endswith("Z"):
            return False
        widest, vitals = self.observation_cutoffs
        if when < widest:
            return True
        # Vital signs have the shorter window: a third of an export's observations are vitals
        # older than it, and would otherwise be checked and mapped only to be dropped.
        return when < vitals and clinical.observation_category(res) == clinical.VITALS

    def flush(self) -> None:
        for table, rows in self.batches.items():
            try:
                insert_rows(self.conn, table, rows, self._targets.get(table))
            except (sqlite3.Error, OverflowError, TypeError, ValueError):
                self._insert_one_by_one(table, rows)
        self.batches.clear()
        self.pending = 0

    def _insert_one_by_one(self, table: str, rows: list[dict] | list[tuple]) -> None:
        """A batch failed (a value SQLite cannot store: a list or object where the mapper
        expected text). Insert row by row; each row that fails goes to the gap register."""
        failed: set[tuple[str, str]] = set()
        for row in map(partial(row_dict, table), rows):
            try:
                insert_rows(self.conn, table, [row], self._targets.get(table))
            except (sqlite3.Error, OverflowError, TypeError, ValueError) as e:
                rtype, rid = str(row.get("src_type") or ""), str(row.get("src_id") or "")
                bad = [c for c, v in row.items() if not _storable(v)]
                detail = (f"{table}.{', '.join(bad)} would hold a structured value where text "
                          "or a number belongs" if bad else f"{type(e).__name__}: {e}")
                self.ctx.gaps.add(str(row.get("_where") or f"{rtype}/{rid}"), "unmappable",
                                  detail[:300], resource_type=rtype, resource_id=rid,
                                  patient_id=str(row.get("patient_id") or ""))
                self.ctx.gaps.gaps[-1].record_status = lost_records.row_status(table, row)
                if (rtype, rid) not in failed:
                    failed.add((rtype, rid))
                    self.stats.add(rtype, "kept", -1)
                    self.stats.add(rtype, "rejected")

    def attach(self, source: Source) -> None:
        """Have the source report its faults to this build's gap register, telling apart
        unreadable bytes that look like an active encounter (see `_unreadable_encounters`)."""
        source.on_bad = self.ctx.gaps.bad_input
        marks = [f'"{status}"'.encode() for status in self.ctx.settings.encounter_status]
        source.looks_active = lambda data: any(m in data for m in marks)
        for where, reason, detail in source.faults:
            self.ctx.gaps.bad_input(where, reason, detail)

    def _unreadable_encounters(self) -> None:
        """A line that is not JSON but names an Encounter with a selected status may be an
        active inpatient the build cannot see: it counts in the source census, as excluded,
        so the census is not called complete."""
        known = {e["encounter_id"] for e in self.exclusions}
        for g in self.ctx.gaps.gaps:
            key = f"(unreadable: {g.where})"
            if g.reason != MALFORMED_ENCOUNTER or key in known:
                continue
            known.add(key)
            self.source_census.append(key)
            self.exclusions.append({"encounter_id": key, "patient_id": "", "reason":
                                    "not valid JSON, yet it names an Encounter with an active "
                                    "status: fix the export and build again"})

    # -- mapping a share of pass 2 elsewhere (snapshots.parallel_map) ------------------------
    @contextmanager
    def diverted(self, table: str, target: str) -> Iterator[None]:
        """While inside, rows for `table` are inserted into `target` (a table of the same
        columns in an attached database) instead."""
        self.flush()
        self._targets[table] = target
        try:
            yield
            self.flush()
        finally:
            self._targets.pop(table, None)

    def start_partial(self) -> int:
        """In a forked child: map into a fresh database of the schema, with counts and
        counters of its own; returns the mark of the gaps found from here on."""
        self.conn = memory_connection()
        create_schema(self.conn)
        self.stats = TypeStats()
        self.ctx.reset_counters()
        return len(self.ctx.gaps.gaps)

    def partial(self, mark: int) -> PartialMap:
        """What this child mapped since start_partial() returned `mark`."""
        self.flush()
        self.conn.commit()
        return PartialMap(self.conn.serialize(), self.ctx.gaps.gaps[mark:],
                          {k: dict(v) for k, v in self.stats.counts.items()},
                          self.ctx.counters())

    def absorb(self, part: PartialMap) -> None:
        """A child's gaps, counts and counters (its rows are copied in by the caller)."""
        self.ctx.gaps.gaps.extend(part.gaps)
        for rtype, outcomes in part.counts.items():
            for outcome, n in outcomes.items():
                self.stats.add(rtype, outcome, n)
        self.ctx.add_counters(part.counters)

    # -- finishing --------------------------------------------------------------------------
    def finish(self, source_text: str) -> BuildResult:
        self._unreadable_encounters()
        for pid in self.census:
            row, idents = self.patients[pid]
            self.batches["patients"].append(row)
            self.batches["identifiers"].extend(idents)
        self._count_patients()
        self.batches["census_exclusions"].extend(self.exclusions)
        self.flush()
        self._units()
        self._name_alerts()
        self._search_index()
        self._downtime_ids()
        timestamp_checks(self.conn, self.ctx)
        allergy_conflicts(self.conn, self.ctx)
        report = build_report(self.conn, self.ctx,
                              CensusAccount(self.census, self.exclusions, self.source_census),
                              self.stats, source_text)
        start = self.conn.execute("SELECT coalesce(max(seq), 0) FROM gaps").fetchone()[0]
        insert_rows(self.conn, "gaps", self.ctx.gaps.rows(start))
        insert_rows(self.conn, "meta", [
            {"key": "as_of", "value": self.ctx.as_of.strftime("%Y-%m-%dT%H:%M:%SZ")},
            {"key": "source", "value": source_text},
            {"key": "scope", "value": "house"},
            {"key": "build_report", "value": _json(report)}])
        self.conn.commit()
        return BuildResult(self.conn, self.ctx.gaps, self.stats, report, dict(self.census))

    def _count_patients(self) -> None:
        self.stats.add("Patient", "not-in-census", len(set(self.patients) - set(self.census)))
        self.stats.add("Patient", "kept", len(self.census))

    def _units(self) -> None:
        insert_rows(self.conn, "locations", [
            {"id": p.id, "name": p.name, "physical": p.physical, "parent": p.parent,
             "code": p.code, "kind": p.kind, **self.place_lineage[p.id]}
            for p in self.places.values()])
        used = {r[0] for r in self.conn.execute("SELECT DISTINCT unit_id FROM encounters "
                                                "WHERE unit_id IS NOT NULL")}
        rows = [core.unit_row(p, self.place_lineage[p.id]) for p in
                self.places.values() if p.physical == "wa" or p.id in used]
        insert_rows(self.conn, "units", rows)

    def _name_alerts(self) -> None:
        rows = self.conn.execute("SELECT e.patient_id, e.unit_code, p.family, p.given FROM "
                                 "encounters e JOIN patients p ON p.id = e.patient_id").fetchall()
        alerts = core.name_alerts(rows)
        self.conn.executemany("UPDATE encounters SET name_alert = 1, name_alert_with = ? "
                              "WHERE patient_id = ?",
                              [(",".join(sorted(v)), k) for k, v in alerts.items()])

    def _search_index(self) -> None:
        self.conn.execute(
            f"INSERT INTO {FTS_TABLE}(patient_id, encounter_id, name, mrns, bed) "
            "SELECT p.id, e.id, coalesce(p.given, '') || ' ' || coalesce(p.family, '') || ' ' || "
            "coalesce(p.name, ''), (SELECT group_concat(value, ' ') FROM identifiers i "
            "WHERE i.patient_id = p.id) || ' ' || p.mrn, coalesce(e.bed, '') || ' ' || "
            "coalesce(e.room, '') FROM patients p JOIN encounters e ON e.patient_id = p.id")

    def _downtime_ids(self) -> None:
        s = self.ctx.settings
        rows = []
        for (code,) in self.conn.execute("SELECT code FROM units ORDER BY code"):
            for i in range(s.pool_size):
                n = s.downtime_range_start + i
                rows.append({"unit_code": code, "kind": "mrn",
                             "value": f"{s.downtime_mrn_prefix}-{code}-{n}"})
                rows.append({"unit_code": code, "kind": "encounter",
                             "value": f"{s.downtime_encounter_prefix}-{code}-{n}"})
        insert_rows(self.conn, "downtime_ids", rows)


def _indeterminate(start: str, end: str) -> bool:
    """A date and a date-time (or two precisions) on the same day: not orderable."""
    return len(start) != len(end) and min(len(start), len(end)) <= 10 and \
        start[:10] == end[:10]


_STORABLE = (str, int, float, bytes)


def _storable(value: object) -> bool:
    return value is None or (isinstance(value, _STORABLE) and
                             (not isinstance(value, int) or -(1 << 63) <= value < 1 << 63))


def scalar_row(row: dict) -> dict:
    """The row, if every value is one SQLite can store; else ValueError naming the fields.
    Used for the census-deciding rows (a few per patient), checked as they are mapped so a bad
    one is rejected before it can leave a patient half in the census."""
    # Text and nulls (most values) are storable without asking.
    bad = [k for k, v in row.items() if v is not None and type(v) is not str
           and not _storable(v)]
    if bad:
        raise ValueError(f"{', '.join(bad)}: a structured value where text or a number belongs")
    return row


def encounter_key(rec: Record) -> str:
    """The encounter's id, or where it was read when it has no usable id."""
    rid = rec.resource.get("id")
    return rid if isinstance(rid, str) and rid else f"(no id: {rec.where})"


def unmappable(ctx: MapContext, rec: Record, error: Exception) -> None:
    """A resource whose structure the mappers could not take: to the gap register, with
    what was wrong. Only on this (rare) path is the resource validated against the R4 model,
    whose first errors name the elements at fault."""
    ctx.gap(rec, "unmappable", f"not mapped: {_what_was_wrong(rec.resource, error)}"[:300])


def _what_was_wrong(res: dict, error: Exception) -> str:
    """The R4 model's first errors, which name the FHIR elements at fault ("gender: Input
    should be a valid string"); else what the mapper said."""
    try:
        from fhir.resources.R4B import get_fhir_model_class

        get_fhir_model_class(str(res.get("resourceType"))).model_validate(res)
    except Exception as invalid:  # noqa: BLE001 - pydantic or KeyError: either way, describe
        errors = getattr(invalid, "errors", None)
        found = errors() if callable(errors) else None
        if isinstance(found, list) and found:
            return "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
                             for e in found[:3] if isinstance(e, dict))
    if isinstance(error, ValueError) and "structured value" in str(error):
        return str(error)
    return f"{type(error).__name__}: {error}"


def _ref_text(ref: object) -> str:
    if isinstance(ref, dict):
        ref = ref.get("reference")
    return repr(ref)[:80]


def _json(value: object) -> str:
    import json

    return json.dumps(value, sort_keys=True)


def _one(mapper, table: str, with_encounter: bool = False):
    def call(ctx, rec, pid, encounter):
        row = mapper(ctx, rec, pid, encounter) if with_encounter else mapper(ctx, rec, pid)
        return table, row
    return call


_MAPPERS = {
    "AllergyIntolerance": _one(map_allergy.map_allergy, "allergies"),
    "Condition": _one(clinical.map_condition, "problems"),
    "Procedure": _one(clinical.map_procedure, "procedures"),
    "DocumentReference": _one(clinical.map_document, "notes", True),
    "Flag": _one(clinical.map_flag, "flags"),
    "MedicationRequest": _one(meds.map_med_order, "med_orders", True),
    "MedicationAdministration": _one(meds.map_administration, "administrations"),
}
