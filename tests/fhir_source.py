"""A small FHIR R4 source a test writes itself: one unit, a few current inpatients, and the
allergies, orders and labs a test needs, as Bulk Data NDJSON (one file per type). Built with
the real pipeline, so a test sees what the mapping, the checks and the read model make of it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from snapshots.build_results import BuildResult
from snapshots.pipeline import build_database
from snapshots.settings import BuildSettings

AS_OF = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOCAL = "https://hospital.example.org/fhir/"
CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def unit(code: str = "4W") -> list[dict]:
    """A ward with one room of four beds."""
    ward = {"resourceType": "Location", "id": f"unit-{code}", "status": "active",
            "name": f"Unit {code}", "identifier": [{"system": f"{LOCAL}unit", "value": code}],
            "physicalType": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                   "location-physical-type", "code": "wa"}]}}
    room = {"resourceType": "Location", "id": f"room-{code}-1", "status": "active",
            "name": f"{code}-001", "partOf": {"reference": f"Location/unit-{code}"},
            "physicalType": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                   "location-physical-type", "code": "ro"}]}}
    beds = [{"resourceType": "Location", "id": f"bed-{code}-{b}", "status": "active",
             "name": f"{code}-001-{b}", "partOf": {"reference": f"Location/room-{code}-1"},
             "physicalType": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                    "location-physical-type", "code": "bd"}]}}
            for b in "ABCDEFGH"]
    return [ward, room, *beds]


def inpatient(pid: str, family: str, given: str, bed: str, birth: str = "1950-03-04",
              unit_code: str = "4W") -> list[dict]:
    """A patient and an in-progress inpatient encounter `enc-<pid>` in bed `bed` (A-H)."""
    patient = {"resourceType": "Patient", "id": pid, "identifier": [{
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                             "code": "MR"}]},
        "system": f"{LOCAL}mrn", "value": f"MRN-{pid}"}],
        "name": [{"family": family, "given": [given]}], "gender": "female",
        "birthDate": birth}
    encounter = {"resourceType": "Encounter", "id": f"enc-{pid}", "status": "in-progress",
                 "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                           "code": "IMP"},
                 "subject": {"reference": f"Patient/{pid}"},
                 "period": {"start": iso(AS_OF - timedelta(days=2))},
                 "location": [{"location": {"reference": f"Location/bed-{unit_code}-{bed}"},
                               "status": "active"}]}
    return [patient, encounter]


def allergy(aid: str, pid: str, code: object = None, **extra: object) -> dict:
    """An active AllergyIntolerance; `code` as given (a CodeableConcept, or anything else a
    broken export sends), or a SNOMED/RxNorm coding from a (system, code, display) tuple."""
    res: dict = {"resourceType": "AllergyIntolerance", "id": aid,
                 "clinicalStatus": {"coding": [{"system": CLINICAL, "code": "active"}]},
                 "patient": {"reference": f"Patient/{pid}"}}
    if isinstance(code, tuple):
        system, value, display = code
        res["code"] = {"coding": [{"system": system, "code": value, "display": display}]}
    elif code is not None:
        res["code"] = code
    res.update(extra)
    return res


def order(mid: str, pid: str, display: str, rxnorm: str | None = None,
          status: str = "active", times: tuple[str, ...] = ("09:00", "21:00"),
          **extra: object) -> dict:
    """A MedicationRequest given at `times`, coded in RxNorm when `rxnorm` is given."""
    concept: dict = {"text": display}
    if rxnorm:
        concept["coding"] = [{"system": RXNORM, "code": rxnorm, "display": display}]
    res = {"resourceType": "MedicationRequest", "id": mid, "status": status, "intent": "order",
           "medicationCodeableConcept": concept, "subject": {"reference": f"Patient/{pid}"},
           "encounter": {"reference": f"Encounter/enc-{pid}"},
           "authoredOn": iso(AS_OF - timedelta(days=1)),
           "dosageInstruction": [{"text": display, "timing": {"repeat": {
               "frequency": len(times), "period": 1, "periodUnit": "d",
               "timeOfDay": [f"{t}:00" for t in times]}},
               "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "g"}}]}]}
    res.update(extra)
    return res


def lab(oid: str, pid: str, loinc: str, display: str, value: float, unit_: str,
        hours_ago: float, low: float, high: float, flag: str | None = None) -> dict:
    res = {"resourceType": "Observation", "id": oid, "status": "final",
           "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                               "observation-category",
                                     "code": "laboratory"}]}],
           "code": {"coding": [{"system": "http://loinc.org", "code": loinc,
                                "display": display}]},
           "subject": {"reference": f"Patient/{pid}"},
           "encounter": {"reference": f"Encounter/enc-{pid}"},
           "effectiveDateTime": iso(AS_OF - timedelta(hours=hours_ago)),
           "valueQuantity": {"value": value, "unit": unit_},
           "referenceRange": [{"low": {"value": low, "unit": unit_},
                               "high": {"value": high, "unit": unit_}}]}
    if flag:
        res["interpretation"] = [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
            "code": flag}]}]
    return res


def write(folder: Path, resources: list[dict], raw_lines: dict[str, list[str]] | None = None
          ) -> Path:
    """The resources as <Type>.ndjson files in `folder` (plus raw lines a test wants as they
    are, by type); returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    lines: dict[str, list[str]] = defaultdict(list)
    for res in resources:
        lines[res["resourceType"]].append(json.dumps(res))
    for rtype, extra in (raw_lines or {}).items():
        lines[rtype].extend(extra)
    for rtype, found in lines.items():
        (folder / f"{rtype}.ndjson").write_text("\n".join(found) + "\n")
    return folder


def build(folder: Path, as_of: datetime = AS_OF) -> BuildResult:
    """The canonical database of `folder`, built as `snapshot build` builds it."""
    return build_database(folder, BuildSettings(as_of=as_of))
