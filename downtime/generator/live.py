"""A hospital's day as a stream of changes, for the sandbox's `--live RATE` (and drills).

From the current inpatients of a hospital (as `downtime generate` made it, or as a server
holds it now) it makes, one change at a time: vital signs, a lab panel, a dose given of an
active order, a new order, an order stopped or put on hold, a note, an admission, a transfer,
a discharge, and now and then a result deleted as entered in error. Deterministic: the same
hospital, seed and start give the same changes with the same times and ids.

The mix is a day on a ward, per inpatient and hour (WEIGHTS): vitals every four hours, labs
once a day, a dose every couple of hours, two new orders and notes a day, an admission and a
discharge every five days or so. `rate` (changes per hour per inpatient) sets the pace: the
gaps between changes are exponential with mean 3600 / (rate x inpatients) seconds, so 1 is
about a real day and 60 a day in 25 minutes. The resources come from the generator's own
factories (hospital.Hospital), so they look like the rest of the hospital.

    stream = LiveStream(HospitalState.from_resources(resources), seed=1, rate=6, start=now)
    for change in stream: ...   # change.at, change.kind, change.put (resources), change.delete
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from . import tables as t
from .hospital import Hospital, iso

INPATIENT_CLASSES = {"IMP", "ACUTE", "OBSENC"}
WEIGHTS = {"vitals": 0.25, "labs": 0.04, "administration": 0.45, "order": 0.06,
           "order-change": 0.02, "note": 0.08, "admission": 0.008, "transfer": 0.004,
           "discharge": 0.008, "correction": 0.003}


@dataclass
class Inpatient:
    encounter: dict
    patient_id: str
    unit: str  # unit code
    bed: str  # Location id
    orders: list[dict] = field(default_factory=list)  # active MedicationRequests

    @property
    def encounter_id(self) -> str:
        return self.encounter["id"]


@dataclass
class HospitalState:
    inpatients: dict[str, Inpatient]  # encounter id -> the stay
    free_beds: dict[str, list[str]]  # unit code -> free bed Location ids
    attendings: list[str]
    nurses: list[str]
    recent_results: list[str] = field(default_factory=list)  # "Observation/id" made here

    @classmethod
    def from_resources(cls, resources: Iterable[dict]) -> HospitalState:
        """The current inpatients, beds and staff of a hospital's resources (any order)."""
        encounters, orders, locations, staff = [], [], {}, []
        for r in resources:
            kind = r.get("resourceType")
            if kind == "Encounter":
                encounters.append(r)
            elif kind == "MedicationRequest" and r.get("status") == "active":
                orders.append(r)
            elif kind == "Location":
                locations[r["id"]] = r
            elif kind == "Practitioner":
                staff.append(r["id"])
        units = {lid: _unit_code(lid, locations) for lid in locations}
        beds = sorted(lid for lid, loc in locations.items() if _physical(loc) == "bd")
        inpatients: dict[str, Inpatient] = {}
        for enc in sorted(encounters, key=lambda e: e["id"]):
            bed = _active_bed(enc)
            if enc.get("status") == "in-progress" and (enc.get("class") or {}).get("code") in \
                    INPATIENT_CLASSES and bed in units and units[bed]:
                inpatients[enc["id"]] = Inpatient(enc, _ref_id(enc.get("subject")), units[bed],
                                                  bed)
        for order in sorted(orders, key=lambda o: o["id"]):
            stay = inpatients.get(_ref_id(order.get("encounter")))
            # an order without a subject or dosage (a mess of the export) is left as it is
            if stay is not None and order.get("dosageInstruction") and order.get("subject"):
                stay.orders.append(order)
        taken = {stay.bed for stay in inpatients.values()}
        free: dict[str, list[str]] = {}
        for bed in beds:
            if bed not in taken and units.get(bed):
                free.setdefault(units[bed], []).append(bed)
        attendings = sorted(s for s in staff if s.startswith("prac-md")) or sorted(staff)
        nurses = sorted(s for s in staff if s.startswith("prac-rn")) or sorted(staff)
        return cls(inpatients, free, attendings or ["unknown"], nurses or ["unknown"])


@dataclass
class Change:
    at: datetime
    kind: str
    put: list[dict]  # resources to create or update (PUT: ids are given)
    delete: list[str] = field(default_factory=list)  # "Type/id"


