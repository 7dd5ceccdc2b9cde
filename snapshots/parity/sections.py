"""The chart sections a parity check compares, read from a canonical database per patient.

A section is a table (or part of one) of the canonical model; a record of it is a row less
what names the row rather than says something about the patient (resource ids, the
encounter and order ids, the source's lineage: a migrated record has a new id and a new
`meta.lastUpdated` by design). Documents are compared by a SHA-256 of their bytes."""

from __future__ import annotations

import hashlib
import sqlite3
from collections import defaultdict
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter

import orjson

from ..schema import TABLES

# Columns that name a row, a link or its source rather than the patient's record.
NOT_CONTENT = frozenset({"id", "patient_id", "encounter_id", "order_id", "attending_id",
                         "unit_id", "src_type", "src_id", "src_version", "src_updated",
                         "src_hash"})
TIME_COLUMNS = frozenset({"recorded_at", "onset", "authored_at", "given_at", "effective_at",
                          "performed_at", "written_at", "since", "admitted_at",
                          "discharged_at", "deceased_at"})
CODE_COLUMNS = frozenset({"code", "system"})


@dataclass(frozen=True)
class Section:
    name: str  # as the report says it: "allergies"
    table: str
    where: str  # SQL condition on the table's rows
    label: tuple[str, ...]  # the columns that name a record in words
    key: tuple[str, ...]  # the columns that pair records whose ids differ

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(c for c in TABLES[self.table] if c not in NOT_CONTENT)


SECTIONS = (
    Section("encounter", "encounters", "1", ("bed",), ("class",)),
    Section("allergies", "allergies", "1", ("substance",), ("substance",)),
    Section("problems", "problems", "1", ("display",), ("display", "onset")),
    Section("medications", "med_orders", "1", ("medication",), ("medication", "authored_at")),
    Section("medication history", "administrations", "1", ("medication", "given_at"),
            ("medication", "given_at")),
    Section("labs", "observations", "category IS NOT 'vital-signs'",
            ("display", "effective_at"), ("display", "effective_at")),
    Section("vitals", "observations", "category IS 'vital-signs'",
            ("display", "effective_at"), ("display", "effective_at")),
    Section("procedures", "procedures", "1", ("display", "performed_at"),
            ("display", "performed_at")),
    Section("notes", "notes", "data IS NULL", ("title", "written_at"), ("title", "written_at")),
    Section("documents", "notes", "data IS NOT NULL", ("title", "written_at"),
            ("title", "written_at")),
    Section("flags", "flags", "1", ("kind",), ("kind", "text")),
)
MEDICATION_SECTIONS = ("medications", "medication history")
IDENTITY = "identity"
ALL_SECTIONS = (IDENTITY, *(s.name for s in SECTIONS))


@dataclass
class Record:
    """One record of a section: its id in its source and its content, column by column."""

    id: str
    values: dict[str, object]

    def label(self, columns: tuple[str, ...]) -> str:
        return " ".join(str(self.values.get(c)) for c in columns
                        if self.values.get(c) not in (None, ""))


Chart = dict[str, list[Record]]  # section -> records of one patient


def read_charts(conn: sqlite3.Connection, patients: set[str] | None = None
                ) -> dict[str, Chart]:
    """Every section of every census patient (or of `patients` only)."""
    conn.create_function("sha256hex", 1, _sha256, deterministic=True)
    charts: dict[str, Chart] = defaultdict(lambda: defaultdict(list))
    for section in SECTIONS:
        columns = section.columns
        selected = ", ".join("sha256hex(data)" if c == "data" else f"[{c}]" for c in columns)
        sql = f"SELECT patient_id, id, {selected} FROM {section.table} WHERE {section.where}"
        args: tuple = ()
        if patients is not None:  # the few charts that differ: SQLite picks them by index
            sql += " AND patient_id IN (SELECT value FROM json_each(?))"
            args = (orjson.dumps(sorted(patients)).decode(),)
        for row in conn.execute(sql, args):
            values = dict(zip(columns, row[2:], strict=True))
            charts[row[0]][section.name].append(Record(row[1], values))
    for pid, records in _identity(conn).items():
        if patients is None or pid in patients:
            charts[pid][IDENTITY] = records
    return charts


Digest = dict[str, tuple[bytes, int]]  # section -> (SHA-256 of its content, records)


def read_digests(conn: sqlite3.Connection) -> dict[str, Digest]:
    """Every census patient's section hashes (and record counts), streamed from the
    database patient by patient: no record is held beyond its patient's section."""
    conn.create_function("sha256hex", 1, _sha256, deterministic=True)
    digests: dict[str, Digest] = defaultdict(dict)
    for section in SECTIONS:
        selected = ", ".join("sha256hex(data)" if c == "data" else f"[{c}]"
                             for c in section.columns)
        rows = conn.execute(f"SELECT patient_id, {selected} FROM {section.table} WHERE "
                            f"{section.where} ORDER BY patient_id")
        for pid, group in groupby(rows, key=itemgetter(0)):
            lines = sorted(orjson.dumps(row[1:]) for row in group)
            digests[pid][section.name] = (hashlib.sha256(b"\n".join(lines)).digest(),
                                          len(lines))
    for pid, records in _identity(conn).items():
        lines = sorted(orjson.dumps(list(r.values.values())) for r in records)
        digests[pid][IDENTITY] = (hashlib.sha256(b"\n".join(lines)).digest(), len(lines))
    return digests


def _identity(conn: sqlite3.Connection) -> dict[str, list[Record]]:
    """The patient's own row, each identifier, and each chart merged into it (by the merged
    chart's MRN where its identifiers say it, else its id: ids change in a migration)."""
    found: dict[str, list[Record]] = defaultdict(list)
    mrn_of: dict[str, str] = {}
    for pid, system, value, kind, facility in conn.execute(
            "SELECT patient_id, system, value, type, facility FROM identifiers ORDER BY rowid"):
        found[pid].append(Record(f"identifier {system}|{value}", {
            "identifier": f"{facility or system or '(no system)'} {value}", "type": kind}))
    for row in conn.execute("SELECT src_id, value FROM identifiers WHERE type = 'MR' AND "
                            "src_id IS NOT NULL ORDER BY rowid"):
        mrn_of.setdefault(row[0], row[1])
    for row in conn.execute("SELECT id, mrn, family, given, name, birth_date, sex, deceased, "
                            "deceased_at, merged_from FROM patients"):
        pid, merged = row[0], row[9]
        found[pid].append(Record("patient", dict(zip(
            ("mrn", "family", "given", "name", "birth_date", "sex", "deceased", "deceased_at"),
            row[1:9], strict=True))))
        for old in filter(None, (merged or "").split(",")):
            who = mrn_of.get(old)
            link = f"the chart of MRN {who}" if who else f"chart {old}"
            found[pid].append(Record(f"merged {who or old}", {"merged chart": link}))
    return found


def _sha256(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


def census_labels(conn: sqlite3.Connection) -> dict[str, dict[str, str]]:
    """Who each census patient is, as a report names them: bed, name and MRN."""
    return {pid: {"id": pid, "bed": bed or unit or "", "name": name or "", "mrn": mrn or "",
                  "family": family or "", "given": given or "", "birth_date": born or "",
                  "unit": unit or ""}
            for pid, bed, unit, name, mrn, family, given, born in conn.execute(
                "SELECT p.id, e.bed, e.unit_code, p.name, p.mrn, p.family, p.given, "
                "p.birth_date FROM patients p LEFT JOIN encounters e ON e.patient_id = p.id")}
