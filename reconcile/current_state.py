"""What the EHR holds now for the episode's patients, indexed for the conflict checks
(reconcile/conflicts.py): read from the live server (the FHIR client: searches per batch of
patients, or a Bulk export) or from a FHIR export on disk (an NDJSON folder as Bulk writes it).

Kept of each resource only what a check needs:
- Patient: active, when deceased, the `link` of type `replaced-by` (a merged chart: the
  surviving Patient, followed to the end of the chain by `survivor`), name and MRN for words;
- Encounter: status, period (the end is the discharge), discharge disposition, the location
  history (`location[]` with their periods) turned into units through Location `partOf`;
- MedicationRequest: drug (RxNorm code and text), dose, route, authoredOn, status;
- MedicationAdministration: drug, dose, route, when, status, the order it belongs to;
- AllergyIntolerance: through the snapshot builder's own mapper (snapshots.map_allergy) into
  the chart's `Allergy`, so the allergy check (snapshots.allergy_check) reads them as the chart
  and the forms do; only current ones (active, not refuted nor entered in error);
- Practitioner: the name, for words.

Nothing is written to disk: an export is patient data, and it stays in memory.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from snapshots import allergy_status
from snapshots.allergy_status import Allergy, AllergyStatus
from snapshots.errors import ToolkitError
from snapshots.fhirdata import (
    code_of,
    human_name,
    is_valid_id,
    practitioner_name,
    text_of,
    to_datetime,
)
from snapshots.map_allergy import map_allergy
from snapshots.mapcontext import MapContext
from snapshots.reading import Record, Source, SourceError, ndjson_records, ndjson_type
from snapshots.settings import BuildSettings

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
TYPES = ("Patient", "Encounter", "Location", "MedicationRequest", "MedicationAdministration",
         "AllergyIntolerance", "Practitioner")
# the chart types searched per patient on a server (`patient=a,b,c`)
PATIENT_TYPES = ("Encounter", "MedicationRequest", "MedicationAdministration",
                 "AllergyIntolerance")
BATCH_PATIENTS = 50


class CurrentStateError(ToolkitError):
    """The EHR's current state cannot be had (no export there, the server refused)."""

    reason = "current-state"


@dataclass(frozen=True)
class PatientNow:
    id: str
    name: str  # "DA SILVA, Barbara" ("" when the record has none)
    mrn: str
    active: bool = True
    deceased: bool = False
    deceased_at: datetime | None = None
    replaced_by: str | None = None  # a merged chart: the Patient it was merged into

    def label(self) -> str:
        return " ".join(x for x in (self.name, self.mrn) if x) or f"Patient/{self.id}"


@dataclass(frozen=True)
class Stay:
    """One place in an encounter's location history."""

    location_id: str
    unit: str  # the unit code the location belongs to ("" when unknown)
    start: datetime | None
    end: datetime | None


@dataclass(frozen=True)
class EncounterNow:
    id: str
    patient_id: str
    status: str
    start: datetime | None
    end: datetime | None  # the discharge
    discharge: str  # discharge disposition, as the EHR words it
    stays: tuple[Stay, ...] = ()

    def stay_at(self, when: datetime) -> Stay | None:
        """The place the patient was at `when`, by the location history."""
        found = None
        for stay in self.stays:
            if (stay.start is None or stay.start <= when) and (stay.end is None or
                                                               when < stay.end):
                found = stay  # the latest that holds
        return found


@dataclass(frozen=True)
class Medication:
    """A drug as the EHR or the paper names it, read for matching."""

    text: str
    rxnorm: str | None
    name: tuple[str, ...]  # the leading words of the name: ("insulin", "lispro")

    def same_drug(self, other: Medication) -> bool:
        if self.rxnorm and other.rxnorm and self.rxnorm == other.rxnorm:
            return True
        a, b = self.name, other.name
        n = min(len(a), len(b))
        return n > 0 and a[:n] == b[:n]


