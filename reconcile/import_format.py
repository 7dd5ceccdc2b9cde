"""The bulk back-entry format (docs/back-entry-format.md): a CSV or JSON file the site made in
a spreadsheet or another tool, one row per paper line, every field named by its column.

This module reads the file into rows (`read_rows`) and turns one row into an entry of
reconcile/entries.py (`row_entry`), or into the problems that keep it from being one, each
naming the column and the reason. The checking itself is the entries' own (pydantic over
`reconcile.entries`, `validate_entry`); what is done here is only what the format adds:
initials resolved to people through the unit's staff list (reconcile/staff.py), times with
their offset or in the station's local time, the patient and unit taken from the form's
registry record when the row leaves them blank, and pydantic's locations told as columns.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError

from snapshots.errors import ToolkitError

from .entries import ENTRY_VERSION, FORM_ID, VITAL_UNITS, Entry, validate_entry
from .episode import EpisodeError, parse_time
from .rules import FormInfo
from .staff import StaffList

COMMON = ("kind", "form_id", "page", "line", "unit", "patient_id", "encounter_id",
          "written_by", "paper_time", "entered_by", "entered_at", "revision")
_DRUG = ("drug", "rxnorm", "dose", "dose_unit", "route", "prn", "prn_reason")
VITALS = ("heart_rate", "respiratory_rate", "temperature", "temperature_unit", "spo2",
          "bp_systolic", "bp_diastolic", "weight", "weight_unit", "height", "height_unit",
          "pain")
KIND_COLUMNS: dict[str, tuple[str, ...]] = {
    "mar": ("order_id", "order_line", *_DRUG, "outcome", "reason", "performer"),
    "order": (*_DRUG, "frequency", "mode", "prescriber", "read_back", "status"),
    "vitals": VITALS,
    "note": ("text", "title"),
    "registration": ("family", "given", "birth_date", "sex", "address_line", "city",
                     "postal_code", "phone", "identifiers", "encounter_class"),
}
COLUMNS: tuple[str, ...] = tuple(dict.fromkeys(
    COMMON + tuple(c for cols in KIND_COLUMNS.values() for c in cols)))
Format = Literal["csv", "json"]
Value = str | int | float | bool


class ImportFileError(ToolkitError):
    """A file that cannot be read as the format at all (not a row of it: the whole file)."""

    reason = "import"


@dataclass(frozen=True)
class Problem:
    field: str  # the column (or `row` when the row as a whole)
    reason: str


@dataclass(frozen=True)
class Row:
    number: int  # 1-based, among the file's data rows (blank ones counted): the origin's row
    line: int  # the file's line the row begins on
    values: dict[str, Value]  # its filled cells, column -> value
    problem: Problem | None = None  # a row that cannot even be read as cells

    def text(self, name: str) -> str:
        value = self.values.get(name)
        return "" if value is None else str(value).strip()


@dataclass
class Context:
    """What a row may lean on: the staff lists, the forms of the episode's registries, the
    clerk a file names as a whole, and the import's time (`entered_at` by default)."""

    staff: StaffList
    forms: Mapping[str, FormInfo]
    entered_by: str | None
    now: datetime


# --- reading the file ---------------------------------------------------------------------


def file_format(name: str, given: str | None) -> Format:
    fmt = (given or name.rsplit(".", 1)[-1]).lower()
    if fmt not in ("csv", "json"):
        raise ImportFileError(f"{name}: not a .csv or .json file (say which with --format)")
    return fmt  # type: ignore[return-value]


def read_rows(data: bytes, name: str, fmt: Format) -> list[Row]:
    """The file's rows, each with its line; ImportFileError for a file that is not the
    format (not UTF-8, not JSON, a column the format does not have)."""
    try:
        text = data.decode("utf-8-sig")  # a spreadsheet's "CSV UTF-8" starts with a BOM
    except UnicodeDecodeError as e:
        raise ImportFileError(f"{name}: not UTF-8 text at byte {e.start} (save it as "
                              "\"CSV UTF-8\" or JSON)") from None
    return _csv_rows(text, name) if fmt == "csv" else _json_rows(text, name)


def _columns(names: list[str], name: str) -> list[str]:
    columns = [n.strip().lower() for n in names]
    unknown = [c for c in columns if c and c not in COLUMNS]
    if unknown:
        raise ImportFileError(f"{name}: column(s) {', '.join(unknown)} are not of the format "
                              "(docs/back-entry-format.md lists them): a misspelt column's "
                              "data would be lost")
    twice = sorted({c for c in columns if c and columns.count(c) > 1})
    if twice:
        raise ImportFileError(f"{name}: column(s) {', '.join(twice)} more than once")
    if "kind" not in columns:
        raise ImportFileError(f"{name}: no `kind` column (mar, order, vitals, note, "
                              "registration)")
    return columns


