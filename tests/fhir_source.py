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


def allergy_ward(folder: Path) -> Path:
    """One unit with a patient of each kind the allergy and order findings are about:

    - a1 NKDA only; a2 NKA; a3 a penicillin G allergy (RxNorm 7980) with an active
      piperacillin-tazobactam and a held cefazolin order; a4 an allergy whose code is a plain
      string and whose criticality is a number; a5 an active order that did not load
      (oversized) and an allergy that did not load (invalid id) beside NKA; a6 and a7 alike
      names (SMITH, John / SMITH, Jon); a8 potassium 3.3 L yesterday, 4.0 today.
    """
    nkda = (SNOMED, "409137002", "No known drug allergy")
    nka = (SNOMED, "716186003", "No known allergy")
    big = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">' +
           "x" * (1 << 20) + "</div>"}
    resources = [*unit()]
    people = (("a1", "NODRUG", "Ada"), ("a2", "NONE", "Bea"), ("a3", "PENN", "Cal"),
              ("a4", "BROKEN", "Dee"), ("a5", "LOST", "Eve"), ("a6", "SMITH", "John"),
              ("a7", "SMITH", "Jon"), ("a8", "KALIUM", "Hal"))
    for (pid, family, given), bed in zip(people, "ABCDEFGH", strict=True):
        resources += inpatient(pid, family, given, bed)
    resources += [
        allergy("al-a1", "a1", nkda), allergy("al-a2", "a2", nka),
        allergy("al-a3", "a3", (RXNORM, "7980", "Penicillin G"), category=["medication"],
                criticality="high", reaction=[{"manifestation": [{"text": "Hives"}]}]),
        order("mr-a3-zosyn", "a3", "Piperacillin-tazobactam 3.375 g IV", "1659149",
              times=("00:00", "06:00", "12:00", "18:00")),
        order("mr-a3-cefazolin", "a3", "Cefazolin 1 g IV", status="on-hold"),
        order("mr-a3-metoprolol", "a3", "Metoprolol tartrate 25 mg tablet", "866514"),
        allergy("al-a4", "a4", "Sulfa drugs", criticality=3,
                reaction=[{"manifestation": [{"text": "Rash"}]}]),
        order("mr-a4", "a4", "Sulfamethoxazole / trimethoprim 800/160 mg tablet"),
        allergy("al-a5", "a5", nka),
        allergy("al-a5_x", "a5", (RXNORM, "2670", "Codeine")),  # not a FHIR id
        {**order("mr-a5-big", "a5", "Vancomycin 1 g IV"), "text": big},
        order("mr-a5-ok", "a5", "Amlodipine 5 mg tablet", "197361"),
        allergy("al-a6", "a6", nka), allergy("al-a7", "a7", nkda),
        order("mr-a6", "a6", "Metoprolol tartrate 25 mg tablet"),
        order("mr-a7", "a7", "Metformin 500 mg tablet"),
        allergy("al-a8", "a8", nka),
        lab("k-a8-1", "a8", "2823-3", "Potassium [Moles/volume] in Serum or Plasma", 3.3,
            "mmol/L", 32, 3.5, 5.1, "L"),
        lab("k-a8-0", "a8", "2823-3", "Potassium [Moles/volume] in Serum or Plasma", 4.0,
            "mmol/L", 8, 3.5, 5.1, "N"),
    ]
    return write(folder, resources)
