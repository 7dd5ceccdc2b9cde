"""The simulated paper as a site's transcription file (docs/back-entry-format.md, JSON), so
that the drill's `back-entry` goes through `reconcile import` as a site's spreadsheet does:
every row read and checked by reconcile/import_format.py, its invalid rows reported and
kept (encrypted) in the episode.

The file is made in memory and handed to reconcile.importing.import_data: it holds patient
data, and nothing of it is written to disk. One row per entry, only the columns of its
kind (a column of another kind filled in would make the row invalid), values as the format
reads them: times ISO 8601 with their offset, people by their initials as on paper (the
staff list resolves them), the clerk who typed it by name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from reconcile.entries import (
    Entry,
    MarAdministration,
    PhysicianOrder,
    ProgressNote,
    Registration,
    VitalsRow,
)

FILE_NAME = "drill-paper.json"
# a vitals measure -> (its value column, its unit column or None: the format's one unit)
_VITALS = {"heart_rate": ("heart_rate", None), "respiratory_rate": ("respiratory_rate", None),
           "spo2": ("spo2", None), "pain": ("pain", None),
           "temperature": ("temperature", "temperature_unit"),
           "weight": ("weight", "weight_unit"), "height": ("height", "height_unit")}


def _common(entry: Entry, unit: str | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "kind": entry.kind, "form_id": entry.source.form_id, "page": entry.source.page,
        "line": entry.source.line, "unit": unit, "patient_id": entry.patient_id,
        "encounter_id": entry.encounter_id, "written_by": entry.written_by.initials,
        "paper_time": entry.paper_time.isoformat(), "entered_by": entry.entered_by.name,
        "entered_at": entry.entered_at.isoformat()}
    if entry.revision:
        row["revision"] = entry.revision
    return row


def _drug(entry: MarAdministration | PhysicianOrder) -> dict[str, Any]:
    return {"drug": entry.drug.text, "rxnorm": entry.drug.rxnorm, "dose": entry.dose.value,
            "dose_unit": entry.dose.unit, "route": entry.route,
            "prn": entry.prn or None, "prn_reason": entry.prn_reason}


def _mar(e: MarAdministration) -> dict[str, Any]:
    return {**_drug(e), "order_id": e.order_id,
            "order_line": e.order_line.key if e.order_line else None,
            "outcome": e.outcome, "reason": e.reason,
            "performer": e.performer.initials if e.performer else None}


def _order(e: PhysicianOrder) -> dict[str, Any]:
    return {**_drug(e), "frequency": e.frequency, "mode": e.mode,
            "prescriber": e.prescriber.initials if e.prescriber else None,
            "read_back": e.read_back, "status": e.status}


def _vitals(e: VitalsRow) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for r in e.readings:
        if r.measure == "blood_pressure":
            row["bp_systolic"], row["bp_diastolic"] = r.value, r.diastolic
            continue
        column, unit_column = _VITALS[r.measure]
        row[column] = r.value
        if unit_column:
            row[unit_column] = r.unit
    return row


def _note(e: ProgressNote) -> dict[str, Any]:
    return {"text": e.text, "title": e.title}


def _registration(e: Registration) -> dict[str, Any]:
    a = e.address
    return {"family": e.family, "given": " ".join(e.given) or None,
            "birth_date": e.birth_date.isoformat() if e.birth_date else None, "sex": e.sex,
            "address_line": a.line if a else None, "city": a.city if a else None,
            "postal_code": a.postal_code if a else None, "phone": e.phone,
            "identifiers": ";".join(f"{i.system}|{i.value}" for i in e.identifiers) or None,
            "encounter_class": e.encounter_class}


_KIND = {"mar": _mar, "order": _order, "vitals": _vitals, "note": _note,
         "registration": _registration}


def paper_row(entry: Entry, unit: str | None) -> dict[str, Any]:
    """One row of the import file for `entry`, written on `unit`'s paper."""
    row = {**_common(entry, unit), **_KIND[entry.kind](entry)}  # type: ignore[operator]
    return {k: v for k, v in row.items() if v is not None and v != ""}


def paper_file(entries: Sequence[Entry], unit_of: Mapping[str, str]) -> bytes:
    """The entries as a JSON import file (one object per line of paper, in order)."""
    rows = [paper_row(e, unit_of.get(e.key)) for e in entries]
    return ("[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in rows)
            + "\n]\n").encode()
