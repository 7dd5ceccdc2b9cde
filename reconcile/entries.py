"""What a clerk back-enters from a paper page: one typed, frozen record per line of paper.

Every entry says where it came from (form id, page, line: `PageLine`), whose patient and
encounter it is about, who wrote it on paper and who typed it (`Person`), the time on the
paper and the time it was typed. Five kinds: a MAR administration (given, held or refused,
PRN), a physician order (written, verbal or telephone), a vitals row (several readings at one
time, UCUM units), a progress note, a downtime registration.

The journal stores an entry as JSON (`entry_to_json`) and reads it back (`entry_from_json`):
each record carries `kind` and `version` (ENTRY_VERSION), and reading refuses a version it
does not know rather than guess. The conversion is pydantic's (already here under
fhir.resources): types, ISO times with their offsets, tuples and nested records are checked
on the way in, so a journal line that does not hold what it claims is one clear error.

A correction is a new entry for the same paper line with `revision` one higher; the business
identifier stays the line's (docs/back-entry-fhir.md says how Bundles carry a correction).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, ValidationError

from snapshots.errors import ToolkitError

ENTRY_VERSION = 1
# `DT-` and ten of the forms' look-alike-free characters (docs/forms.md)
FORM_ID = re.compile(r"DT-[A-HJ-NP-Z2-9]{10}")


class EntryError(ToolkitError, ValueError):
    """A back-entry record that does not hold together (one line: which entry, what). A
    ValueError too, so that pydantic reports it as the field's problem when reading JSON."""

    reason = "entry"


@dataclass(frozen=True, kw_only=True)
class Person:
    """Someone named on paper or at the keyboard: as written (initials) and as resolved
    (name; the EHR's Practitioner id when the staff list gives one)."""

    name: str
    initials: str = ""
    practitioner_id: str | None = None

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise EntryError("a person needs a name (initials are resolved to one)")


@dataclass(frozen=True, kw_only=True)
class PageLine:
    """Where on paper: the form id (its QR), the page of that form (1-based) and the line
    or row of that page (1-based)."""

    form_id: str
    page: int
    line: int

    def __post_init__(self) -> None:
        if not FORM_ID.fullmatch(self.form_id):
            raise EntryError(f"{self.form_id!r} is not a form id (DT- and ten characters)")
        if self.page < 1 or self.line < 1:
            raise EntryError(f"{self.form_id}: page and line count from 1")

    @property
    def key(self) -> str:
        """The line's business key: `DT-XXXXXXXXXX/p2/l14`."""
        return f"{self.form_id}/p{self.page}/l{self.line}"

    @property
    def page_key(self) -> str:
        return f"{self.form_id}/p{self.page}"


@dataclass(frozen=True, kw_only=True)
class Quantity:
    """A value with its UCUM unit code (`mg`, `mL`, `[iU]`, `mm[Hg]`)."""

    value: float
    unit: str


@dataclass(frozen=True, kw_only=True)
class Drug:
    """A medication as written, with its RxNorm code when the order or MAR row gives one."""

    text: str
    rxnorm: str | None = None


@dataclass(frozen=True, kw_only=True)
class _Entry:
    version: int = ENTRY_VERSION
    source: PageLine
    patient_id: str  # the EHR's Patient id, or the downtime MRN of a downtime registration
    encounter_id: str  # the EHR's Encounter id, or the downtime encounter number
    written_by: Person  # who wrote it on paper (the author)
    entered_by: Person  # the clerk who typed it (the enterer)
    paper_time: datetime  # the time on the paper: when it happened
    entered_at: datetime  # when it was typed
    revision: int = 0  # 0 as first typed; n for the n-th correction of that line

    def __post_init__(self) -> None:
        for name in ("paper_time", "entered_at"):
            if getattr(self, name).utcoffset() is None:
                raise EntryError(f"{self.source.key}: {name} needs a UTC offset")
        if self.version != ENTRY_VERSION:
            raise EntryError(f"{self.source.key}: entry version {self.version} is not "
                             f"{ENTRY_VERSION}, the one this toolkit reads")
        if self.revision < 0:
            raise EntryError(f"{self.source.key}: revision counts from 0")
        if not self.patient_id or not self.encounter_id:
            raise EntryError(f"{self.source.key}: patient and encounter ids are required")

    @cached_property
    def key(self) -> str:  # asked often while building Bundles
        return self.source.key