class LiveStream:
    def __init__(self, state: HospitalState, *, seed: int, rate: float, start: datetime):
        if rate <= 0:
            raise ValueError("rate must be above 0 (changes per hour per inpatient)")
        self.state, self.rate = state, rate
        self.rng = random.Random(seed)
        self.h = Hospital(self.rng, start)
        self.now = start
        self.prefix = f"lv{seed}-{start:%Y%m%d%H%M}"
        self.n = 0

    def __iter__(self) -> Iterator[Change]:
        while True:
            yield self.next()

    def next(self) -> Change:
        inpatients = max(1, len(self.state.inpatients))
        self.now += timedelta(seconds=self.rng.expovariate(self.rate * inpatients / 3600))
        self.h.as_of = self.now
        self.n += 1
        kind = self.rng.choices(list(WEIGHTS), list(WEIGHTS.values()))[0]
        change = getattr(self, "_" + kind.replace("-", "_"))()
        return change or self._vitals()  # nothing of that kind to do: a set of vitals

    # --- the kinds -----------------------------------------------------------------------------

    def _stay(self) -> Inpatient | None:
        stays = list(self.state.inpatients.values())
        return self.rng.choice(stays) if stays else None

    def _id(self, what: str) -> str:
        return f"{self.prefix}-{self.n}-{what}"

    def _vitals(self) -> Change | None:
        stay = self._stay()
        if stay is None:
            return None
        h, put = self.h, []
        for spec in t.VITALS:
            put.append(h.observation(self._id(f"vs-{spec[0]}"), stay.patient_id,
                                     stay.encounter_id, self.now, spec, "vital-signs"))
        put.append(h.blood_pressure(self._id("bp"), stay.patient_id, stay.encounter_id,
                                    self.now))
        self.state.recent_results.extend(f"Observation/{r['id']}" for r in put)
        return Change(self.now, "vitals", put)

    def _labs(self) -> Change | None:
        stay = self._stay()
        if stay is None:
            return None
        put = [self.h.observation(self._id(f"lab-{spec[0]}"), stay.patient_id,
                                  stay.encounter_id, self.now, spec, "laboratory")
               for spec in t.LABS]
        self.state.recent_results.extend(f"Observation/{r['id']}" for r in put)
        return Change(self.now, "labs", put)

    def _administration(self) -> Change | None:
        stays = [s for s in self.state.inpatients.values() if s.orders]
        if not stays:
            return None
        stay = self.rng.choice(stays)
        order = self.rng.choice(stay.orders)
        given = self.h.administration(self._id("ma"), stay.patient_id, stay.encounter_id,
                                      order, self.now, self.rng.choice(self.state.nurses))
        return Change(self.now, "administration", [given])

    def _order(self, stay: Inpatient | None = None) -> Change | None:
        stay = stay or self._stay()
        if stay is None:
            return None
        order = self.h.med_request(self._id("mr"), stay.patient_id, stay.encounter_id,
                                   self.rng.choice(t.MEDICATIONS), self.now,
                                   self.rng.choice(self.state.attendings))
        stay.orders.append(order)
        return Change(self.now, "order", [order])

    def _order_change(self) -> Change | None:
        stays = [s for s in self.state.inpatients.values() if s.orders]
        if not stays:
            return None
        stay = self.rng.choice(stays)
        order = stay.orders.pop(self.rng.randrange(len(stay.orders)))
        changed = {**order, "status": self.rng.choice(["stopped", "on-hold"])}
        return Change(self.now, "order-change", [changed])

    def _note(self) -> Change | None:
        stay = self._stay()
        if stay is None:
            return None
        kind = self.rng.choice(t.NOTE_TYPES)
        text = (f"{kind[1]}, {self.now:%H:%M}. Patient seen. Vitals and overnight events "
                "reviewed. Plan discussed with the team.")
        note = self.h.note(self._id("doc"), stay.patient_id, stay.encounter_id, self.now,
                           self.rng.choice(self.state.attendings), kind, text)
        return Change(self.now, "note", [note])

    def _admission(self) -> Change | None:
        units = [code for code, beds in sorted(self.state.free_beds.items()) if beds]
        if not units:
            return None
        code = self.rng.choice(units)
        # a unit the demo hospital does not have (another export's): admitted as med-surg
        unit = next((u for u in t.UNITS if u[0] == code), t.UNITS[1])
        bed = self.state.free_beds[code].pop(0)
        h, rng = self.h, self.rng
        pid, eid = self._id("pat"), self._id("enc")
        sex = "female" if unit[2] == "maternity" or rng.random() < 0.5 else "male"
        born = self.now - timedelta(days=rng.randint(unit[5][0] * 365 + 30,
                                                     unit[5][1] * 365 + 300))
        put = [h.patient(pid, rng.choice(t.FAMILY), rng.choice(t.GIVEN_F if sex == "female"
                                                                 else t.GIVEN_M), sex,
                         born.strftime("%Y-%m-%d"), 8_000_000 + self.n)]
        attending = rng.choice(self.state.attendings)
        problem = rng.choice(t.BH_PROBLEMS if unit[2] == "behavioral-health" else t.PROBLEMS)
        encounter = h.encounter(eid, pid, self.now, "IMP", attending=attending, bed=bed,
                                reason=problem[2])
        put += [encounter, h.allergy(self._id("al"), pid, rng.choice(["nka", "coded"])),
                h.condition(self._id("cond"), pid, problem),
                h.flag(self._id("flag"), pid, "code-status", rng.choice(t.CODE_STATUS),
                       self.now)]
        stay = Inpatient(encounter, pid, code, bed)
        self.state.inpatients[eid] = stay
        for k in range(rng.randint(3, 5)):
            put.append(self.h.med_request(self._id(f"mr{k}"), pid, eid,
                                          rng.choice(t.MEDICATIONS), self.now, attending))
            stay.orders.append(put[-1])
        return Change(self.now, "admission", put)

    def _transfer(self) -> Change | None:
        stay = self._stay()
        units = [c for c, beds in sorted(self.state.free_beds.items()) if beds and
                 stay is not None and c != stay.unit]
        if stay is None or not units:
            return None
        code = self.rng.choice(units)
        bed = self.state.free_beds[code].pop(0)
        self.state.free_beds.setdefault(stay.unit, []).append(stay.bed)
        encounter = _moved(stay.encounter, self.now, bed)
        stay.encounter, stay.unit, stay.bed = encounter, code, bed
        return Change(self.now, "transfer", [encounter])

    def _discharge(self) -> Change | None:
        if len(self.state.inpatients) <= 1:
            return None
        stay = self._stay()
        assert stay is not None
        encounter = _moved(stay.encounter, self.now, None)
        encounter["status"] = "finished"
        encounter["period"] = {**encounter.get("period", {}), "end": iso(self.now)}
        put = [encounter] + [{**o, "status": "completed"} for o in stay.orders]
        del self.state.inpatients[stay.encounter_id]
        self.state.free_beds.setdefault(stay.unit, []).append(stay.bed)
        return Change(self.now, "discharge", put)

    def _correction(self) -> Change | None:
        if not self.state.recent_results:
            return None
        gone = self.state.recent_results.pop(self.rng.randrange(len(
            self.state.recent_results)))
        return Change(self.now, "correction", [], [gone])