@dataclass(frozen=True)
class OrderNow:
    id: str
    patient_id: str
    encounter_id: str
    drug: Medication
    dose: tuple[float, str] | None
    route: str  # normalized (`route_key`)
    route_text: str
    authored_at: datetime | None
    status: str
    # the paper lines it was made from, when the toolkit sent it (its business identifiers):
    # an entry is not checked against itself once submitted
    lines: frozenset[str] = frozenset()


@dataclass(frozen=True)
class AdministrationNow:
    id: str
    patient_id: str
    order_id: str | None
    drug: Medication
    dose: tuple[float, str] | None
    route: str
    at: datetime | None
    status: str
    lines: frozenset[str] = frozenset()  # as OrderNow's


@dataclass
class CurrentState:
    """The EHR now, for the episode's patients; `against` says where it came from."""

    against: dict[str, Any] = field(default_factory=dict)
    patients: dict[str, PatientNow] = field(default_factory=dict)
    encounters: dict[str, EncounterNow] = field(default_factory=dict)
    orders: dict[str, OrderNow] = field(default_factory=dict)
    orders_by_patient: dict[str, list[OrderNow]] = field(default_factory=dict)
    administrations_by_patient: dict[str, list[AdministrationNow]] = field(
        default_factory=dict)
    allergies: dict[str, list[Allergy]] = field(default_factory=dict)
    practitioners: dict[str, str] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)  # lines that could not be read
    _merged: dict[str, list[str]] | None = field(default=None, repr=False, compare=False)

    def survivor(self, patient_id: str) -> str | None:
        """The Patient a merged chart ends in (following `replaced-by` links), or None when
        the chart is not merged."""
        seen, pid = {patient_id}, patient_id
        while (p := self.patients.get(pid)) is not None and p.replaced_by:
            if p.replaced_by in seen:  # a loop of links: stop where it turns
                break
            pid = p.replaced_by
            seen.add(pid)
        return pid if pid != patient_id else None

    def allergy_status(self, patient_id: str) -> AllergyStatus:
        """The chart's allergies, with those still recorded on charts merged into it (an
        allergy the merge left on the old chart is the patient's all the same: the snapshot
        builder shows it on the survivor, and the checks must see it too)."""
        items = list(self.allergies.get(patient_id, ()))
        for old in self.merged_into(patient_id):
            items += self.allergies.get(old, ())
        return allergy_status.status_of(items)

    def merged_into(self, patient_id: str) -> list[str]:
        """The charts whose `replaced-by` links end in this one (indexed on first use: the
        state is read whole before it is checked against)."""
        if self._merged is None:
            self._merged = {}
            for pid, p in self.patients.items():
                end = self.survivor(pid) if p.replaced_by else None
                if end is not None:
                    self._merged.setdefault(end, []).append(pid)
        return self._merged.get(patient_id, [])

    def orders_of(self, patient_id: str) -> list[OrderNow]:
        return self.orders_by_patient.get(patient_id, [])

    def administrations_of(self, patient_id: str) -> list[AdministrationNow]:
        return self.administrations_by_patient.get(patient_id, [])


def _identifier_values(res: dict) -> frozenset[str]:
    return frozenset(str(i["value"]) for i in res.get("identifier") or []
                     if isinstance(i, dict) and i.get("value"))


# -- reading the drug, dose and route ------------------------------------------------------

_WORDS = re.compile(r"[a-z][a-z-]*|\S*\d\S*")
_FORM_WORDS = frozenset({"tablet", "tablets", "tab", "capsule", "cap", "injection", "inj",
                         "solution", "oral", "suspension", "in", "iv", "po", "sc", "im"})
