"""The allergy and order messes of the demo hospital, each on a patient of its own.

They draw nothing from the hospital's random generator (what a patient would have had is
drawn all the same and replaced), so every other resource keeps its bytes for a seed:

- `nkda_with_food_allergy` (pat-000012): "no known drug allergy" recorded beside a peanut
  allergy. NKDA says nothing about food: the chart shows both, no conflict.
- `allergy_order_cross_reaction` (pat-000013): a penicillin G allergy (hives, high
  criticality) and an active piperacillin-tazobactam order, ordered since the last dose round.
- `malformed_allergy` (pat-000014): an allergy whose `code` is a plain string ("Sulfa drugs",
  not a CodeableConcept) and whose criticality is the number 3; beside it a coded one.
- `order_not_loaded` (pat-000015): an active enoxaparin order whose id is not a FHIR id
  (`mr_15_legacy`, from a legacy interface): the build rejects it, the chart says so, and
  `snapshot build` exits 2.
- `normalised_lab`: the first patient from pat-000012 on who has been in for two days or
  more: potassium 3.3 L yesterday, 4.0 today (trend, not a current finding).
- `nkda_recorded`: those of `nka_recorded` whose statement is NKDA (SNOMED 409137002).
"""

from __future__ import annotations

import copy
from datetime import timedelta

from . import tables as t
from .hospital import Hospital, iso

NKDA = "409137002"
CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
POTASSIUM = "2823-3"


def is_nkda(allergy: dict) -> bool:
    codings = allergy.get("code", {}).get("coding", []) if isinstance(allergy.get("code"),
                                                                     dict) else []
    return any(c.get("code") == NKDA for c in codings)


def _allergy(h: Hospital, aid: str, pid: str, code: object, **extra: object) -> dict:
    res = {"resourceType": "AllergyIntolerance", "id": aid,
           "meta": {"versionId": "1", "lastUpdated": iso(h.as_of - timedelta(days=3))},
           "clinicalStatus": {"coding": [{"system": CLINICAL, "code": "active"}]},
           "verificationStatus": {"coding": [{"system": VERIFICATION, "code": "confirmed"}]},
           "code": code, "patient": {"reference": f"Patient/{pid}"},
           "recordedDate": iso(h.as_of - timedelta(days=400))}
    res.update(extra)
    return res


def allergies(h: Hospital, pid: str, i: int, drawn: list[dict]
              ) -> tuple[list[dict], str | None] | None:
    """The allergies of a patient carrying one of these messes (and the mess recorded for
    them in place of the drawn one), or None for every other patient."""
    if i == 12:
        h.mess("nkda_with_food_allergy", pid)
        return [_allergy(h, f"al-{i}-nkda", pid, h.cc(t.SNOMED, NKDA, "No known drug allergy")),
                _allergy(h, f"al-{i}-peanut", pid, h.cc(t.SNOMED, "91935009", "Peanut"),
                         category=["food"], criticality="high",
                         reaction=[{"manifestation": [{"text": "Anaphylaxis"}],
                                    "severity": "severe"}])], None
    if i == 13:
        h.mess("allergy_order_cross_reaction", pid)
        return [_allergy(h, f"al-{i}-pcn", pid, h.cc(t.RXNORM, "7980", "Penicillin G"),
                         category=["medication"], criticality="high",
                         reaction=[{"manifestation": [{"text": "Hives"}],
                                    "severity": "moderate"}])], None
    if i == 14:
        broken = _allergy(h, f"al-{i}-sulfa", pid, "Sulfa drugs", criticality=3,
                          reaction=[{"manifestation": [{"text": "Rash"}]}])
        h.mess("malformed_allergy", broken["id"])
        return [broken, _allergy(h, f"al-{i}-latex", pid,
                                 h.cc(t.SNOMED, "111088007", "Latex"),
                                 category=["environment"], criticality="low")], None
    return None


def _order(h: Hospital, like: dict, mid: str, med: tuple, times: list[str]) -> dict:
    """A new active order of the patient, made from one of theirs (no draw)."""
    rxnorm, display, dose, unit, route_code, route, timing, _ = med
    order = copy.deepcopy(like)
    order.pop("extension", None)
    order["meta"] = {"versionId": "1", "lastUpdated": iso(h.as_of - timedelta(minutes=40))}
    order.update(id=mid, status="active", authoredOn=iso(h.as_of - timedelta(minutes=45)),
                 medicationCodeableConcept=h.cc(t.RXNORM, rxnorm, display))
    freq, period, unit_, _ = t.TIMING[timing]
    order["dosageInstruction"] = [{
        "text": f"{display} {route.lower()} {timing}", "route": h.cc(t.SNOMED, route_code,
                                                                     route),
        "timing": {"repeat": {"frequency": freq, "period": period, "periodUnit": unit_,
                              "timeOfDay": [f"{x}:00" for x in times]},
                   "code": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                  "v3-GTSAbbreviation", "code": timing}],
                            "text": timing}},
        "doseAndRate": [{"doseQuantity": {"value": dose, "unit": unit, "system": t.UCUM,
                                          "code": unit}}]}]
    return order


def orders(h: Hospital, pid: str, i: int, drawn: list[dict]) -> list[dict]:
    """Orders added for the messes (none for most patients)."""
    if not drawn:
        return []
    meds = {m[1]: m for m in t.MEDICATIONS}
    if i == 13:
        zosyn = meds["Piperacillin-tazobactam 3.375 g IV"]
        return [_order(h, drawn[0], f"mr-{i}-zosyn", zosyn, t.TIMING["Q6H"][3])]
    if i == 15:
        legacy = _order(h, drawn[0], f"mr_{i}_legacy", meds["Enoxaparin 40 mg/0.4 mL injection"],
                        t.TIMING["QD"][3])
        h.mess("order_not_loaded", legacy["id"])
        return [legacy]
    return []


def normalised_lab(h: Hospital, i: int, day: int, hours: int, obs: dict) -> None:
    """Potassium low yesterday and normal today, for one patient in for two days or more
    (yesterday's 05:30 draw is then always after the admission)."""
    if i < 12 or hours < 48 or obs["code"]["coding"][0]["code"] != POTASSIUM:
        return
    chosen = h.messes.get("normalised_lab")
    if chosen and not chosen[0].startswith(f"lab-{i}-"):
        return
    if day > 1:
        return
    value, flag = (4.0, "N") if day == 0 else (3.3, "L")
    obs["valueQuantity"]["value"] = value
    obs["interpretation"][0]["coding"][0]["code"] = flag
    if not chosen:
        h.mess("normalised_lab", obs["id"])