def _moved(encounter: dict, when: datetime, bed: str | None) -> dict:
    """The encounter with its active bed completed at `when` (and `bed` the new active one)."""
    locations = []
    for loc in encounter.get("location") or []:
        if loc.get("status") == "active":
            loc = {**loc, "status": "completed",
                   "period": {**loc.get("period", {}), "end": iso(when)}}
        locations.append(loc)
    if bed:
        locations.append({"location": {"reference": f"Location/{bed}"}, "status": "active",
                          "period": {"start": iso(when)}})
    return {**encounter, "location": locations}


def _ref_id(reference: object) -> str:
    ref = reference.get("reference", "") if isinstance(reference, dict) else ""
    return ref.rstrip("/").rsplit("/", 1)[-1] if ref else ""


def _physical(location: dict) -> str:
    codings = (location.get("physicalType") or {}).get("coding") or [{}]
    return codings[0].get("code", "")


def _active_bed(encounter: dict) -> str:
    active = [loc for loc in encounter.get("location") or [] if loc.get("status") == "active"]
    return _ref_id(active[-1].get("location")) if active else ""


def _unit_code(lid: str, locations: dict[str, dict], depth: int = 0) -> str:
    """The unit code (its identifier) of a bed, room or unit Location: up through partOf."""
    loc = locations.get(lid)
    if loc is None or depth > 5:
        return ""
    for ident in loc.get("identifier") or []:
        if str(ident.get("system", "")).endswith("/unit") and ident.get("value"):
            return str(ident["value"])
    return _unit_code(_ref_id(loc.get("partOf")), locations, depth + 1)


def expected_gap_seconds(rate: float, inpatients: int) -> float:
    """The mean time between changes at `rate` for this many inpatients."""
    return 3600 / (rate * max(1, inpatients)) if rate > 0 else math.inf
