"""The canonical downtime schema: what a snapshot's SQLite database holds.

One table per clinical concept the downtime chart needs, each row carrying its lineage (the
source resource it came from). `docs/canonical-schema.md` describes every column for readers
who only have `sqlite3`; keep the two in step (a test compares them).

Times are ISO 8601 strings in UTC (`2026-11-25T14:05:00Z`), dates `YYYY-MM-DD`.
Booleans are 0/1 integers. `restricted` is 1 where the source carried confidentiality R or V.
"""

from __future__ import annotations

import operator
import sqlite3
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils

# Python's sqlite3 binds int, float, str and bytearray as they are, but sends None and bytes
# through its adapter protocol first: a registry miss, then two attribute lookups, about a
# microsecond a value, and a build binds millions of them (many columns are often NULL, every
# row carries its hash as bytes). An adapter registered for each that returns the value
# itself turns that into one registry hit; what is stored does not change (None is NULL, bytes
# a BLOB), in this connection or any other of the process.
sqlite3.register_adapter(type(None), {}.get)  # {}.get(None) is None: an identity, in C
sqlite3.register_adapter(bytes, bytes)  # bytes(b) is b

SCHEMA_VERSION = 3  # 3: allergies.no_known_scope and .unreadable, gaps.record_status
# 2: src_hash is a 16-byte BLOB (was 32 hex digits as TEXT)

# Every clinical row remembers where it came from, so a clinician or an auditor can trace a
# value on screen back to the EHR resource and version it was copied from.
LINEAGE: dict[str, type] = {
    "src_type": str,
    "src_id": str,
    "src_version": str,
    "src_updated": str,
    "src_hash": bytes,  # first 16 bytes of SHA-256 of the canonical JSON (hex(src_hash))
}

