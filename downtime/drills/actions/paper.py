"""`simulate-paper` (hours, units, errors; the drill's seed): the paper an outage leaves, as
back-entry records (reconcile/entries.py), from the census, orders and allergies of the
newest house snapshot (opened with the builder's identity).

What a ward writes, per current inpatient of each unit over `hours` (default 4):
- MAR: each scheduled dose of each active, non-PRN order whose time of day falls in the
  window (given; 1 in 20 held, 1 in 40 refused, with the reason), and now and then a PRN
  dose of a PRN order (a third of patients with one, once in 4 h);
- vitals every 4 hours (heart rate, blood pressure, temperature, SpO2, respiratory rate);
- a nursing note per patient per 8-hour shift begun in the window;
- a few new orders (one patient in four per 4 hours), written, verbal or telephone;
- downtime registrations (about one per unit per 8 hours, at least one in the drill), under
  the unit's pre-allocated downtime MRNs.
Each entry is on a line of a page of its form: the form printed for that patient and kind
in the drill's packets when there is one (ctx.shared["printed"]), else a form id from the
seed. The window is the outage (from ctx.shared["outage_started"], else the `hours` before
now); the staff of each unit are made up from the seed (ctx.shared["paper_staff"]).

Seeded errors, `errors` of each kind (default 1), each recorded with its entry's paper line:
`wrong-patient` (a dose of one patient's order written on another's MAR), `duplicate-order`
(an order written again for a drug the patient already has active), `allergy` (an order of
a drug the patient is recorded allergic to, by its RxNorm code), `outside-window` (a time
before the outage began or after it ended), `unknown-initials` (initials no one on the
unit's staff has). The ward's own new orders are of drugs the patient has no order of.
Figures: `entries_simulated`, `errors_seeded`, `registrations_simulated`, and
`errors_seeded_<kind>` (the kind with underscores: `errors_seeded_wrong_patient`).

ctx.shared: "paper" (the entries, in memory only), "paper_errors" ([{key, kind}]),
"paper_window" ((start, end)), "paper_staff" ({unit: [Person]}), "paper_units" ({paper
line: unit}: the unit whose staff wrote each line, for the import file's `unit` column).
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from reconcile.entries import (
    Address,
    Drug,
    Entry,
    MarAdministration,
    PageLine,
    Person,
    PhysicianOrder,
    ProgressNote,
    Quantity,
    Registration,
    VitalReading,
    VitalsRow,
)
from snapshots.drug_classes import RXNORM

from ..api import ActionSpec, DrillContext, StepResult, register
from .build import newest_house
from .sandbox import OUTAGE_STARTED
from .site import failed, number, site_of, whole

PAPER = "paper"
PAPER_ERRORS = "paper_errors"
PAPER_WINDOW = "paper_window"
PAPER_STAFF = "paper_staff"
PAPER_UNITS = "paper_units"
ERROR_KINDS = ("wrong-patient", "duplicate-order", "allergy", "outside-window",
               "unknown-initials")
LINES = {"mar": 12, "vitals": 8, "note": 4, "order": 10, "registration": 1}
FORM_KIND = {"mar": "mar", "vitals": "vitals", "note": "note", "order": "orders",
             "registration": "registration"}
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
GIVEN = ("Ana", "Ben", "Chloe", "Dev", "Eli", "Fatima", "Grace", "Hugo", "Ines", "Jon", "Kemi",
         "Luca", "Mei", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sami", "Tariq")
FAMILY = ("Abbott", "Baker", "Chen", "Diaz", "Evans", "Fischer", "Gupta", "Haddad", "Ito",
          "Jensen", "Kowalski", "Lund", "Moreau", "Nakamura", "Okoro", "Park", "Reyes", "Silva")
NOTES = ("Resting comfortably, no distress. Call light within reach.",
         "Ambulated in hall with assist x1. Tolerating diet.",
         "Pain controlled on current regimen. Family at bedside.",
         "Voiding without difficulty. Skin intact, turned q2h.")
CLERK = Person(name="Drill HIM clerk", initials="HC")


@dataclass
class _Forms:
    """The next free line of each form of each patient."""

    rng: random.Random
    printed: dict[tuple[str, str], str]  # (patient, form kind) -> printed form id
    at: dict[tuple[str, str], tuple[str, int, int]] = field(default_factory=dict)

    def line(self, patient: str, kind: str) -> PageLine:
        form, page, n = self.at.get((patient, kind)) or (
            self.printed.get((patient, FORM_KIND[kind])) or self.fresh(), 1, 0)
        n += 1
        if n > LINES[kind]:
            page, n = page + 1, 1
        self.at[(patient, kind)] = (form, page, n)
        return PageLine(form_id=form, page=page, line=n)

    def fresh(self) -> str:
        return "DT-" + "".join(self.rng.choice(ALPHABET) for _ in range(10))


@dataclass
class _Patient:
    id: str
    encounter: str
    unit: str
    orders: list[sqlite3.Row]
    drug_allergies: list[Drug]  # coded RxNorm allergens: a drug a doctor could order
    standing: str = ""  # the drugs of its active, on-hold and draft orders, lower case


def _staff(rng: random.Random, units: list[str]) -> dict[str, list[Person]]:
    staff = {}
    for unit in units:
        people, seen = [], {"MD"}  # the doctor's initials: no nurse shares them
        while len(people) < 5:
            given, family = rng.choice(GIVEN), rng.choice(FAMILY)
            initials = given[0] + family[0]
            if initials not in seen:
                seen.add(initials)
                people.append(Person(name=f"{given} {family}, RN", initials=initials))
        people.append(Person(name=f"Dr. {rng.choice(GIVEN)} {rng.choice(FAMILY)}",
                             initials="MD"))
        staff[unit] = people
    return staff


def _patients(db: sqlite3.Connection, units: list[str]) -> list[_Patient]:
    from snapshots import chart

    db.row_factory = sqlite3.Row
    out = []
    for unit in units:
        for row in chart.census(db, unit):
            standing = db.execute("SELECT * FROM med_orders WHERE patient_id = ? AND status "
                                  "IN ('active', 'on-hold', 'draft') ORDER BY id",
                                  (row.patient_id,)).fetchall()
            orders = [o for o in standing if o["status"] == "active"]
            allergies = [Drug(text=r[0], rxnorm=r[1]) for r in db.execute(
                "SELECT substance, code FROM allergies WHERE patient_id = ? AND no_known = 0 "
                "AND clinical_status = 'active' AND system = ? AND code != '' ORDER BY id",
                (row.patient_id, RXNORM))]
            out.append(_Patient(row.patient_id, row.encounter_id, unit, orders, allergies,
                                " ".join(str(o["medication"]).lower() for o in standing)))
    return out


# what a ward's doctor orders new in a downtime: the first the patient has no order of (a
# drug ordered twice is a seeded error, `duplicate-order`, not the ward's everyday paper)
NEW_ORDERS = ((Drug(text="Ondansetron 4 mg IV"), Quantity(value=4, unit="mg"), "IV", "q8h"),
              (Drug(text="Docusate 100 mg PO"), Quantity(value=100, unit="mg"), "PO", "BID"),
              (Drug(text="Senna 8.6 mg PO"), Quantity(value=8.6, unit="mg"), "PO", "nightly"))


def _new_order_for(p: _Patient) -> tuple[Drug, Quantity, str, str]:
    return next((o for o in NEW_ORDERS if o[0].text.split()[0].lower() not in p.standing),
                NEW_ORDERS[-1])


def _dose(order: sqlite3.Row) -> Quantity:
    if order["dose_value"] is not None and order["dose_unit"]:
        return Quantity(value=float(order["dose_value"]), unit=order["dose_unit"])
    return Quantity(value=1, unit="{dose}")


def _times_in(order: sqlite3.Row, start: datetime, end: datetime) -> list[datetime]:
    """The order's scheduled times of day that fall in the window (UTC clock)."""
    out = []
    for text in (order["times"] or "").split(","):
        if not text.strip():
            continue
        hour, minute = (int(x) for x in text.strip().split(":")[:2])
        day = start.replace(hour=0, minute=0, second=0, microsecond=0)
        while day <= end:
            at = day.replace(hour=hour, minute=minute)
            if start <= at <= end:
                out.append(at)
            day += timedelta(days=1)
    return sorted(out)


