"""The conflict checks of back-entered paper against what the EHR holds now (issue 12, §4):
each entry in force (reconcile/backentry.py) against the current state
(reconcile/current_state.py), the episode (its window, the forms its registries issued) and
the unit staff lists. Each conflict is `{code, reason, ...}`: the reason in words a clerk
reads (the patient, what the paper says and when, what the EHR says), the rest what a
decision or the submitter needs. At most one conflict of a code per entry (decisions are
taken per code: reconcile/decisions.py).

Codes:
- `discharged`: the encounter ended before the entry's time; `transferred`: the patient had
  left the form's unit by then (the encounter's location history); `died`: the patient was
  recorded deceased before it (or deceased with no time recorded);
- `merged`: the chart was merged (Patient.link replaced-by): `retarget_to` is the surviving
  Patient, which an accepted decision carries on (reconcile/conflict_decisions.py);
- `patient-unknown`, `encounter-unknown`: the EHR has no such patient or encounter (a
  downtime registration's own patient is not looked for until it is linked);
- `order-duplicate`: an EHR order of the same drug, dose and route authored within
  `duplicate_order_hours` of the paper order; `order-completed`: such an order already
  completed (the duplicate-order guard); `order-active`: an EHR order of the same drug
  standing in the same stay, authored earlier (written again on paper, or a new dose or
  route with the old order never stopped: two orders of one drug); `administration-duplicate`:
  a dose given on paper that the EHR has charted within `duplicate_administration_minutes`;
- `allergy`: the drug against the patient's recorded allergies, by the toolkit's allergy
  check (snapshots.allergy_check: ingredient, class, related class; a reminder, not a
  pharmacy system);
- `order-unknown`: an administration of an order neither on paper (a PhysicianOrder entry of
  the episode) nor in the EHR; `dose-mismatch`: a dose that does not match its order's;
- `out-of-window`: the paper's time outside the downtime window (give or take
  `window_grace_minutes`); `future`: after now (give or take `future_grace_minutes`);
- `author-unknown`: who wrote it (or the prescriber) is on no staff list of the unit;
- `form-not-issued`: a form id no collected registry issued; `form-other-patient`: issued for
  another patient (wrong-patient risk); `entered-twice`: the same thing entered from two
  lines (`first`: the line entered first).

Settings, `[reconcile.conflicts]` (docs/configuration.md): the windows above.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from snapshots import allergy_check

from .conflict_settings import ConflictSettings
from .current_state import (
    RXNORM,
    CurrentState,
    EncounterNow,
    Medication,
    OrderNow,
    dose_text,
    medication,
    route_key,
    same_dose,
)
from .entries import (
    Entry,
    MarAdministration,
    PhysicianOrder,
    ProgressNote,
    Registration,
    VitalsRow,
    entry_to_json,
)
from .localtime import local_text
from .staff import StaffList
from .state import EpisodeState

DISCHARGED, TRANSFERRED, DIED, MERGED = "discharged", "transferred", "died", "merged"
PATIENT_UNKNOWN, ENCOUNTER_UNKNOWN = "patient-unknown", "encounter-unknown"
ORDER_DUPLICATE, ORDER_COMPLETED = "order-duplicate", "order-completed"
ORDER_ACTIVE = "order-active"
ADMINISTRATION_DUPLICATE, ALLERGY = "administration-duplicate", "allergy"
ORDER_UNKNOWN, DOSE_MISMATCH = "order-unknown", "dose-mismatch"
OUT_OF_WINDOW, FUTURE, AUTHOR_UNKNOWN = "out-of-window", "future", "author-unknown"
FORM_NOT_ISSUED, FORM_OTHER_PATIENT, ENTERED_TWICE = (
    "form-not-issued", "form-other-patient", "entered-twice")
CODES = (DISCHARGED, TRANSFERRED, DIED, MERGED, PATIENT_UNKNOWN, ENCOUNTER_UNKNOWN,
         ORDER_DUPLICATE, ORDER_COMPLETED, ORDER_ACTIVE, ADMINISTRATION_DUPLICATE, ALLERGY,
         ORDER_UNKNOWN, DOSE_MISMATCH, OUT_OF_WINDOW, FUTURE, AUTHOR_UNKNOWN, FORM_NOT_ISSUED,
         FORM_OTHER_PATIENT, ENTERED_TWICE)
# EHR order statuses that stand (an order stopped, cancelled or in error is no duplicate)
_STANDING = frozenset({"active", "on-hold", "draft"})
_GIVEN = frozenset({"completed", "in-progress"})


def describe(entry: Entry) -> str:
    """What the paper says, short: "Metoprolol 25 mg PO given", "order Ceftriaxone ..."."""
    if isinstance(entry, MarAdministration):
        prn = " (PRN)" if entry.prn else ""
        return f"{_drug_text(entry)} {entry.outcome}{prn}"
    if isinstance(entry, PhysicianOrder):
        return f"order {_drug_text(entry)} {entry.frequency}"
    if isinstance(entry, VitalsRow):
        return "vital signs (" + ", ".join(r.measure.replace("_", " ")
                                           for r in entry.readings) + ")"
    if isinstance(entry, ProgressNote):
        return entry.title.lower() if entry.title else "progress note"
    if isinstance(entry, Registration):
        return f"downtime registration {entry.downtime_mrn}"
    return entry.kind


def _drug_text(entry: MarAdministration | PhysicianOrder) -> str:
    """The drug as written, with the dose and route where the text does not already say them
    ("Metoprolol 25 mg PO", not "Metoprolol 25 mg PO 25 mg PO")."""
    return _with_dose_and_route(entry.drug.text, dose_text((entry.dose.value, entry.dose.unit)),
                                entry.route)


def _order_text(order: OrderNow) -> str:
    """An EHR order's drug likewise ("Furosemide 40 mg tablet Oral")."""
    return _with_dose_and_route(order.drug.text, dose_text(order.dose) if order.dose else "",
                                order.route_text)