ROUTES = {"po": "oral", "oral": "oral", "by mouth": "oral", "26643006": "oral",
          "iv": "intravenous", "intravenous": "intravenous", "47625008": "intravenous",
          "ivpb": "intravenous", "ivp": "intravenous",
          "sc": "subcutaneous", "sq": "subcutaneous", "subq": "subcutaneous",
          "subcut": "subcutaneous", "subcutaneous": "subcutaneous", "34206005": "subcutaneous",
          "im": "intramuscular", "intramuscular": "intramuscular", "78421000": "intramuscular",
          "sl": "sublingual", "sublingual": "sublingual", "37839007": "sublingual",
          "pr": "rectal", "rectal": "rectal", "37161004": "rectal",
          "inh": "inhalation", "inhaled": "inhalation", "inhalation": "inhalation",
          "neb": "inhalation", "top": "topical", "topical": "topical",
          "td": "transdermal", "transdermal": "transdermal", "ng": "nasogastric",
          "nasogastric": "nasogastric"}
# the dose units compared after conversion: (dimension, factor to the dimension's base)
UNITS = {"g": ("mass", 1000.0), "mg": ("mass", 1.0), "mcg": ("mass", 0.001),
         "ug": ("mass", 0.001), "ng": ("mass", 1e-6), "kg": ("mass", 1e6),
         "l": ("volume", 1000.0), "ml": ("volume", 1.0),
         "[iu]": ("units", 1.0), "u": ("units", 1.0), "iu": ("units", 1.0),
         "unit": ("units", 1.0), "units": ("units", 1.0), "meq": ("meq", 1.0),
         "[meq]": ("meq", 1.0), "mmol": ("mmol", 1.0)}


def medication(text: str | None, rxnorm: str | None = None) -> Medication:
    """The drug read for matching: its RxNorm code and the leading words of its name (up to
    the first with a digit or a form word: "Insulin lispro 100 units/mL" is insulin lispro)."""
    words = []
    for word in _WORDS.findall((text or "").lower()):
        if any(c.isdigit() for c in word) or word in _FORM_WORDS:
            break
        words.append(word)
    return Medication(text or "", rxnorm or None, tuple(words))


def route_key(text: str | None) -> str:
    key = " ".join((text or "").lower().replace(".", "").split())
    return ROUTES.get(key, key)


def same_dose(a: tuple[float, str] | None, b: tuple[float, str] | None) -> bool:
    """Whether two doses are the same amount (2 mg is 2000 mcg; U and [iU] are one)."""
    if a is None or b is None:
        return a is b
    ua, ub = UNITS.get(a[1].lower()), UNITS.get(b[1].lower())
    if ua and ub:
        return ua[0] == ub[0] and abs(a[0] * ua[1] - b[0] * ub[1]) <= 1e-9 * max(
            1.0, abs(a[0] * ua[1]))
    return a[1].lower() == b[1].lower() and abs(a[0] - b[0]) <= 1e-9


def dose_text(dose: tuple[float, str] | None) -> str:
    if dose is None:
        return "no dose"
    value = f"{dose[0]:g}"
    return f"{value} {dose[1]}"


# -- from resources ------------------------------------------------------------------------

def ref_id(ref: object, rtype: str) -> str | None:
    """The id of a `Type/id` reference (relative, or absolute `https://.../Type/id`)."""
    text = ref.get("reference") if isinstance(ref, dict) else None
    if not isinstance(text, str):
        return None
    parts = text.rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == rtype:
        return parts[-1]
    if "/_history/" in text and len(parts) >= 4 and parts[-4] == rtype:
        return parts[-3]
    return None


def _time(value: object) -> datetime | None:
    when = to_datetime(value) if isinstance(value, str) else None
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when


def _quantity(q: object) -> tuple[float, str] | None:
    if not isinstance(q, dict) or not isinstance(q.get("value"), int | float):
        return None
    unit = q.get("code") or q.get("unit")
    return (float(q["value"]), str(unit)) if unit else None


def _drug(res: dict) -> Medication:
    cc = res.get("medicationCodeableConcept")
    return medication(text_of(cc), code_of(cc, RXNORM))


