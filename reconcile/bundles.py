"""Back-entered records as FHIR R4 transaction Bundles, one per patient, with a Provenance for
each entry; submitting a Bundle twice creates nothing twice (docs/back-entry-fhir.md).

- Every resource made from a paper line carries a business identifier whose value is where it
  is on paper (`DT-XXXXXXXXXX/p2/l14`; a vitals row's readings add `/heart_rate`); a scanned
  page's DocumentReference `DT-XXXXXXXXXX/p2`; a downtime Patient and Encounter the downtime
  MRN and encounter number. Each is created with `ifNoneExist` on that identifier.
  Provenance has no identifier in R4: its key rides as a `meta.tag` and `ifNoneExist` asks
  `_tag`. A correction (revision > 0) is a conditional update of the line's resources
  (`PUT Type?identifier=...`) with a Provenance of its own (tagged `.../r1`).
- `fullUrl`s are `urn:uuid:`s made (UUID 5) from the type and business identifier, so the
  same entry gives the same Bundle bytes every time.
- Entries of a patient registered during downtime point at the Patient and Encounter the
  registration makes (or, once a person linked the registration to an EHR patient, at that
  patient, who is sent back with the downtime MRN added as an identifier).
- Bundles are plain dicts; each is checked as it is built (fhir_validation.Checker: every
  resource by the R4 schema, one of each shape by the fhir.resources models).
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote

import orjson

from snapshots.collector import collector_paused

from . import resources as make
from .entries import (
    Entry,
    EntryError,
    MarAdministration,
    Person,
    PhysicianOrder,
    ProgressNote,
    Registration,
    VitalsRow,
)
from .fhir_codes import DATA_OPERATION, PARTICIPANT, BundleSettings
from .fhir_validation import Checker

DEFAULT_SETTINGS = BundleSettings()
NAMESPACE = uuid.UUID("6f1c1d9e-5a3b-5c59-9d1e-0b7a4f2f8c11")  # the toolkit's, fixed forever


@dataclass(frozen=True)
class ScannedPage:
    """A scanned page of an issued form: its image (or PDF) bytes and media type, and whose
    it is (as the form's QR says: for a registration, the downtime MRN and number)."""

    form_id: str
    page: int
    media_type: str
    data: bytes
    patient_id: str
    encounter_id: str
    scanned_at: datetime
    kind: str = ""  # the form kind ("mar", "orders", ...), for the description

    @property
    def key(self) -> str:
        return f"{self.form_id}/p{self.page}"


@dataclass(frozen=True)
class PatientBundle:
    """One patient's transaction Bundle. `entry_keys[i]` is the back-entry line Bundle entry
    i came from (None for a scanned page), so that each entry's outcome can be journaled."""

    patient: str  # `Patient/<id>`, or `downtime MRN <mrn>` for a patient created here
    bundle: dict
    entry_keys: tuple[str | None, ...]

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.bundle)


def build_bundles(entries: Iterable[Entry], pages: Iterable[ScannedPage] = (), *,
                  links: Mapping[str, dict] | None = None,
                  settings: BundleSettings = DEFAULT_SETTINGS,
                  checker: Checker | None = None) -> list[PatientBundle]:
    """Per patient, a transaction Bundle of what `entries` (the latest revision of each
    paper line is the one in force) and `pages` make. `links`: downtime MRN -> the EHR's
    Patient resource (as read) a person linked that registration to. Each Bundle is
    checked by `checker` (a new Checker when None) and InvalidFhir raised on a bad one."""
    checker = checker if checker is not None else Checker()
    with collector_paused():  # many small dicts, no cycles: collections only cost here
        return _build_all(entries, pages, links, settings, checker)


def _build_all(entries: Iterable[Entry], pages: Iterable[ScannedPage],
               links: Mapping[str, dict] | None, settings: BundleSettings,
               checker: Checker) -> list[PatientBundle]:
    in_force = _in_force(entries)
    registrations = {e.downtime_mrn: e for e in in_force if isinstance(e, Registration)}
    who = _Patients(registrations, dict(links or {}), settings)
    groups: dict[str, _Group] = {}
    for page in pages:
        who.group(groups, page.patient_id).pages.setdefault(page.key, page)
    for entry in in_force:
        who.group(groups, entry.patient_id).entries.append(entry)
    out = []
    for group in groups.values():
        built = _build(group, who, settings)
        checker.check_bundle(built.bundle, f"Bundle for {built.patient}")
        out.append(built)
    return out


def _in_force(entries: Iterable[Entry]) -> list[Entry]:
    latest: dict[str, Entry] = {}
    for entry in entries:
        held = latest.get(entry.key)
        if held is not None and held.revision == entry.revision and held != entry:
            raise EntryError(f"{entry.key}: two different entries of revision "
                             f"{entry.revision} (a correction is the next revision)")
        if held is None or entry.revision > held.revision:
            latest[entry.key] = entry
    return sorted(latest.values(), key=lambda e: (e.paper_time, e.key))