def _with_dose_and_route(text: str, dose: str, route: str) -> str:
    if dose and dose.lower() not in text.lower():
        text += f" {dose}"
    if route and route.lower() not in text.lower().split():
        text += f" {route}"
    return text


def _when(at: datetime | None) -> str:
    return local_text(at.isoformat()) if at else "(time not recorded)"


@dataclass
class _Found:
    """The conflicts of one entry, one per code."""

    head: str  # "DA SILVA, Barbara MRN1000000: Metoprolol 25 mg PO given 01 Dec 07:00"
    items: dict[str, dict[str, Any]]

    def add(self, code: str, problem: str, **data: Any) -> None:
        if code in self.items:  # a second finding of one code: said in the same reason
            self.items[code]["reason"] += f"; {problem}"
            return
        self.items[code] = {"code": code, "reason": f"{self.head} — {problem}", **data}


class Checker:
    """The checks of an episode's entries against one current state."""

    def __init__(self, state: EpisodeState, current: CurrentState,
                 settings: ConflictSettings | None = None, staff: StaffList | None = None,
                 now: datetime | None = None) -> None:
        self.state, self.current = state, current
        self.settings = settings or ConflictSettings()
        self.staff = staff or StaffList()
        self.now = now or datetime.now().astimezone()
        s = self.settings
        self.order_window = timedelta(hours=s.duplicate_order_hours)
        self.admin_window = timedelta(minutes=s.duplicate_administration_minutes)
        self.grace = timedelta(minutes=s.window_grace_minutes)
        self.future = timedelta(minutes=s.future_grace_minutes)
        self.linked = {mrn: d.get("patient_id") for mrn, d in
                       state.decisions.registrations.items() if d.get("decision") == "link"}
        self._allergy_cache: dict[tuple[str, str, str | None], list[allergy_check.Conflict]] = {}

    def check(self, entries: Sequence[Entry]) -> list[dict[str, Any]]:
        """[{key, revision, conflicts}] for each entry, in the order given."""
        paper_orders = {e.key: e for e in entries if isinstance(e, PhysicianOrder)}
        downtime_mrns = {e.patient_id for e in entries if isinstance(e, Registration)}
        seen: dict[bytes, str] = {}
        out = []
        for entry in entries:
            found = _Found(self._head(entry), {})
            self._times(entry, found)
            unit = self._form(entry, found)
            self._authors(entry, unit, found)
            self._twice(entry, seen, found)
            pid = self.linked.get(entry.patient_id) or entry.patient_id
            new_patient = entry.patient_id in downtime_mrns
            if not isinstance(entry, Registration) and (not new_patient or
                                                        pid != entry.patient_id):
                # a linked registration's entries: the EHR's patient, the downtime encounter
                self._ehr(entry, pid, unit, paper_orders, found, own_encounter=new_patient)
            out.append({"key": entry.key, "revision": entry.revision,
                        "conflicts": list(found.items.values())})
        return out

    def _head(self, entry: Entry) -> str:
        pid = self.linked.get(entry.patient_id) or entry.patient_id
        patient = self.current.patients.get(pid)
        form = self.state.forms.get(entry.source.form_id)
        who = patient.label() if patient else (form.person() if form and form.patient_id ==
                                               entry.patient_id else "") or \
            f"patient {entry.patient_id}"
        return f"{who}: {describe(entry)} {_when(entry.paper_time)}"

    # -- the paper itself: times, form, authors, twice ---------------------------------------

    def _times(self, entry: Entry, found: _Found) -> None:
        window, at = self.state.window, entry.paper_time
        if window is not None and not (window.start - self.grace <= at and (
                window.end is None or at <= window.end + self.grace)):
            end = _when(window.end) if window.end else "open end"
            found.add(OUT_OF_WINDOW, f"its time is outside the downtime ({_when(window.start)}"
                                     f" to {end})")
        if at > self.now + self.future:
            found.add(FUTURE, f"its time is in the future (now {_when(self.now)})")

    def _form(self, entry: Entry, found: _Found) -> str | None:
        form = self.state.forms.get(entry.source.form_id)
        if form is None:
            found.add(FORM_NOT_ISSUED, f"form {entry.source.form_id} was never issued (in no "
                                       "collected registry): check the page's code")
            return None
        if form.patient_id != entry.patient_id:
            known = self.current.patients.get(form.patient_id)
            whose = form.person() or (known.label() if known else f"patient {form.patient_id}")
            found.add(FORM_OTHER_PATIENT, f"form {form.form_id} was issued for {whose}, not "
                                          f"this patient: a page from another chart?",
                      form_patient_id=form.patient_id)
        return form.unit

    def _authors(self, entry: Entry, unit: str | None, found: _Found) -> None:
        if not self.staff.units:  # no staff list configured: nothing to check against
            return
        people = [("written by", entry.written_by)]
        if isinstance(entry, PhysicianOrder) and entry.prescriber is not None:
            people.append(("prescribed by", entry.prescriber))
        for role, person in people:
            # a form no registry has: its unit is not known, any unit's list will do
            units = [unit] if unit else list(self.staff.units)
            if not any(self.staff.knows(u, person.name) for u in units):
                found.add(AUTHOR_UNKNOWN, f"{role} {person.name}, who is on no staff list of "
                                          f"{unit or 'the unit'}")

    def _twice(self, entry: Entry, seen: dict[bytes, str], found: _Found) -> None:
        data = entry_to_json(entry)
        for name in ("source", "entered_by", "entered_at", "revision"):
            data.pop(name, None)
        fingerprint = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
        first = seen.setdefault(fingerprint, entry.key)
        if first != entry.key:
            found.add(ENTERED_TWICE, f"the same was entered from {first}", first=first)

    # -- against the EHR -----------------------------------------------------------------

    def _ehr(self, entry: Entry, pid: str, unit: str | None,
             paper_orders: dict[str, PhysicianOrder], found: _Found,
             own_encounter: bool = False) -> None:
        current = self.current
        patient = current.patients.get(pid)
        if patient is None:
            found.add(PATIENT_UNKNOWN, f"the EHR has no patient {pid}")
            return
        survivor = current.survivor(pid)
        target = survivor or pid
        if survivor:
            into = current.patients.get(survivor)
            found.add(MERGED, f"this chart was merged into {into.label() if into else survivor}"
                              ": the entry goes to the surviving chart", retarget_to=survivor)
        self._death(entry, pid, target, found)
        if not own_encounter:  # a downtime encounter number is in no EHR (yet)
            self._encounter(entry, (pid, target), unit, found)
        if isinstance(entry, PhysicianOrder):
            self._duplicate_order(entry, target, found)
            self._allergy(entry, (pid, target), entry.drug.text, entry.drug.rxnorm, found)
        elif isinstance(entry, MarAdministration):
            self._administration(entry, (pid, target), paper_orders, found)
            if entry.outcome == "given":
                self._allergy(entry, (pid, target), entry.drug.text, entry.drug.rxnorm, found)

    def _death(self, entry: Entry, pid: str, target: str, found: _Found) -> None:
        for p in dict.fromkeys((pid, target)):
            patient = self.current.patients.get(p)
            if patient is None or not patient.deceased:
                continue
            if patient.deceased_at is None:
                found.add(DIED, "the EHR records the patient as deceased (no time recorded)")
            elif patient.deceased_at < entry.paper_time:
                found.add(DIED, f"the patient died {_when(patient.deceased_at)}, before this")

    def _encounter(self, entry: Entry, patients: tuple[str, str], unit: str | None,
                   found: _Found) -> None:
        enc = self.current.encounters.get(entry.encounter_id)
        if enc is None:
            found.add(ENCOUNTER_UNKNOWN, f"the EHR has no encounter {entry.encounter_id}")
            return
        if enc.patient_id not in patients:
            found.add(ENCOUNTER_UNKNOWN, f"encounter {enc.id} is another patient's in the EHR")
            return
        at = entry.paper_time
        if enc.end is not None and enc.end < at:
            why = f" ({enc.discharge})" if enc.discharge else ""
            found.add(DISCHARGED, f"the patient was discharged {_when(enc.end)}{why}, "
                                  "before this")
            return
        if enc.status in ("cancelled", "entered-in-error"):
            found.add(DISCHARGED, f"encounter {enc.id} is {enc.status} in the EHR")
            return
        self._transfer(enc, at, unit, found)

    def _transfer(self, enc: EncounterNow, at: datetime, unit: str | None,
                  found: _Found) -> None:
        if not unit:
            return
        on_unit = [s for s in enc.stays if s.unit == unit]
        if not on_unit or any(s.end is None or s.end > at for s in on_unit):
            return  # never on the unit by the EHR (nothing to say), or there then
        left = max(s.end for s in on_unit if s.end is not None)
        now = enc.stay_at(at)
        where = f" to {now.unit or now.location_id}" if now else ""
        found.add(TRANSFERRED, f"the patient was transferred from {unit}{where} "
                               f"{_when(left)}, before this")

    def _duplicate_order(self, entry: PhysicianOrder, target: str, found: _Found) -> None:
        drug = medication(entry.drug.text, entry.drug.rxnorm)
        dose = (entry.dose.value, entry.dose.unit)
        route = route_key(entry.route)
        end = self.state.window.end if self.state.window else None
        for order in self.current.orders_of(target):
            if not order.drug.same_drug(drug) or entry.key in order.lines:
                continue
            same = order.route == route and same_dose(order.dose, dose)
            close = order.authored_at is not None and \
                abs(order.authored_at - entry.paper_time) <= self.order_window
            this_stay = order.encounter_id == entry.encounter_id
            what = _order_text(order)
            if same and order.status == "completed" and (close or this_stay):
                found.add(ORDER_COMPLETED, f"the EHR has this order already completed ({what},"
                                           f" ordered {_when(order.authored_at)})",
                          order_id=order.id)
            elif same and order.status in _STANDING and close:
                since = " since recovery" if end and order.authored_at and \
                    order.authored_at >= end else ""
                found.add(ORDER_DUPLICATE, f"the same order was entered electronically{since}"
                                           f" {_when(order.authored_at)} ({what}, "
                                           f"{order.status})", order_id=order.id)
            elif order.status in _STANDING and this_stay:
                # written again on paper, or a new dose or route: either way two orders of
                # one drug stand once this one is in, unless the EHR's is stopped
                found.add(ORDER_ACTIVE, f"the EHR has {what} {order.status} since "
                                        f"{_when(order.authored_at)} (order {order.id}): this "
                                        "order doubles it unless that one is stopped",
                          order_id=order.id)

    def _administration(self, entry: MarAdministration, patients: tuple[str, str],
                        paper_orders: dict[str, PhysicianOrder], found: _Found) -> None:
        order: OrderNow | PhysicianOrder | None = None
        if entry.order_id:
            o = self.current.orders.get(entry.order_id)
            order = o if o is not None and o.patient_id in patients else None
        if order is None and entry.order_line is not None:
            order = paper_orders.get(entry.order_line.key)
        if order is None:
            named = " and ".join(x for x in (
                f"EHR order {entry.order_id}" if entry.order_id else "",
                f"paper order {entry.order_line.key}" if entry.order_line else "") if x)
            found.add(ORDER_UNKNOWN, (f"its order ({named}) is neither on paper nor in the "
                                      "EHR") if named else "it names no order, on paper or "
                                                           "in the EHR")
        else:
            theirs = order.dose if isinstance(order, OrderNow) else (order.dose.value,
                                                                     order.dose.unit)
            mine = (entry.dose.value, entry.dose.unit)
            if theirs is not None and not same_dose(theirs, mine):
                name = f"EHR order {order.id}" if isinstance(order, OrderNow) else \
                    f"paper order {order.key}"
                found.add(DOSE_MISMATCH, f"the dose {dose_text(mine)} does not match its "
                                         f"order's {dose_text(theirs)} ({name})")
        if entry.outcome == "given":
            self._charted(entry, patients[1], found)

    def _charted(self, entry: MarAdministration, target: str, found: _Found) -> None:
        drug = medication(entry.drug.text, entry.drug.rxnorm)
        for given in self.current.administrations_of(target):
            if given.status in _GIVEN and given.at is not None and \
                    entry.key not in given.lines and \
                    abs(given.at - entry.paper_time) <= self.admin_window and \
                    (given.order_id == entry.order_id or given.drug.same_drug(drug)):
                found.add(ADMINISTRATION_DUPLICATE, (
                    f"the EHR already has this dose charted {_when(given.at)} "
                    f"({given.drug.text} {dose_text(given.dose)})"), administration_id=given.id)
                return

    def _allergy(self, entry: Entry, patients: tuple[str, str], text: str,
                 rxnorm: str | None, found: _Found) -> None:
        conflicts: list[allergy_check.Conflict] = []
        for pid in dict.fromkeys(patients):
            conflicts += self._allergies_of(pid, text, rxnorm)
        # a merged chart and its survivor both see the allergy left on the merged one
        conflicts = list({c.allergy_id: c for c in conflicts}.values())
        if conflicts:
            found.add(ALLERGY, "allergy: " + "; ".join(
                f"{c.substance}: {c.why} ({c.how})" for c in conflicts) +
                " (the allergy check is a reminder, not a pharmacy system)",
                allergy_ids=sorted({c.allergy_id for c in conflicts}))

    def _allergies_of(self, pid: str, text: str, rxnorm: str | None
                      ) -> list[allergy_check.Conflict]:
        key = (pid, text, rxnorm)
        cached = self._allergy_cache.get(key)
        if cached is None:
            status = self.current.allergy_status(pid)
            order = _AsOrder(text, RXNORM if rxnorm else None, rxnorm)
            cached = list(allergy_check.check(status.items, [order], status.kind).conflicts)
            self._allergy_cache[key] = cached
        return cached


@dataclass(frozen=True)
class _AsOrder:
    """A paper drug as the allergy check reads an order (snapshots.chart.MedOrder's fields
    it uses)."""

    medication: str
    system: str | None
    code: str | None
    id: str = "paper"
    status: str = "active"
    restricted: bool = False


def check_conflicts(state: EpisodeState, current: CurrentState,
                    settings: ConflictSettings | None = None, staff: StaffList | None = None,
                    now: datetime | None = None, entries: Sequence[Entry] | None = None
                    ) -> list[dict[str, Any]]:
    """Every entry in force of the episode (or `entries`) checked: [{key, revision,
    conflicts: [{code, reason, ...}]}], an empty list for an entry with none."""
    chosen = state.entries.in_force() if entries is None else list(entries)
    return Checker(state, current, settings, staff, now).check(chosen)


__all__ = ["CODES", "Checker", "ConflictSettings", "Medication", "check_conflicts",
           "describe"]