def _route(cc: object) -> tuple[str, str]:
    text = text_of(cc) or ""
    code = code_of(cc)
    key = ROUTES.get(code or "") or route_key(text)
    return key, text


class _Builder:
    """Resources in, indexes out: two passes, since a location's unit and an encounter's
    stays need every Location first."""

    def __init__(self, state: CurrentState) -> None:
        self.state = state
        self.locations: dict[str, dict] = {}
        self.held: list[dict] = []
        self.ctx = MapContext(BuildSettings())

    def add(self, res: dict) -> None:
        rtype = res.get("resourceType")
        if not isinstance(res.get("id"), str):
            return
        if rtype == "Location":
            self.locations[res["id"]] = res
        elif rtype in TYPES:
            self.held.append(res)

    def finish(self) -> CurrentState:
        handlers: dict[str, Callable[[dict], None]] = {
            "Patient": self._patient, "Encounter": self._encounter,
            "MedicationRequest": self._order, "MedicationAdministration": self._administration,
            "AllergyIntolerance": self._allergy, "Practitioner": self._practitioner}
        for res in self.held:
            handlers[res["resourceType"]](res)
        for orders in self.state.orders_by_patient.values():
            orders.sort(key=lambda o: o.authored_at or datetime.min.replace(tzinfo=UTC))
        return self.state

    def unit_of(self, location_id: str) -> str:
        """The unit a bed or room is part of: the Location of physical type `wa` (ward), its
        identifier's value (the unit code) or else its name."""
        seen: set[str] = set()
        lid: str | None = location_id
        while lid and lid not in seen and (loc := self.locations.get(lid)) is not None:
            seen.add(lid)
            if code_of(loc.get("physicalType")) == "wa":
                ids = [i.get("value") for i in loc.get("identifier") or [] if
                       isinstance(i, dict) and i.get("value")]
                return str(ids[0] if ids else loc.get("name") or lid)
            lid = ref_id(loc.get("partOf"), "Location")
        return ""

    def _patient(self, res: dict) -> None:
        family, given, _ = human_name(res.get("name"))
        name = ", ".join(x for x in (family.upper(), given) if x)
        mrn = next((i.get("value") for i in res.get("identifier") or []
                    if isinstance(i, dict) and code_of(i.get("type")) == "MR"), None) or ""
        replaced = next((ref_id(link.get("other"), "Patient") for link in res.get("link") or []
                         if isinstance(link, dict) and link.get("type") == "replaced-by"), None)
        deceased_at = _time(res.get("deceasedDateTime"))
        self.state.patients[res["id"]] = PatientNow(
            res["id"], name, str(mrn), res.get("active") is not False,
            bool(res.get("deceasedBoolean")) or deceased_at is not None, deceased_at, replaced)

    def _encounter(self, res: dict) -> None:
        pid = ref_id(res.get("subject"), "Patient")
        if pid is None:
            return
        period = res.get("period") or {}
        stays = []
        for item in res.get("location") or []:
            lid = ref_id(item.get("location"), "Location") if isinstance(item, dict) else None
            if lid:
                p = item.get("period") or {}
                stays.append(Stay(lid, self.unit_of(lid), _time(p.get("start")),
                                  _time(p.get("end"))))
        stays.sort(key=lambda s: s.start or datetime.min.replace(tzinfo=UTC))
        disposition = text_of((res.get("hospitalization") or {}).get("dischargeDisposition"))
        self.state.encounters[res["id"]] = EncounterNow(
            res["id"], pid, str(res.get("status") or ""), _time(period.get("start")),
            _time(period.get("end")), disposition or "", tuple(stays))

    def _order(self, res: dict) -> None:
        pid = ref_id(res.get("subject"), "Patient")
        if pid is None:
            return
        dosage = (res.get("dosageInstruction") or [{}])[0] or {}
        dose = None
        for dr in dosage.get("doseAndRate") or []:
            dose = dose or _quantity((dr or {}).get("doseQuantity"))
        route, route_text = _route(dosage.get("route"))
        order = OrderNow(res["id"], pid, ref_id(res.get("encounter"), "Encounter") or "",
                         _drug(res), dose, route, route_text, _time(res.get("authoredOn")),
                         str(res.get("status") or ""), _identifier_values(res))
        self.state.orders[order.id] = order
        self.state.orders_by_patient.setdefault(pid, []).append(order)

    def _administration(self, res: dict) -> None:
        pid = ref_id(res.get("subject"), "Patient")
        if pid is None:
            return
        dosage = res.get("dosage") or {}
        route, _ = _route(dosage.get("route"))
        at = _time(res.get("effectiveDateTime")) or _time(
            (res.get("effectivePeriod") or {}).get("start"))
        self.state.administrations_by_patient.setdefault(pid, []).append(AdministrationNow(
            res["id"], pid, ref_id(res.get("request"), "MedicationRequest"), _drug(res),
            _quantity(dosage.get("dose")), route, at, str(res.get("status") or ""),
            _identifier_values(res)))

    def _allergy(self, res: dict) -> None:
        pid = ref_id(res.get("patient"), "Patient")
        if pid is None:
            return
        # the builder's own mapper: what the chart shows is what is checked
        row = map_allergy(self.ctx, Record(f"AllergyIntolerance/{res['id']}", res), pid)
        if (row["clinical_status"] or "active") != "active" or \
                row["verification_status"] in ("refuted", "entered-in-error"):
            return
        self.state.allergies.setdefault(pid, []).append(allergy_status.from_row((
            row["id"], row["substance"], row["reaction"], row["severity"], row["criticality"],
            row["coded"], row["no_known"], row["verification_status"], row["category"],
            row["no_known_scope"], row["unreadable"], row["code"], row["system"])))

    def _practitioner(self, res: dict) -> None:
        self.state.practitioners[res["id"]] = practitioner_name(res)


