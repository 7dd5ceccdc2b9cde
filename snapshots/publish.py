"""Publishing a built database as sealed snapshot files: one whole-house snapshot for pharmacy
and escrow and, with per-unit publishing, one per unit holding only that unit's patients and
encrypted only to that unit's workstations (plus pharmacy and escrow): least privilege."""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from . import sealed
from .manifest import Manifest
from .schema import FTS_TABLE, TABLES, create_schema, memory_connection
from .store import file_name, highest_sequence

SEQUENCE_FILE = ".sequence"


@dataclass
class Recipients:
    """Who may open which snapshot (age1... recipients)."""

    escrow: list[str] = field(default_factory=list)
    pharmacy: list[str] = field(default_factory=list)
    builder: list[str] = field(default_factory=list)  # to open the previous house snapshot
    units: dict[str, list[str]] = field(default_factory=dict)

    def for_house(self) -> list[str]:
        everyone = [r for unit in self.units.values() for r in unit]
        return sorted(set(self.escrow + self.pharmacy + self.builder + everyone))

    def for_house_only(self) -> list[str]:
        return sorted(set(self.escrow + self.pharmacy + self.builder))

    def for_unit(self, unit: str) -> list[str]:
        return sorted(set(self.units.get(unit, []) + self.escrow + self.pharmacy))


def next_sequence(store: Path, trusted_key: Ed25519PublicKey | None = None) -> int:
    """One more than any sequence this builder has published into the store, even if since
    pruned (remembered in a `.sequence` file the builder signs). Given the builder's public
    key, files and a `.sequence` it did not sign are not counted."""
    return max(_remembered(store, trusted_key), highest_sequence(store, trusted_key)) + 1


def _sequence_message(sequence: int) -> bytes:
    return f"downtime-store-sequence/1:{sequence}".encode()


def _remembered(store: Path, trusted_key: Ed25519PublicKey | None) -> int:
    try:
        number, _, signature = (Path(store) / SEQUENCE_FILE).read_text().strip().partition(" ")
        sequence = int(number)
        if trusted_key is not None:
            trusted_key.verify(base64.b64decode(signature, validate=True),
                               _sequence_message(sequence))
    except (OSError, ValueError, InvalidSignature):
        return 0
    return sequence


def _remember(store: Path, sequence: int, key: Ed25519PrivateKey) -> None:
    signature = base64.b64encode(key.sign(_sequence_message(sequence))).decode()
    (Path(store) / SEQUENCE_FILE).write_text(f"{sequence} {signature}\n")


def previous_sequence(house: sqlite3.Connection) -> int:
    """The sequence of the snapshot an incremental build started from (meta, 0 if none)."""
    row = house.execute("SELECT value FROM meta WHERE key = 'previous_sequence'").fetchone()
    try:
        return int(row[0]) if row else 0
    except (TypeError, ValueError):
        return 0


def unit_database(house: sqlite3.Connection, unit: str) -> sqlite3.Connection:
    """A fresh database with only the unit's patients: no other patient's bytes, not even in
    free pages, end up in a unit's file."""
    conn = memory_connection()
    create_schema(conn)
    conn.execute("DELETE FROM meta")
    patients = [p for (p,) in house.execute(
        "SELECT patient_id FROM encounters WHERE unit_code = ?", (unit,))]
    marks = ",".join("?" * len(patients))
    for table, columns in TABLES.items():
        names = ", ".join(f"[{c}]" for c in columns)
        if table in ("units", "downtime_ids"):
            key = "code" if table == "units" else "unit_code"
            query, params = f"SELECT {names} FROM {table} WHERE {key} = ?", [unit]
        elif table == "patients":
            query, params = f"SELECT {names} FROM patients WHERE id IN ({marks})", patients
        elif "patient_id" in columns:
            query, params = f"SELECT {names} FROM {table} WHERE patient_id IN ({marks})", patients
        else:
            query, params = f"SELECT {names} FROM {table}", []
        rows = house.execute(query, params).fetchall()
        if table == "meta":
            rows = [(k, f"unit:{unit}" if k == "scope" else
                     unit_report(v, unit, len(patients), patients) if k == "build_report" else v)
                    for k, v in rows]
        conn.executemany(f"INSERT OR REPLACE INTO {table} ({names}) VALUES "
                         f"({', '.join('?' * len(columns))})", rows)
    fts = house.execute(f"SELECT patient_id, encounter_id, name, mrns, bed FROM {FTS_TABLE} "
                        f"WHERE patient_id IN ({marks})", patients).fetchall()
    conn.executemany(f"INSERT INTO {FTS_TABLE}(patient_id, encounter_id, name, mrns, bed) "
                     "VALUES (?, ?, ?, ?, ?)", fts)
    conn.commit()
    return conn