TABLES: dict[str, dict[str, type]] = {
    "patients": {
        "id": str,
        "mrn": str,
        "family": str,
        "given": str,
        "name": str,  # display form: "SMITH, John"
        "birth_date": str,
        "sex": str,
        "deceased": int,
        "deceased_at": str,
        "merged_from": str,  # ids of replaced charts folded into this one, comma separated
        **LINEAGE,
    },
    "identifiers": {
        "patient_id": str,
        "system": str,
        "value": str,
        "type": str,
        "facility": str,
        **LINEAGE,  # the Patient resource the identifier was read from
    },
    "units": {
        "id": str,  # Location id of the ward
        "code": str,  # short code, e.g. "4W"
        "name": str,
        "kind": str,
        **LINEAGE,
    },
    "locations": {  # every Location (unit, room, bed), so a refresh can place a transfer
        "id": str,
        "name": str,
        "physical": str,  # wa | ro | bd | ...
        "parent": str,
        "code": str,
        "kind": str,
        **LINEAGE,
    },
    "encounters": {
        "id": str,
        "patient_id": str,
        "status": str,
        "class": str,
        "unit_id": str,
        "unit_code": str,
        "room": str,
        "bed": str,
        "admitted_at": str,
        "discharged_at": str,
        "attending_id": str,
        "attending": str,
        "reason": str,
        "previous_units": str,  # unit codes earlier in this stay, oldest first, comma separated
        "name_alert": int,
        "name_alert_with": str,  # the patient ids whose names are alike, comma separated
        **LINEAGE,
    },
    "allergies": {
        "id": str,
        "patient_id": str,
        "substance": str,
        "code": str,
        "system": str,
        "coded": int,
        "no_known": int,  # 1 = a recorded "no known ... allergy" statement
        "no_known_scope": str,  # what it covers: all | drug | food | environmental | latex...
        "category": str,
        "criticality": str,
        "reaction": str,
        "severity": str,
        "clinical_status": str,
        "verification_status": str,
        "recorded_at": str,
        "restricted": int,
        "unreadable": str,  # what of the record could not be read ("criticality '3' ...")
        **LINEAGE,
    },
    "problems": {
        "id": str,
        "patient_id": str,
        "code": str,
        "system": str,
        "display": str,
        "clinical_status": str,
        "onset": str,
        "restricted": int,
        **LINEAGE,
    },
    "med_orders": {
        "id": str,
        "patient_id": str,
        "encounter_id": str,
        "medication": str,
        "code": str,
        "system": str,
        "dose": str,  # "25 mg"
        "dose_value": float,
        "dose_unit": str,
        "rate": str,  # IV rate, "100 mL/h"
        "route": str,
        "frequency": str,  # "BID", "Q4H", or the dosage text
        "times": str,  # scheduled times of day, "09:00,21:00"
        "interval_hours": float,  # for every-N-hours schedules
        "prn": int,
        "prn_reason": str,
        "iv": int,
        "status": str,  # active | on-hold | stopped | completed | ...
        "status_note": str,  # why the status differs from the source's, e.g. legacy HELD code
        "instructions": str,
        "authored_at": str,
        "prescriber": str,
        "restricted": int,
        **LINEAGE,
    },
    "administrations": {
        "id": str,
        "patient_id": str,
        "order_id": str,
        "medication": str,
        "given_at": str,
        "status": str,
        "dose": str,
        "route": str,
        "performer": str,
        **LINEAGE,
    },
    "observations": {
        "id": str,
        "patient_id": str,
        "encounter_id": str,
        "category": str,  # vital-signs | laboratory | other
        "code": str,
        "system": str,
        "display": str,
        "value_num": float,
        "value_text": str,
        "unit": str,
        "effective_at": str,
        "ref_low": float,
        "ref_high": float,
        "ref_text": str,
        "flag": str,  # interpretation: N, H, L, HH, LL, A
        "restricted": int,
        **LINEAGE,
    },
    "procedures": {
        "id": str,
        "patient_id": str,
        "code": str,
        "system": str,
        "display": str,
        "status": str,
        "performed_at": str,
        "restricted": int,
        **LINEAGE,
    },
    "notes": {
        "id": str,
        "patient_id": str,
        "encounter_id": str,
        "title": str,
        "kind": str,
        "author": str,
        "written_at": str,
        "content_type": str,
        "text": str,  # decoded text for text/* attachments
        "data": bytes,  # the attachment itself for anything else (scanned PDFs)
        "size": int,
        "restricted": int,
        **LINEAGE,
    },
    "flags": {
        "id": str,
        "patient_id": str,
        "kind": str,  # code-status | isolation | fall-risk | other
        "text": str,
        "status": str,
        "since": str,
        **LINEAGE,
    },
    "practitioners": {
        "id": str,
        "name": str,
        "npi": str,
        **LINEAGE,
    },
    "downtime_ids": {
        "unit_code": str,
        "kind": str,  # mrn | encounter
        "value": str,
    },
    "gaps": {
        "seq": int,
        "where": str,  # file:line, or the resource reference
        "resource_type": str,
        "resource_id": str,
        "patient_id": str,
        "reason": str,  # short machine-readable class, e.g. "malformed-json"
        "detail": str,
        # the status of the record the gap is about, where it could be read (a
        # MedicationRequest's status, an AllergyIntolerance's clinical status): whether an
        # order or allergy that did not load was active
        "record_status": str,
    },
    "census_exclusions": {
        "encounter_id": str,
        "patient_id": str,
        "reason": str,
    },
    "meta": {
        "key": str,
        "value": str,
    },
}

PRIMARY_KEYS: dict[str, str | tuple[str, ...]] = {
    "patients": "id",
    "units": "id",
    "locations": "id",
    "encounters": "id",
    "allergies": "id",
    "problems": "id",
    "med_orders": "id",
    "administrations": "id",
    "observations": "id",
    "procedures": "id",
    "notes": "id",
    "flags": "id",
    "practitioners": "id",
    "identifiers": ("patient_id", "system", "value"),
    "downtime_ids": ("kind", "value"),
    "gaps": "seq",
    "census_exclusions": "encounter_id",
    "meta": "key",
}