def from_resources(resources: Iterable[dict], against: dict[str, Any]) -> CurrentState:
    """The current state from resources (any order, any types: those not needed are passed
    over)."""
    builder = _Builder(CurrentState(against=dict(against)))
    for res in resources:
        if isinstance(res, dict):
            builder.add(res)
    return builder.finish()


# -- from an export folder -----------------------------------------------------------------

def from_export(folder: Path, read_at: datetime | None = None) -> CurrentState:
    """The current state from a FHIR export on disk: a Bulk Data NDJSON folder (`Type.ndjson`,
    `Type.000.ndjson.gz`), or JSON Bundles. Only the types the checks need are read; a line
    that is not a resource is counted in `faults`, the rest read on."""
    faults: list[str] = []

    def bad(where: str, reason: str, detail: str) -> None:
        faults.append(f"{where}: {reason} ({detail})")

    try:
        source = Source(Path(folder), bad)
    except SourceError as e:
        raise CurrentStateError(f"export {folder}: {e}") from None
    when = read_at or datetime.now(UTC)
    state = from_resources(_export_resources(source, bad), {
        "source": "export", "where": str(folder), "read_at": when.isoformat()})
    state.faults = faults
    return state


def _export_resources(source: Source, bad: Callable[[str, str, str], None]) -> Iterator[dict]:
    for path in source.ndjson:
        rtype = ndjson_type(path)
        if rtype in TYPES or rtype not in _ANY_TYPE:
            for record in ndjson_records(path, bad):
                yield record.resource
    for record in source.bundle_records():
        yield record.resource


# file names that say a type we do not read (Observation.ndjson is most of an export)
_ANY_TYPE = frozenset({"Observation", "Condition", "Procedure", "DocumentReference", "Flag",
                       "DiagnosticReport", "Immunization", "Provenance", "Binary",
                       "MedicationStatement", "CarePlan", "Claim", "ExplanationOfBenefit"})


# -- from the live server ------------------------------------------------------------------