def _csv_rows(text: str, name: str) -> list[Row]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise ImportFileError(f"{name}: empty (a header row of columns, then a row per "
                                  "entry)")
        columns = _columns(header, name)
        rows, number, start = [], 0, reader.line_num + 1
        for cells in reader:
            number += 1
            here, start = start, reader.line_num + 1
            if not any(c.strip() for c in cells):
                continue  # a blank row a spreadsheet leaves: no entry
            problem = None if len(cells) <= len(columns) else Problem(
                "row", f"{len(cells)} cells, the header has {len(columns)}")
            values = {c: v.strip() for c, v in zip(columns, cells, strict=False)
                      if c and v.strip()}
            rows.append(Row(number, here, values, problem))
    except csv.Error as e:
        raise ImportFileError(f"{name} line {reader.line_num}: not CSV ({e})") from None
    return rows


def _json_rows(text: str, name: str) -> list[Row]:
    try:
        whole = json.loads(text)
    except json.JSONDecodeError as e:
        raise ImportFileError(f"{name} line {e.lineno}: not JSON ({e.msg})") from None
    if not isinstance(whole, list):
        raise ImportFileError(f"{name}: a JSON array of rows (objects) is expected")
    rows = []
    for number, (line, item) in enumerate(zip(_element_lines(text), whole, strict=True), 1):
        if not isinstance(item, dict):
            rows.append(Row(number, line, {}, Problem("row", "not an object of fields")))
            continue
        _columns([str(k) for k in item], name)
        values, problem = {}, None
        for key, value in item.items():
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            if not isinstance(value, str | int | float | bool):
                problem = problem or Problem(key.strip().lower(), "a string, number or "
                                             "true/false is expected, not a list or object")
                continue
            values[key.strip().lower()] = value.strip() if isinstance(value, str) else value
        rows.append(Row(number, line, values, problem))
    return rows


def _element_lines(text: str) -> list[int]:
    """The line each element of the (already parsed) top-level array begins on."""
    decoder, out = json.JSONDecoder(), []
    i = text.index("[") + 1
    while True:
        while text[i] in " \t\r\n,":
            i += 1
        if text[i] == "]":
            return out
        out.append(text.count("\n", 0, i) + 1)
        _, i = decoder.raw_decode(text, i)


# --- a row to an entry --------------------------------------------------------------------


def row_entry(row: Row, ctx: Context) -> Entry | list[Problem]:
    """The row's entry, or every problem found with it (the column and the reason)."""
    if row.problem is not None:
        return [row.problem]
    kind = row.text("kind").lower()
    if kind not in KIND_COLUMNS:
        return [Problem("kind", f"{row.text('kind') or 'blank'}: one of "
                                f"{', '.join(KIND_COLUMNS)} is needed")]
    problems = [Problem(c, f"not a field of a {kind} row") for c in row.values
                if c not in COMMON and c not in KIND_COLUMNS[kind]]
    build = _Build(row, ctx, problems)
    data = build.common(kind)
    readings = _KIND_DATA[kind](build, data)
    try:  # a problem noted above left a stand-in, so that the rest is checked too
        entry = validate_entry(data)
    except ValidationError as e:
        named = {p.field for p in problems}
        problems += [p for err in e.errors(include_url=False, include_input=False)
                     if (p := _told(err, readings)).field not in named]
    else:
        if not problems:
            return entry
    first: dict[str, Problem] = {}  # one problem per column, the first found
    for p in problems:
        first.setdefault(p.field, p)
    return list(first.values())


