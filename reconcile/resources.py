"""One back-entry record as the FHIR R4 resources it becomes (plain dicts, JSON-ready).

Each function takes an entry and the references the Bundle resolved for it (`Refs`: the
patient, the encounter, a paper order) and returns `Made` resources: each with the value of
its business identifier. The Bundle (bundles.py) adds fullUrls, requests and the Provenance.
Times: the paper's time is the clinical time (`effective`, `authoredOn`, `period`); the entry
time is `issued`/`date` where R4 has one and always the Provenance's `recorded`.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from .entries import (
    Drug,
    MarAdministration,
    Person,
    PhysicianOrder,
    ProgressNote,
    Quantity,
    Registration,
    VitalReading,
    VitalsRow,
)
from .fhir_codes import (
    ACT_CODE,
    DECLINED_BY_PATIENT,
    DIASTOLIC,
    LOINC,
    MED_ADMIN_CATEGORY,
    MED_REQUEST_CATEGORY,
    OBS_CATEGORY,
    PROGRESS_NOTE,
    RXNORM,
    SNOMED,
    SYSTOLIC,
    UCUM,
    UCUM_DISPLAY,
    V2_0203,
    VITALS_LOINC,
    BundleSettings,
)


@dataclass(frozen=True)
class Made:
    """A resource made from an entry, with its business identifier's value."""

    resource: dict
    ident: str


@dataclass(frozen=True)
class Refs:
    settings: BundleSettings
    patient: dict  # a Reference
    encounter: dict
    order: Callable[[MarAdministration], dict | None] = lambda _e: None
    page: dict | None = None  # the page's DocumentReference, when in this Bundle