def unit_report(text: str, unit: str, in_unit: int, patients: Sequence[str] = ()) -> str:
    """The house build report cut down for one unit's file: no other unit's figures and no
    patient or encounter ids from outside the unit (the census lists of excluded encounters
    are in the house snapshot; the unit file keeps their number and whether the house census
    is complete)."""
    try:
        report = json.loads(text)
        census = report["census"]
    except (ValueError, KeyError, TypeError):
        return "{}"
    census["excluded_elsewhere"] = len(census.get("excluded", []))
    census["unaccounted_elsewhere"] = len(census.get("unaccounted", []))
    census["excluded"], census["unaccounted"] = [], []
    mine = set(patients)
    lost = report.get("records_not_loaded") or []
    report["records_not_loaded"] = [r for r in lost if r.get("patient_id") in mine]
    report["records_not_loaded_elsewhere"] = len(lost) - len(report["records_not_loaded"])
    census["house_in_snapshot"] = census.get("in_snapshot")
    census["in_snapshot"] = in_unit
    report["units"] = {u: n for u, n in (report.get("units") or {}).items() if u == unit}
    report["scope"] = f"unit:{unit}"
    return json.dumps(report, sort_keys=True)


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("patients", "encounters", "allergies", "med_orders", "administrations",
                      "observations", "notes", "gaps")}


def publish(
    house: sqlite3.Connection,
    out_dir: Path,
    *,
    recipients: Recipients,
    signing_key: Ed25519PrivateKey,
    as_of: str,
    source: str,
    per_unit: bool = False,
    previous_id: str = "",
    units: Sequence[str] | None = None,
    min_sequence: int = 0,
) -> list[tuple[Path, Manifest]]:
    """Seal the house snapshot (and per-unit ones); return what was written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Newer than anything this builder signed into the store and than the snapshot an
    # incremental build started from (which may live in another folder).
    sequence = max(next_sequence(out_dir, signing_key.public_key()),
                   max(min_sequence, previous_sequence(house)) + 1)
    all_units = [u for (u,) in house.execute(
        "SELECT DISTINCT unit_code FROM encounters ORDER BY unit_code")]
    written = []
    house_recipients = recipients.for_house_only() if per_unit else recipients.for_house()
    path = out_dir / file_name("house", sequence)
    written.append((path, sealed.seal(house, path, scope="house", sequence=sequence,
                                      as_of=as_of, source=source, counts=counts(house),
                                      recipients=house_recipients, signing_key=signing_key,
                                      previous_id=previous_id, units=all_units)))
    if per_unit:
        for unit in units or all_units:
            if not recipients.units.get(unit):
                continue  # no workstation keys for it: its patients are in the house file
            conn = unit_database(house, unit)
            path = out_dir / file_name(f"unit:{unit}", sequence)
            written.append((path, sealed.seal(conn, path, scope=f"unit:{unit}",
                                              sequence=sequence, as_of=as_of, source=source,
                                              counts=counts(conn),
                                              recipients=recipients.for_unit(unit),
                                              signing_key=signing_key, units=[unit])))
            conn.close()
    _remember(out_dir, sequence, signing_key)
    return written