# Only what the chart, forms and refresh look rows up by: every index is stored in the
# snapshot, and opening one needs about twice its size in memory (docs/snapshot-format.md).
# Observations, most of the rows, are read per patient (a few hundred at most, so filtering
# and ordering them needs no wider index); a refresh finds a resource's rows by primary key.
INDEXES: list[tuple[str, list[str]]] = [
    ("encounters", ["patient_id"]),
    ("encounters", ["unit_code"]),
    ("identifiers", ["value"]),
    ("allergies", ["patient_id"]),
    ("problems", ["patient_id"]),
    ("med_orders", ["patient_id"]),
    ("administrations", ["order_id", "given_at"]),
    ("administrations", ["patient_id"]),
    ("observations", ["patient_id"]),
    ("procedures", ["patient_id"]),
    ("notes", ["patient_id"]),
    ("flags", ["patient_id"]),
    ("downtime_ids", ["unit_code", "kind"]),
]

# Tables whose rows belong to one patient: the unit of selection, deletion and refresh.
PATIENT_TABLES = (
    "identifiers",
    "encounters",
    "allergies",
    "problems",
    "med_orders",
    "administrations",
    "observations",
    "procedures",
    "notes",
    "flags",
)

FTS_TABLE = "patient_search"


def memory_connection(check_same_thread: bool = True) -> sqlite3.Connection:
    """An in-memory database whose temporary tables and sort spills stay in memory too:
    SQLite's default (compile-time TEMP_STORE=1) would write large sorts and indexes to temp
    files, in plaintext."""
    conn = sqlite3.connect(":memory:", check_same_thread=check_same_thread)
    conn.execute("PRAGMA temp_store = MEMORY")
    return conn


def create_schema(conn: sqlite3.Connection) -> sqlite_utils.Database:
    """Create every canonical table, index and the full-text index in an empty database."""
    import sqlite_utils  # here, not at the top: opening a snapshot need not load it (13 MB)

    # 8 KiB pages: 2% smaller than 4 KiB at 5,000 inpatients and a little faster to fill (set
    # before the first table, the only time it can be). Temporary b-trees and sorts stay in
    # memory: with the default they may spill patient data to a temp file on disk.
    conn.execute("PRAGMA page_size = 8192")
    conn.execute("PRAGMA temp_store = MEMORY")
    db = sqlite_utils.Database(conn)
    for name, columns in TABLES.items():
        db[name].create(columns, pk=PRIMARY_KEYS[name], not_null=_not_null(name))
    for table, columns in INDEXES:
        db[table].create_index(columns)
    conn.execute(
        f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5("
        "patient_id UNINDEXED, encounter_id UNINDEXED, name, mrns, bed, "
        "tokenize = 'unicode61 remove_diacritics 2', prefix = '1 2 3')"
    )
    conn.execute("INSERT INTO meta(key, value) VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
    return db


def _not_null(table: str) -> set[str]:
    pk = PRIMARY_KEYS[table]
    return set(pk) if isinstance(pk, tuple) else {pk}


def insert_rows(conn: sqlite3.Connection, table: str, rows: list[dict] | list[tuple],
                into: str | None = None) -> None:
    """Bulk insert-or-replace rows into a canonical table, or into `into` (a table of the same
    columns, e.g. in an attached database). Rows are dicts keyed by column name, or tuples of
    the columns in order followed by anything else (only the columns are stored)."""
    if not rows:
        return
    columns = list(TABLES[table])
    placeholders = ", ".join("?" for _ in columns)
    names = ", ".join(f"[{c}]" for c in columns)
    if type(rows[0]) is tuple:
        params = map(_leading(len(columns)), rows)  # in C: no Python call a row
    else:
        params = (tuple(map(row.get, columns)) for row in rows)  # streamed: no second list
    conn.executemany(f"INSERT OR REPLACE INTO {into or table} ({names}) VALUES ({placeholders})",
                     params)


@cache
def _leading(n: int) -> operator.itemgetter:
    """What takes the first n items of a tuple row."""
    return operator.itemgetter(slice(0, n))


def row_dict(table: str, row: dict | tuple) -> dict:
    """A row as a dict keyed by column; a tuple row's item after the columns (where the record
    was read) under `_where`."""
    if isinstance(row, dict):
        return row
    columns = list(TABLES[table])
    found = dict(zip(columns, row, strict=False))
    if len(row) > len(columns):
        found["_where"] = row[len(columns)]
    return found