def dt(value: datetime) -> str:
    """An R4 dateTime/instant: UTC, seconds, `Z` (an instant needs the seconds and a zone)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def person(who: Person) -> dict:
    ref: dict = {"display": who.name}
    if who.practitioner_id:
        ref["reference"] = f"Practitioner/{who.practitioner_id}"
    return ref


def identifier(system: str, value: str) -> dict:
    return {"system": system, "value": value}


def drug(d: Drug) -> dict:
    concept: dict = {"text": d.text}
    if d.rxnorm:
        concept["coding"] = [{"system": RXNORM, "code": d.rxnorm}]
    return concept


def quantity(q: Quantity) -> dict:
    return {"value": q.value, "unit": q.unit, "system": UCUM, "code": q.unit}


def _num(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


# --- MAR ----------------------------------------------------------------------------------


def administration(e: MarAdministration, refs: Refs) -> list[Made]:
    res: dict = {
        "resourceType": "MedicationAdministration",
        "identifier": [identifier(refs.settings.entry_system, e.key)],
        "status": "completed" if e.outcome == "given" else "not-done",
        "category": {"coding": [{"system": MED_ADMIN_CATEGORY, "code": "inpatient"}]},
        "medicationCodeableConcept": drug(e.drug),
        "subject": refs.patient,
        "context": refs.encounter,
        "effectiveDateTime": dt(e.paper_time),
        "performer": [{"actor": person(e.performer or e.written_by)}],
        "dosage": {"route": {"text": e.route}, "dose": quantity(e.dose)},
    }
    if e.outcome != "given":
        reason: dict = {"text": f"{e.outcome}: {e.reason}"}
        if e.outcome == "refused":
            code, display = DECLINED_BY_PATIENT
            reason["coding"] = [{"system": SNOMED, "code": code, "display": display}]
        res["statusReason"] = [reason]
    if e.prn and e.prn_reason:
        res["reasonCode"] = [{"text": f"PRN: {e.prn_reason}"}]
    if (order := refs.order(e)) is not None:
        res["request"] = order
    return [Made(res, e.key)]


# --- orders -------------------------------------------------------------------------------


def medication_request(e: PhysicianOrder, refs: Refs) -> list[Made]:
    dosage: dict = {
        "text": f"{_num(e.dose.value)} {e.dose.unit} {e.route} {e.frequency}"
                + (f" PRN {e.prn_reason}" if e.prn and e.prn_reason else ""),
        "timing": {"code": {"text": e.frequency}},
        "route": {"text": e.route},
        "doseAndRate": [{"doseQuantity": quantity(e.dose)}],
    }
    if e.prn:
        dosage["asNeededBoolean" if not e.prn_reason else "asNeededCodeableConcept"] = \
            True if not e.prn_reason else {"text": e.prn_reason}
    res: dict = {
        "resourceType": "MedicationRequest",
        "identifier": [identifier(refs.settings.entry_system, e.key)],
        "status": e.status,
        "intent": "order",
        "category": [{"coding": [{"system": MED_REQUEST_CATEGORY, "code": "inpatient"}]}],
        "medicationCodeableConcept": drug(e.drug),
        "subject": refs.patient,
        "encounter": refs.encounter,
        "authoredOn": dt(e.paper_time),
        "requester": person(e.ordered_by),
        "recorder": person(e.entered_by),
        "dosageInstruction": [dosage],
    }
    if e.mode != "written":
        said = f"{e.mode.capitalize()} order from {e.ordered_by.name}, taken by " \
               f"{e.written_by.name}" + (", read back" if e.read_back else ", not read back")
        res["note"] = [{"text": said}]
    return [Made(res, e.key)]


# --- vitals -------------------------------------------------------------------------------


def observations(e: VitalsRow, refs: Refs) -> list[Made]:
    return [Made(_observation(e, r, refs), f"{e.key}/{r.measure}") for r in e.readings]


def _observation(e: VitalsRow, r: VitalReading, refs: Refs) -> dict:
    code, display = VITALS_LOINC[r.measure]
    res: dict = {
        "resourceType": "Observation",
        "identifier": [identifier(refs.settings.entry_system, f"{e.key}/{r.measure}")],
        "status": "final",
        "category": [{"coding": [{"system": OBS_CATEGORY, "code": "vital-signs",
                                  "display": "Vital Signs"}]}],
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}],
                 "text": display},
        "subject": refs.patient,
        "encounter": refs.encounter,
        "effectiveDateTime": dt(e.paper_time),
        "issued": dt(e.entered_at),
        "performer": [person(e.written_by)],
    }
    if r.measure == "blood_pressure":
        res["component"] = [_component(SYSTOLIC, r.value, r.unit),
                            _component(DIASTOLIC, r.diastolic or 0.0, r.unit)]
    else:
        res["valueQuantity"] = _ucum(r.value, r.unit)
    return res


def _component(loinc: tuple[str, str], value: float, unit: str) -> dict:
    return {"code": {"coding": [{"system": LOINC, "code": loinc[0], "display": loinc[1]}]},
            "valueQuantity": _ucum(value, unit)}


def _ucum(value: float, unit: str) -> dict:
    return {"value": _num(value), "unit": UCUM_DISPLAY.get(unit, unit), "system": UCUM,
            "code": unit}


# --- notes and pages ----------------------------------------------------------------------


def note_document(e: ProgressNote, refs: Refs) -> list[Made]:
    text = e.text.encode("utf-8")
    context: dict = {"encounter": [refs.encounter], "period": {"start": dt(e.paper_time)}}
    if refs.page is not None:
        context["related"] = [refs.page]
    res = {
        "resourceType": "DocumentReference",
        "identifier": [identifier(refs.settings.entry_system, e.key)],
        "status": "current",
        "docStatus": "final",
        "type": {"coding": [{"system": LOINC, "code": PROGRESS_NOTE[0],
                             "display": PROGRESS_NOTE[1]}], "text": e.title},
        "subject": refs.patient,
        "date": dt(e.entered_at),
        "author": [person(e.written_by)],
        "description": f"{e.title}, written on paper during downtime",
        "content": [{"attachment": {"contentType": "text/plain; charset=utf-8",
                                    "data": base64.b64encode(text).decode("ascii"),
                                    "title": e.title,
                                    "creation": dt(e.paper_time)}}],
        "context": context,
    }
    return [Made(res, e.key)]


# --- registrations ------------------------------------------------------------------------


def patient(e: Registration, settings: BundleSettings) -> dict:
    res: dict = {"resourceType": "Patient", "identifier": [downtime_mrn(e, settings)] + [
        identifier(i.system, i.value) for i in e.identifiers]}
    name: dict = {"use": "official"}
    if e.family.strip():
        name["family"] = e.family.strip()
    if e.given:
        name["given"] = list(e.given)
    res["name"] = [name]
    res["gender"] = e.sex
    if e.birth_date is not None:
        res["birthDate"] = e.birth_date.isoformat()
    if e.phone:
        res["telecom"] = [{"system": "phone", "value": e.phone}]
    if e.address is not None:
        address = {k: v for k, v in (("city", e.address.city),
                                     ("postalCode", e.address.postal_code)) if v}
        if e.address.line:
            address["line"] = [e.address.line]
        if address:
            res["address"] = [address]
    return res


def downtime_mrn(e: Registration, settings: BundleSettings) -> dict:
    return {"use": "secondary", "type": {"coding": [{"system": V2_0203, "code": "MR"}],
                                         "text": "downtime MRN"},
            "system": settings.downtime_mrn_system, "value": e.downtime_mrn}


def linked_patient(existing: dict, e: Registration, settings: BundleSettings) -> dict:
    """The EHR's patient as read, with the downtime MRN added (once) as an identifier."""
    res = {k: v for k, v in existing.items() if k != "meta"}
    ids = list(res.get("identifier") or [])
    mine = downtime_mrn(e, settings)
    if not any(i.get("system") == mine["system"] and i.get("value") == mine["value"]
               for i in ids):
        ids.append(mine)
    res["identifier"] = ids
    return res


def encounter(e: Registration, refs: Refs) -> dict:
    return {
        "resourceType": "Encounter",
        "identifier": [{"use": "secondary", "type": {"coding": [{"system": V2_0203,
                                                                  "code": "VN"}],
                                                      "text": "downtime encounter number"},
                        "system": refs.settings.encounter_number_system,
                        "value": e.encounter_number}],
        "status": "in-progress",
        "class": {"system": ACT_CODE, "code": e.encounter_class},
        "subject": refs.patient,
        "period": {"start": dt(e.paper_time)},
    }