class _Build:
    """One row's cells made into the data `validate_entry` reads, problems noted."""

    def __init__(self, row: Row, ctx: Context, problems: list[Problem]) -> None:
        self.row, self.ctx, self.problems = row, ctx, problems
        self.unit: str | None = None

    def put(self, data: dict[str, Any], key: str) -> None:
        if (value := self.row.values.get(key)) is not None:
            data[key] = value

    def common(self, kind: str) -> dict[str, Any]:
        row, ctx = self.row, self.ctx
        form_id = row.text("form_id").upper()
        form = ctx.forms.get(form_id)
        self.unit = row.text("unit") or (form.unit if form else None)
        data: dict[str, Any] = {"kind": kind, "version": ENTRY_VERSION, "source": {
            "form_id": form_id, "page": row.values.get("page"),
            "line": row.values.get("line")}}
        for name in ("page", "line"):
            if name not in row.values:
                self.problems.append(Problem(name, "required (counting from 1)"))
        for name, attr in (("patient_id", "patient_id"), ("encounter_id", "encounter_id")):
            value = row.text(name) or (getattr(form, attr) if form else "")
            if not value:
                self.problems.append(Problem(name, "required (the form is not in the "
                                                   "episode's registries to take it from)"))
            data[name] = value
        data["written_by"] = self.person("written_by", required=True)
        clerk = row.text("entered_by") or ctx.entered_by
        if not clerk:
            self.problems.append(Problem("entered_by", "required: who typed the row (or "
                                                       "name the clerk for the whole file)"))
        data["entered_by"] = {"name": clerk or "?"}
        data["paper_time"] = self.time("paper_time", required=True)
        data["entered_at"] = self.time("entered_at") or ctx.now.isoformat()
        self.put(data, "revision")
        return data

    def person(self, column: str, required: bool = False) -> dict[str, Any] | None:
        written = self.row.text(column)
        if not written:
            if required:
                self.problems.append(Problem(column, "required: the initials on the paper"))
            return {"name": "?"} if required else None
        found = self.ctx.staff.candidates(self.unit, written)
        where = f"unit {self.unit}" if self.unit else \
            "every unit (\"*\"; no unit column, and the form is not in the registries)"
        if len(found) == 1:
            p = found[0].person(written)
            return {"name": p.name, "initials": p.initials,
                    "practitioner_id": p.practitioner_id}
        if not found:
            self.problems.append(Problem(column, f"initials {written!r} are not on the staff "
                                                 f"list of {where}"))
        else:
            self.problems.append(Problem(column, f"initials {written!r} are ambiguous on "
                                                 f"{where} ({', '.join(m.name for m in found)}"
                                                 "): write the person's own initials"))
        return {"name": "?"}

    def time(self, column: str, required: bool = False) -> str | None:
        text = self.row.text(column)
        if not text:
            if required:
                self.problems.append(Problem(column, "required: the time written on paper"))
                return self.ctx.now.isoformat()
            return None
        try:
            return parse_time(text, column).isoformat()
        except EpisodeError:
            self.problems.append(Problem(column, f"{text!r:.40} is not an ISO 8601 time "
                                                 "(2026-11-24T06:00 local, or with a zone)"))
            return self.ctx.now.isoformat()


def _drug(b: _Build, data: dict[str, Any]) -> None:
    if "drug" in b.row.values or "rxnorm" in b.row.values:
        data["drug"] = {k: v for k, v in (("text", b.row.values.get("drug")),
                                          ("rxnorm", b.row.values.get("rxnorm"))) if v}
    if "dose" in b.row.values or "dose_unit" in b.row.values:
        data["dose"] = {"value": b.row.values.get("dose"), "unit": b.row.values.get(
            "dose_unit")}
    for key in ("route", "prn", "prn_reason"):
        b.put(data, key)


def _mar(b: _Build, data: dict[str, Any]) -> None:
    _drug(b, data)
    for key in ("order_id", "outcome", "reason"):
        b.put(data, key)
    data["performer"] = b.person("performer")
    if line := b.row.text("order_line"):
        data["order_line"] = _line_key(line, b)


def _line_key(text: str, b: _Build) -> dict[str, Any] | None:
    """`DT-XXXXXXXXXX/p1/l3`, the order's paper line."""
    parts = text.upper().split("/")
    if len(parts) == 3 and FORM_ID.fullmatch(parts[0]) and parts[1][:1] == "P" and \
            parts[2][:1] == "L" and parts[1][1:].isdigit() and parts[2][1:].isdigit():
        return {"form_id": parts[0], "page": int(parts[1][1:]), "line": int(parts[2][1:])}
    b.problems.append(Problem("order_line", f"{text!r:.40} is not a paper line "
                                            "(DT-XXXXXXXXXX/p1/l3)"))
    return None


def _order(b: _Build, data: dict[str, Any]) -> None:
    _drug(b, data)
    for key in ("frequency", "mode", "read_back", "status"):
        b.put(data, key)
    data["prescriber"] = b.person("prescriber")


_MEASURES = (("heart_rate", "heart_rate", None), ("respiratory_rate", "respiratory_rate", None),
             ("temperature", "temperature", "temperature_unit"), ("spo2", "spo2", None),
             ("blood_pressure", "bp_systolic", None), ("weight", "weight", "weight_unit"),
             ("height", "height", "height_unit"), ("pain", "pain", None))