@dataclass
class _Group:
    key: str
    registration: Registration | None = None
    linked: dict | None = None
    entries: list[Entry] = field(default_factory=list)
    pages: dict[str, ScannedPage] = field(default_factory=dict)


class _Patients:
    """Who an entry's patient and encounter ids are: an EHR id, or a downtime registration
    (created here, or linked to an EHR patient)."""

    def __init__(self, registrations: dict[str, Registration], links: dict[str, dict],
                 settings: BundleSettings) -> None:
        self.registrations, self.links, self.settings = registrations, links, settings

    def group(self, groups: dict[str, _Group], patient_id: str) -> _Group:
        key = self.patient_label(patient_id)
        group = groups.setdefault(key, _Group(key))
        reg = self.registrations.get(patient_id)
        if reg is not None:  # the EHR patient's own records may have come first
            group.registration, group.linked = reg, self.links.get(patient_id)
        return group

    def patient_label(self, patient_id: str) -> str:
        if patient_id in self.registrations:
            linked = self.links.get(patient_id)
            return f"Patient/{linked['id']}" if linked else f"downtime MRN {patient_id}"
        return f"Patient/{patient_id}"

    def patient_ref(self, patient_id: str) -> dict:
        reg = self.registrations.get(patient_id)
        if reg is None:
            return {"reference": f"Patient/{patient_id}"}
        linked = self.links.get(patient_id)
        if linked:
            return {"reference": f"Patient/{linked['id']}"}
        return {"reference": urn("Patient", self.settings.downtime_mrn_system, patient_id)}

    def encounter_ref(self, patient_id: str, encounter_id: str) -> dict:
        reg = self.registrations.get(patient_id)
        if reg is not None and encounter_id == reg.encounter_number:
            return {"reference": urn("Encounter", self.settings.encounter_number_system,
                                     encounter_id)}
        return {"reference": f"Encounter/{encounter_id}"}


def _token(system: str, value: str) -> str:
    """`system|value` for a search URL, percent-encoded where it must be."""
    return quote(f"{system}|{value}", safe=":/|")


def urn(rtype: str, system: str, value: str) -> str:
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, f'{rtype}|{system}|{value}')}"


class _Assembly:
    """The entries of one Bundle as they are added, with the line each came from."""

    def __init__(self, settings: BundleSettings) -> None:
        self.settings = settings
        self.entries: list[dict] = []
        self.keys: list[str | None] = []

    def create(self, resource: dict, system: str, value: str, key: str | None,
               search: str = "identifier") -> str:
        rtype = resource["resourceType"]
        full = urn(rtype, system, value)
        query = f"{search}={_token(system, value)}"
        self._add(full, resource, {"method": "POST", "url": rtype, "ifNoneExist": query}, key)
        return full

    def correct(self, resource: dict, system: str, value: str, key: str) -> str:
        rtype = resource["resourceType"]
        full = urn(rtype, system, value)
        self._add(full, resource, {"method": "PUT",
                                   "url": f"{rtype}?identifier={_token(system, value)}"}, key)
        return full

    def put(self, resource: dict, key: str | None) -> None:
        request = {"method": "PUT", "url": f"Patient/{resource['id']}"}
        version = (resource.get("meta") or {}).get("versionId")
        if version:  # never overwrite a change made in the EHR since the patient was read
            request["ifMatch"] = f'W/"{version}"'
        body = {k: v for k, v in resource.items() if k != "meta"}
        self._add(urn("Patient", "id", resource["id"]), body, request, key)

    def _add(self, full: str, resource: dict, request: dict, key: str | None) -> None:
        self.entries.append({"fullUrl": full, "resource": resource, "request": request})
        self.keys.append(key)


def _build(group: _Group, who: _Patients, settings: BundleSettings) -> PatientBundle:
    out = _Assembly(settings)
    page_refs = {k: {"reference": out.create(_page_document(p, who, settings),
                                             settings.page_system, k, None)}
                 for k, p in sorted(group.pages.items())}
    orders = {e.key: urn("MedicationRequest", settings.entry_system, e.key)
              for e in group.entries if isinstance(e, PhysicianOrder)}
    for entry in group.entries:
        page = page_refs.get(entry.source.page_key)
        refs = make.Refs(settings, who.patient_ref(entry.patient_id),
                         who.encounter_ref(entry.patient_id, entry.encounter_id),
                         order=lambda e: _order_ref(e, orders, settings), page=page)
        targets = _entry_resources(entry, group, refs, out)
        _provenance(entry, targets, page, out)
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": out.entries}
    return PatientBundle(group.key, bundle, tuple(out.keys))