@dataclass(frozen=True, kw_only=True)
class MarAdministration(_Entry):
    """One box of a MAR row: a dose given (with the initials of who gave it), or held or
    refused with the reason; PRN doses with why they were given."""

    kind: Literal["mar"] = "mar"
    order_id: str | None = None  # the EHR's MedicationRequest the printed row belongs to
    order_line: PageLine | None = None  # or the paper order it belongs to
    drug: Drug
    dose: Quantity
    route: str
    outcome: Literal["given", "held", "refused"] = "given"
    reason: str | None = None  # why held or refused
    prn: bool = False
    prn_reason: str | None = None  # why a PRN dose was given
    performer: Person | None = None  # who gave it, when not the one who initialled

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.outcome != "given" and not (self.reason or "").strip():
            raise EntryError(f"{self.key}: a dose {self.outcome} needs the reason")
        if self.prn and not (self.prn_reason or "").strip() and self.outcome == "given":
            raise EntryError(f"{self.key}: a PRN dose given needs the reason it was given")


@dataclass(frozen=True, kw_only=True)
class PhysicianOrder(_Entry):
    """A medication order written on the downtime order form, or taken by a nurse as a verbal
    or telephone order (then `written_by` is the nurse and `prescriber` the physician)."""

    kind: Literal["order"] = "order"
    drug: Drug
    dose: Quantity
    route: str
    frequency: str  # as written: "q6h", "BID", "once"
    prn: bool = False
    prn_reason: str | None = None
    mode: Literal["written", "verbal", "telephone"] = "written"
    prescriber: Person | None = None  # the ordering physician; the writer when written
    read_back: bool = False  # a verbal/telephone order read back to the prescriber
    status: Literal["active", "completed", "stopped", "on-hold"] = "active"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mode != "written" and self.prescriber is None:
            raise EntryError(f"{self.key}: a {self.mode} order needs its prescriber")

    @property
    def ordered_by(self) -> Person:
        return self.prescriber or self.written_by


VitalMeasure = Literal["heart_rate", "respiratory_rate", "temperature", "spo2",
                       "blood_pressure", "weight", "height", "pain"]
# The UCUM codes each measure may be written in (the first is the usual one). A unit outside
# these is refused when the entry is made: a pulse in mm[Hg] is a typing slip, not data.
VITAL_UNITS: dict[str, tuple[str, ...]] = {
    "heart_rate": ("/min",), "respiratory_rate": ("/min",), "temperature": ("Cel", "[degF]"),
    "spo2": ("%",), "blood_pressure": ("mm[Hg]",), "weight": ("kg", "g", "[lb_av]"),
    "height": ("cm", "m", "[in_i]"), "pain": ("{score}",),
}


@dataclass(frozen=True, kw_only=True)
class VitalReading:
    """One reading of a flowsheet row. A blood pressure has `value` systolic and
    `diastolic`; its unit is that of both."""

    measure: VitalMeasure
    value: float
    unit: str  # UCUM code, one of VITAL_UNITS[measure]
    diastolic: float | None = None

    def __post_init__(self) -> None:
        if self.unit not in VITAL_UNITS[self.measure]:
            raise EntryError(f"{self.unit!r} is not a UCUM unit of {self.measure} (one of "
                             f"{', '.join(VITAL_UNITS[self.measure])})")