class _Writer:
    """Makes the entries of one simulation."""

    def __init__(self, rng: random.Random, forms: _Forms, staff: dict[str, list[Person]],
                 start: datetime, end: datetime) -> None:
        self.rng, self.forms, self.staff, self.start, self.end = rng, forms, staff, start, end
        self.entries: list[Entry] = []
        self.unit_of: dict[str, str] = {}  # paper line -> the unit that wrote it

    def common(self, p: _Patient, kind: str, at: datetime, who: Person | None = None
               ) -> dict[str, Any]:
        source = self.forms.line(p.id, kind)
        self.unit_of[source.key] = p.unit
        return {"source": source, "patient_id": p.id,
                "encounter_id": p.encounter,
                "written_by": who or self.rng.choice(self.staff[p.unit][:-1]),
                "entered_by": CLERK, "paper_time": at,
                "entered_at": self.end + timedelta(hours=1, minutes=len(self.entries) % 50)}

    def mar(self, p: _Patient, order: sqlite3.Row, at: datetime, **extra: Any) -> Entry:
        outcome = self.rng.choices(("given", "held", "refused"), (37, 2, 1))[0]
        return MarAdministration(
            **self.common(p, "mar", at, extra.pop("who", None)), order_id=order["id"],
            drug=Drug(text=order["medication"]), dose=_dose(order),
            route=order["route"] or "oral", outcome=outcome,
            reason={"given": None, "held": "held per parameters",
                    "refused": "patient declined"}[outcome], **extra)

    def ward(self, p: _Patient) -> None:
        hours = (self.end - self.start).total_seconds() / 3600
        for order in p.orders:
            if order["prn"]:
                if self.rng.random() < hours / 12:
                    at = self.start + timedelta(minutes=self.rng.randrange(int(hours * 60)))
                    self.entries.append(self.mar(p, order, at, prn=True,
                                                 prn_reason=order["prn_reason"] or "pain"))
                continue
            for at in _times_in(order, self.start, self.end):
                self.entries.append(self.mar(p, order, at))
        at = self.start + timedelta(minutes=self.rng.randrange(30))
        while at <= self.end:
            self.entries.append(self.vitals(p, at))
            at += timedelta(hours=4)
        shift = self.start.replace(minute=0, second=0, microsecond=0)
        shift -= timedelta(hours=shift.hour % 8)
        while shift <= self.end:  # a note in each 8-hour shift the window overlaps
            begin, until = max(self.start, shift), min(self.end, shift + timedelta(hours=8))
            span = int((until - begin).total_seconds() // 60)
            if span > 0:
                at = begin + timedelta(minutes=self.rng.randrange(span))
                self.entries.append(ProgressNote(**self.common(p, "note", at),
                                                 title="Nursing note",
                                                 text=self.rng.choice(NOTES)))
            shift += timedelta(hours=8)
        if self.rng.random() < hours / 16:
            self.entries.append(self.order(p, *_new_order_for(p)))

    def vitals(self, p: _Patient, at: datetime, who: Person | None = None) -> VitalsRow:
        r = self.rng
        return VitalsRow(**self.common(p, "vitals", at, who), readings=(
            VitalReading(measure="heart_rate", value=r.randrange(58, 110), unit="/min"),
            VitalReading(measure="blood_pressure", value=r.randrange(100, 160),
                         diastolic=r.randrange(55, 95), unit="mm[Hg]"),
            VitalReading(measure="temperature", value=round(r.uniform(36.2, 38.4), 1),
                         unit="Cel"),
            VitalReading(measure="spo2", value=r.randrange(91, 100), unit="%"),
            VitalReading(measure="respiratory_rate", value=r.randrange(12, 24), unit="/min")))

    def order(self, p: _Patient, drug: Drug, dose: Quantity, route: str, frequency: str,
              at: datetime | None = None) -> PhysicianOrder:
        at = at or self.start + timedelta(minutes=self.rng.randrange(
            max(1, int((self.end - self.start).total_seconds() // 60))))
        doctor = self.staff[p.unit][-1]
        mode = self.rng.choices(("written", "verbal", "telephone"), (6, 2, 2))[0]
        writer = doctor if mode == "written" else self.rng.choice(self.staff[p.unit][:-1])
        return PhysicianOrder(**self.common(p, "order", at, writer), drug=drug, dose=dose,
                              route=route, frequency=frequency, mode=mode,
                              prescriber=None if mode == "written" else doctor,
                              read_back=mode != "written")

    def registration(self, unit: str, mrn: str, number: str, at: datetime) -> Registration:
        r = self.rng
        p = _Patient(mrn, number, unit, [], [])
        return Registration(**self.common(p, "registration", at), family=r.choice(FAMILY),
                            given=(r.choice(GIVEN),),
                            birth_date=date(r.randrange(1935, 2004), r.randrange(1, 13),
                                            r.randrange(1, 29)),
                            sex=r.choice(("male", "female")),
                            address=Address(line=f"{r.randrange(1, 200)} Mill Road",
                                            city="Millbrook", postal_code="40211"))


def _seed_errors(w: _Writer, patients: list[_Patient], per_kind: int
                 ) -> list[dict[str, str]]:
    """Add `per_kind` wrong entries of each kind; each one's line and kind."""
    seeded: list[dict[str, str]] = []
    rng = w.rng
    with_orders = [p for p in patients if p.orders]
    allergic = [p for p in patients if p.drug_allergies]
    for _ in range(per_kind):
        made: list[tuple[str, Entry | None]] = []
        if len(with_orders) >= 2:  # a dose of A's order written on B's MAR
            a, b = rng.sample(with_orders, 2)
            wrong = w.mar(b, a.orders[0], w.start + timedelta(minutes=rng.randrange(60, 120)))
            made.append(("wrong-patient", wrong))
        else:
            made.append(("wrong-patient", None))
        if with_orders:
            p = rng.choice(with_orders)
            o = p.orders[0]
            made.append(("duplicate-order", w.order(p, Drug(text=o["medication"]), _dose(o),
                                                    o["route"] or "oral",
                                                    o["frequency"] or "daily")))
        else:
            made.append(("duplicate-order", None))
        if allergic:
            p = rng.choice(allergic)
            made.append(("allergy", w.order(p, p.drug_allergies[0],
                                            Quantity(value=1, unit="{dose}"), "oral", "once")))
        else:
            made.append(("allergy", None))
        p = rng.choice(patients)
        late = w.end + timedelta(hours=2, minutes=rng.randrange(60))
        made.append(("outside-window", w.vitals(p, late)))
        p = rng.choice(patients)
        stranger = Person(name="QX", initials="QX")  # nobody on the unit writes QX
        made.append(("unknown-initials",
                     w.vitals(p, w.start + timedelta(minutes=rng.randrange(30, 90)), stranger)))
        for kind, entry in made:
            if entry is not None:
                w.entries.append(entry)
                seeded.append({"key": entry.key, "kind": kind, "patient_id": entry.patient_id})
    return seeded


def _printed_forms(ctx: DrillContext) -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    for item in ctx.shared.get("printed", []):
        for record in item[4]:
            if record.patient_id:
                out.setdefault((record.patient_id, record.kind), record.form_id)
    return out


def _downtime_ids(db: sqlite3.Connection, unit: str, kind: str) -> list[str]:
    """The unit's pre-allocated downtime MRNs or encounter numbers, in order."""
    return [r[0] for r in db.execute("SELECT value FROM downtime_ids WHERE unit_code = ? AND "
                                     "kind = ? ORDER BY value", (unit, kind))]


def simulate(ctx: DrillContext, units: list[str], hours: float, per_kind: int
             ) -> tuple[list[Entry], list[dict[str, str]], tuple[datetime, datetime]]:
    """The entries and seeded errors of the outage on `units` (see the module docstring)."""
    from snapshots.sealed import open_snapshot

    site = site_of(ctx)
    house = newest_house(site)
    if house is None:
        raise ValueError("no snapshot built yet")
    started = ctx.shared.get(OUTAGE_STARTED)
    now = datetime.now(UTC).replace(microsecond=0)
    start = datetime.fromtimestamp(started, UTC).replace(microsecond=0) if started else \
        now - timedelta(hours=hours)
    end = start + timedelta(hours=hours)
    rng = random.Random(ctx.seed)
    staff = _staff(rng, units)
    snapshot = open_snapshot(house.path, site.trusted, [site.builder_identity])
    try:
        patients = _patients(snapshot.db, units)
        spare = {u: _downtime_ids(snapshot.db, u, "mrn") for u in units}
        numbers = {u: _downtime_ids(snapshot.db, u, "encounter") for u in units}
    finally:
        snapshot.close()
    w = _Writer(rng, _Forms(rng, _printed_forms(ctx)), staff, start, end)
    for p in patients:
        w.ward(p)
    registrations = max(1, round(len(units) * hours / 8))
    for i in range(registrations):
        unit = units[i % len(units)]
        k = i // len(units)
        if k < min(len(spare[unit]), len(numbers[unit])):
            at = start + timedelta(minutes=rng.randrange(max(1, int(hours * 60))))
            w.entries.append(w.registration(unit, spare[unit][k], numbers[unit][k], at))
    errors = _seed_errors(w, patients, per_kind) if patients else []
    ctx.shared[PAPER_STAFF] = staff
    ctx.shared[PAPER_UNITS] = w.unit_of
    return w.entries, errors, (start, end)


def error_figure(kind: str) -> str:
    return "errors_seeded_" + kind.replace("-", "_")


def run_simulate(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    site = site_of(ctx)
    units = list(params.get("units") or sorted({w.unit for w in site.workstations})
                 or site.units)
    hours = number(params, "hours", 4, least=0.5)
    per_kind = whole(params, "errors", 1)
    began = time.perf_counter()
    try:
        entries, errors, window = simulate(ctx, units, hours, per_kind)
    except ValueError as e:
        return failed(f"cannot simulate the paper: {e}")
    ctx.shared[PAPER], ctx.shared[PAPER_ERRORS], ctx.shared[PAPER_WINDOW] = \
        entries, errors, window
    figures: dict[str, float] = {
        "entries_simulated": len(entries), "errors_seeded": len(errors),
        "registrations_simulated": sum(1 for e in entries if isinstance(e, Registration))}
    for kind in ERROR_KINDS:
        figures[error_figure(kind)] = sum(1 for e in errors if e["kind"] == kind)
    kinds: dict[str, int] = {}
    for e in entries:
        kinds[e.kind] = kinds.get(e.kind, 0) + 1
    return StepResult(detail=f"{len(entries)} entries on {len(units)} units over {hours:g} h "
                             f"({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))}), "
                             f"{len(errors)} errors seeded in "
                             f"{time.perf_counter() - began:.1f} s", figures=figures)


register(ActionSpec(
    name="simulate-paper", run=run_simulate, optional=("hours", "units", "errors"),
    summary="the outage's paper as back-entry records (MAR per order schedule, vitals q4h, "
            "notes per shift, orders, registrations) with seeded errors of known number",
    figures=("entries_simulated", "errors_seeded", "registrations_simulated",
             *(error_figure(k) for k in ERROR_KINDS))))