def _entry_resources(entry: Entry, group: _Group, refs: make.Refs,
                     out: _Assembly) -> list[str]:
    settings = refs.settings
    if isinstance(entry, Registration):
        return _registration(entry, group, refs, out)
    made = {MarAdministration: make.administration, PhysicianOrder: make.medication_request,
            VitalsRow: make.observations, ProgressNote: make.note_document}[type(entry)](
        entry, refs)
    add = out.correct if entry.revision else out.create
    return [add(m.resource, settings.entry_system, m.ident, entry.key) for m in made]


def _registration(e: Registration, group: _Group, refs: make.Refs,
                  out: _Assembly) -> list[str]:
    settings = refs.settings
    if group.linked is not None:
        out.put(make.linked_patient(group.linked, e, settings) | {
            "meta": group.linked.get("meta") or {}}, e.key)
        patient_target = f"Patient/{group.linked['id']}"
    else:
        add = out.correct if e.revision else out.create
        patient_target = add(make.patient(e, settings), settings.downtime_mrn_system,
                             e.downtime_mrn, e.key)
    add = out.correct if e.revision else out.create
    enc = add(make.encounter(e, refs), settings.encounter_number_system, e.encounter_number,
              e.key)
    return [patient_target, enc]


def _order_ref(e: MarAdministration, orders: dict[str, str],
               settings: BundleSettings) -> dict | None:
    if e.order_id:
        return {"reference": f"MedicationRequest/{e.order_id}"}
    if e.order_line is None:
        return None
    if e.order_line.key in orders:
        return {"reference": orders[e.order_line.key]}
    # a paper order sent in an earlier Bundle: the server finds it by its identifier
    return {"reference": "MedicationRequest?identifier="
                         f"{_token(settings.entry_system, e.order_line.key)}"}


def _page_document(page: ScannedPage, who: _Patients, settings: BundleSettings) -> dict:
    what = f"Scanned downtime form {page.form_id}" + (f" ({page.kind})" if page.kind else "")
    return {
        "resourceType": "DocumentReference",
        "identifier": [make.identifier(settings.page_system, page.key)],
        "status": "current",
        "type": {"text": "Scanned downtime paper form"},
        "subject": who.patient_ref(page.patient_id),
        "date": make.dt(page.scanned_at),
        "description": f"{what}, page {page.page}",
        "content": [{"attachment": {
            "contentType": page.media_type,
            "data": base64.b64encode(page.data).decode("ascii"),
            "size": len(page.data),
            "hash": base64.b64encode(hashlib.sha1(page.data).digest()).decode("ascii"),
            "title": f"{page.form_id} page {page.page}"}}],
        "context": {"encounter": [who.encounter_ref(page.patient_id, page.encounter_id)]},
    }


def _provenance(entry: Entry, targets: list[str], page: dict | None, out: _Assembly) -> None:
    settings = out.settings
    tag = entry.key + (f"/r{entry.revision}" if entry.revision else "")
    agents = [_agent("author", _author(entry))]
    performer = _performer(entry)
    if performer is not None:
        agents.append(_agent("performer", performer))
    if isinstance(entry, PhysicianOrder) and entry.mode != "written":
        agents.append(_agent("informant", entry.written_by))  # the nurse who took it
    agents.append(_agent("enterer", entry.entered_by))
    # the page: in this Bundle, or (not scanned, or sent before) named by its identifier
    source = page or {"identifier": make.identifier(settings.page_system,
                                                    entry.source.page_key)}
    resource = {
        "resourceType": "Provenance",
        "meta": {"tag": [{"system": settings.provenance_tag, "code": tag}]},
        "target": [{"reference": t} for t in targets],
        "occurredDateTime": make.dt(entry.paper_time),
        "recorded": make.dt(entry.entered_at),
        "policy": [settings.policy],
        "activity": {"coding": [{"system": DATA_OPERATION,
                                 "code": "UPDATE" if entry.revision else "CREATE"}]},
        "agent": agents,
        "entity": [{"role": "source", "what": source}],
    }
    out.create(resource, settings.provenance_tag, tag, entry.key, search="_tag")


def _author(entry: Entry) -> Person:
    return entry.ordered_by if isinstance(entry, PhysicianOrder) else entry.written_by


def _performer(entry: Entry) -> Person | None:
    if isinstance(entry, MarAdministration):
        return entry.performer or entry.written_by
    if isinstance(entry, VitalsRow):
        return entry.written_by
    return None


def _agent(code: str, who: Person) -> dict:
    return {"type": {"coding": [{"system": PARTICIPANT, "code": code,
                                 "display": code.capitalize()}]},
            "who": make.person(who)}