@dataclass(frozen=True, kw_only=True)
class VitalsRow(_Entry):
    """One time column (or row) of the vitals flowsheet: what was measured then."""

    kind: Literal["vitals"] = "vitals"
    readings: tuple[VitalReading, ...]

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.readings:
            raise EntryError(f"{self.key}: a vitals row with no reading")
        measures = [r.measure for r in self.readings]
        if len(set(measures)) != len(measures):
            raise EntryError(f"{self.key}: a measure twice in one row")
        for reading in self.readings:
            if (reading.measure == "blood_pressure") != (reading.diastolic is not None):
                raise EntryError(f"{self.key}: only a blood pressure has a diastolic value")


@dataclass(frozen=True, kw_only=True)
class ProgressNote(_Entry):
    kind: Literal["note"] = "note"
    text: str
    title: str = "Progress note"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.text.strip():
            raise EntryError(f"{self.key}: an empty note")


@dataclass(frozen=True, kw_only=True)
class Identifier:
    """An identifier written on a registration (another facility's MRN, an insurance
    number), as a FHIR system URI and value."""

    system: str
    value: str


@dataclass(frozen=True, kw_only=True)
class Address:
    line: str = ""
    city: str = ""
    postal_code: str = ""


@dataclass(frozen=True, kw_only=True)
class Registration(_Entry):
    """A patient who arrived during downtime, registered on paper under a pre-allocated
    downtime MRN and encounter number (the form's QR carries both: they are this entry's
    `patient_id` and `encounter_id`). `paper_time` is the arrival."""

    kind: Literal["registration"] = "registration"
    family: str
    given: tuple[str, ...] = ()
    birth_date: date | None = None
    sex: Literal["male", "female", "other", "unknown"] = "unknown"
    address: Address | None = None
    phone: str | None = None
    identifiers: tuple[Identifier, ...] = ()
    encounter_class: Literal["IMP", "EMER", "OBSENC"] = "IMP"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.family.strip() and not self.given:
            raise EntryError(f"{self.key}: a registration with no name")

    @property
    def downtime_mrn(self) -> str:
        return self.patient_id

    @property
    def encounter_number(self) -> str:
        return self.encounter_id


Entry = MarAdministration | PhysicianOrder | VitalsRow | ProgressNote | Registration
KINDS: dict[str, type] = {"mar": MarAdministration, "order": PhysicianOrder,
                          "vitals": VitalsRow, "note": ProgressNote,
                          "registration": Registration}
_ADAPTER: TypeAdapter = TypeAdapter(Annotated[Entry, Field(discriminator="kind")])


def entry_to_json(entry: Entry) -> dict[str, Any]:
    """The entry as JSON-ready data (times ISO 8601 with their offset)."""
    return _ADAPTER.dump_python(entry, mode="json")


def entry_from_json(data: object, where: str = "entry") -> Entry:
    """An entry back from `entry_to_json`'s data; EntryError (one line naming `where` and
    the first problem) when it is not one, or of a version this toolkit does not read."""
    if isinstance(data, dict):
        version = data.get("version")
        if isinstance(version, int) and version > ENTRY_VERSION:
            raise EntryError(f"{where}: entry version {version} is newer than this toolkit "
                             f"reads ({ENTRY_VERSION}): upgrade the toolkit")
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as e:
        raise EntryError(f"{where}: {_first_problem(e)}") from None


def validate_entry(data: object) -> Entry:
    """An entry from `entry_to_json`-shaped data, pydantic's ValidationError (every problem
    with its location) when it is not one: for a caller that names the problems in its own
    terms (the bulk import names its columns, reconcile/import_format.py)."""
    return _ADAPTER.validate_python(data)


def make_entry(kind: str, **fields: Any) -> Entry:
    """An entry of `kind` from keyword fields, EntryError when they do not hold together."""
    if kind not in KINDS:
        raise EntryError(f"no entry kind {kind!r} (one of {', '.join(KINDS)})")
    try:
        return KINDS[kind](**fields)
    except (TypeError, ValueError) as e:
        raise EntryError(f"{kind} entry: {e}") from None


def _first_problem(error: ValidationError) -> str:
    first = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in first["loc"] if not str(p).startswith("tagged-union"))
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message