def from_server(client: Any, patient_ids: Sequence[str], batch: int = BATCH_PATIENTS,
                read_at: datetime | None = None) -> CurrentState:
    """The current state of these patients from the live server (a snapshots FhirClient):
    each Patient (and the charts merged ones point to), then their chart types searched
    `patient=a,b,c` in batches, with the Locations their encounters name (`_include`)."""
    from snapshots.fhir_client.errors import FhirError

    when = read_at or datetime.now(UTC)
    resources: list[dict] = []
    # an id that is no FHIR id (a typing slip) would make the server refuse the whole batch:
    # left out here, it is the check's `patient-unknown`
    wanted = sorted({p for p in patient_ids if is_valid_id(p)})
    try:
        seen = set()
        todo = list(wanted)
        while todo:  # Patients, and the survivors their replaced-by links name
            chunk, todo = todo[:batch], todo[batch:]
            seen.update(chunk)
            found = list(client.search_resources("Patient", {"_id": ",".join(chunk),
                                                             "_count": batch}))
            resources += found
            for res in found:
                for link in res.get("link") or []:
                    other = ref_id(link.get("other") if isinstance(link, dict) else None,
                                   "Patient")
                    if other and other not in seen and other not in todo:
                        todo.append(other)
        ids = sorted(seen)
        for start in range(0, len(ids), batch):
            chunk = ",".join(ids[start:start + batch])
            for rtype in PATIENT_TYPES:
                params: dict[str, Any] = {"patient": chunk, "_count": 500}
                if rtype == "Encounter":
                    params["_include"] = "Encounter:location"
                resources += client.search_resources(rtype, params)
        resources += _parents(client, resources)
    except FhirError as e:
        raise CurrentStateError(f"current state from {client.base_url}: {e}") from None
    return from_resources(resources, {"source": "server", "where": client.base_url,
                                      "read_at": when.isoformat()})


def _parents(client: Any, resources: list[dict]) -> list[dict]:
    """The beds the encounters name and the rooms and units above them (Location `partOf`),
    those not already read, so that a bed tells its unit (a Patient-level Bulk export has
    no Locations: they are in no patient's compartment)."""
    have = {r["id"] for r in resources if r.get("resourceType") == "Location"}
    out: list[dict] = []
    named = {ref_id(item.get("location"), "Location") for r in resources
             if r.get("resourceType") == "Encounter" for item in r.get("location") or []
             if isinstance(item, dict)}
    todo = (named | {ref_id(r.get("partOf"), "Location") for r in resources
                     if r.get("resourceType") == "Location"}) - have - {None}
    while todo:
        ids = sorted(todo)
        found = [r for start in range(0, len(ids), BATCH_PATIENTS)
                 for r in client.search_resources("Location", {
                     "_id": ",".join(ids[start:start + BATCH_PATIENTS]),
                     "_count": BATCH_PATIENTS})]
        out += found
        have |= {r["id"] for r in found}
        todo = {ref_id(r.get("partOf"), "Location") for r in found} - have - {None}
    return out


def from_bulk(client: Any, read_at: datetime | None = None, **export: Any) -> CurrentState:
    """The current state from a Bulk Data export of the live server (level, group_id as
    snapshots.fhir_client.BulkExport takes them), the files held in memory."""
    import orjson

    from snapshots.fhir_client import BulkExport
    from snapshots.fhir_client.errors import FhirError

    when = read_at or datetime.now(UTC)
    try:
        result = BulkExport(client, types=TYPES, **export).run()
    except FhirError as e:
        raise CurrentStateError(f"current state from {client.base_url}: {e}") from None
    resources = [orjson.loads(line) for f in result.output for line in f.data.splitlines()
                 if line.strip()]
    try:
        resources += _parents(client, resources)
    except FhirError as e:
        raise CurrentStateError(f"current state from {client.base_url}: {e}") from None
    return from_resources(resources, {"source": "bulk", "where": client.base_url,
                                      "read_at": when.isoformat(),
                                      "transaction_time": result.transaction_time})