def _vitals(b: _Build, data: dict[str, Any]) -> list[str]:
    """The readings, and the column each came from (pydantic names a reading by index)."""
    values, readings, columns = b.row.values, [], []
    if ("bp_systolic" in values) != ("bp_diastolic" in values):
        b.problems.append(Problem("bp_diastolic" if "bp_systolic" in values else "bp_systolic",
                                  "a blood pressure needs bp_systolic and bp_diastolic"))
    for measure, column, unit_column in _MEASURES:
        if unit_column and unit_column in values and column not in values:
            b.problems.append(Problem(unit_column, f"a unit with no {column}"))
        if column not in values:
            continue
        unit = values.get(unit_column) if unit_column else None
        reading = {"measure": measure, "value": values[column],
                   "unit": str(unit).strip() if unit else VITAL_UNITS[measure][0]}
        if measure == "blood_pressure":
            reading["diastolic"] = values.get("bp_diastolic")
        readings.append(reading)
        columns.append(unit_column if unit_column and unit else column)
    data["readings"] = readings
    return columns


def _note(b: _Build, data: dict[str, Any]) -> None:
    for key in ("text", "title"):
        b.put(data, key)


def _registration(b: _Build, data: dict[str, Any]) -> None:
    v = b.row.values
    for key in ("family", "birth_date", "sex", "phone", "encounter_class"):
        b.put(data, key)
    data.setdefault("family", "")
    if given := b.row.text("given"):
        data["given"] = given.split()
    if any(k in v for k in ("address_line", "city", "postal_code")):
        data["address"] = {"line": b.row.text("address_line"), "city": b.row.text("city"),
                           "postal_code": b.row.text("postal_code")}
    if text := b.row.text("identifiers"):
        pairs = [p.strip().split("|", 1) for p in text.split(";") if p.strip()]
        if any(len(p) != 2 or not p[0].strip() or not p[1].strip() for p in pairs):
            b.problems.append(Problem("identifiers", "each is system|value, several "
                                                     "separated by ;"))
        else:
            data["identifiers"] = [{"system": s.strip(), "value": x.strip()} for s, x in pairs]


_KIND_DATA = {"mar": _mar, "order": _order, "vitals": _vitals, "note": _note,
              "registration": _registration}

# pydantic's location (after the kind) -> the column
_NESTED = {("source", "form_id"): "form_id", ("source", "page"): "page",
           ("source", "line"): "line", ("dose", "value"): "dose", ("dose", "unit"): "dose_unit",
           ("drug", "text"): "drug", ("drug", "rxnorm"): "rxnorm",
           ("address", "line"): "address_line", ("address", "city"): "city",
           ("address", "postal_code"): "postal_code"}
_TOP = {"given": "given", "identifiers": "identifiers", "address": "address_line",
        "order_line": "order_line", "drug": "drug", "dose": "dose"}
# an entry's own check (its __post_init__) names no location: the words say which column
_WORDS = (("PRN dose given needs the reason", "prn_reason"), ("needs the reason", "reason"),
          ("needs its prescriber", "prescriber"), ("no reading", "vitals"),
          ("only a blood pressure", "bp_diastolic"), ("empty note", "text"),
          ("with no name", "family"), ("paper_time", "paper_time"),
          ("entered_at", "entered_at"), ("revision", "revision"),
          ("patient and encounter", "patient_id"), ("form id", "form_id"),
          ("page and line", "page"), ("a person needs a name", "entered_by"))


def _told(error: Mapping[str, Any], readings: list[str] | None) -> Problem:
    path = tuple(error["loc"][1:])  # after the kind's tag
    message = str(error["msg"]).removeprefix("Value error, ")
    message = message.split(": ", 1)[1] if message.startswith("DT-") and ": " in message \
        else message  # "DT-.../p1/l2: ..." : the line is told already
    if path and path[0] == "readings" and readings and len(path) > 1 and \
            isinstance(path[1], int) and path[1] < len(readings):
        return Problem(readings[path[1]], message)
    if path[:2] in _NESTED:
        return Problem(_NESTED[path[:2]], message)
    if path and str(path[0]) in _TOP:
        return Problem(_TOP[str(path[0])], message)
    if path and str(path[0]) in COLUMNS:
        return Problem(str(path[0]), message)
    column = next((c for words, c in _WORDS if words in message), "row")
    return Problem(column, message)
