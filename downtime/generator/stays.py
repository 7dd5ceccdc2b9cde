"""A whole hospital stay (or an outpatient history) for one patient, messes included."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta  # noqa: F401

from . import messes
from . import tables as t
from .hospital import Hospital, after_birth, iso, tiny_pdf

Emit = Callable[[dict], None]


class Staff:
    def __init__(self, attendings: list[str], nurses: list[str]):
        self.attendings, self.nurses = attendings, nurses


def inpatient_stay(h: Hospital, emit: Emit, i: int, unit: tuple, bed: str, staff: Staff,
                   earlier_bed: str | None, name: tuple[str, str, str] | None = None) -> str:
    """Emit the patient, a current inpatient encounter and the chart; return the patient id."""
    rng, now = h.rng, h.as_of
    code, _, kind, _, _, (age_lo, age_hi) = unit
    pid, eid = f"pat-{i:06d}", f"enc-{i:06d}"
    family, given, sex = name or _name(h, kind)
    age_days = rng.randint(age_lo * 365 + 30, age_hi * 365 + 300)
    born = (now - timedelta(days=age_days)).replace(hour=0, minute=0, second=0, microsecond=0)
    patient = h.patient(pid, family, given, sex, born.strftime("%Y-%m-%d"), 1_000_000 + i)
    if i == 3:
        patient["link"] = [{"other": {"reference": "Patient/pat-merged-old"},
                            "type": "replaces"}]
    if i == 5:
        patient["deceasedDateTime"] = iso(now - timedelta(hours=3))
        h.mess("deceased", pid)
    emit(patient)
    admitted = now - timedelta(hours=rng.randint(6, 24 * 9))
    attending = rng.choice(staff.attendings)
    klass = "IMP" if rng.random() < 0.9 else rng.choice(["ACUTE", "OBSENC"])
    transfer = None
    if earlier_bed:
        transfer = (earlier_bed, admitted + (now - admitted) / 2)
        h.mess("transferred", eid)
    problems = t.BH_PROBLEMS if kind == "behavioral-health" else t.PROBLEMS
    main = rng.choice(problems)
    emit(h.encounter(eid, pid, admitted, klass, attending=attending, bed=bed,
                     earlier_bed=transfer, reason=main[2]))
    _past_encounters(h, emit, pid, i, admitted, born)
    _allergies(h, emit, pid, i, born)
    _problems(h, emit, pid, i, main, problems, kind, age_days)
    orders = _orders(h, emit, pid, eid, i, admitted, attending, staff, kind)
    _administrations(h, emit, pid, eid, i, orders, staff)
    _vitals_and_labs(h, emit, pid, eid, i, admitted, kind)
    _notes(h, emit, pid, eid, i, admitted, attending, kind)
    _flags(h, emit, pid, i, admitted)
    for k in range(rng.randint(0, 2)):
        when = admitted + timedelta(hours=rng.randint(1, 40))
        emit(h.procedure(f"pr-{i}-{k}", pid, min(when, now), rng.choice(t.PROCEDURES)))
    return pid


def _name(h: Hospital, kind: str) -> tuple[str, str, str]:
    rng = h.rng
    sex = "female" if kind == "maternity" or rng.random() < 0.5 else "male"
    given = rng.choice(t.GIVEN_F if sex == "female" else t.GIVEN_M)
    return rng.choice(t.FAMILY), given, sex


def _past_encounters(h: Hospital, emit: Emit, pid: str, i: int, admitted: datetime,
                     born: datetime) -> None:
    rng = h.rng
    for k in range(rng.randint(1, 3)):
        start = after_birth(admitted - timedelta(days=rng.randint(30, 900)), born)
        end = start + timedelta(hours=rng.randint(1, 96))
        klass = rng.choice(["AMB", "AMB", "EMER", "IMP"])
        enc = h.encounter(f"enc-{i:06d}-p{k}", pid, start, klass, "finished", end)
        if i == 9 and k == 0:
            enc["period"]["end"] = iso(start - timedelta(hours=5))
            h.mess("timestamp_issues", enc["id"])
        emit(enc)


def _allergies(h: Hospital, emit: Emit, pid: str, i: int, born: datetime) -> None:
    drawn, mess = _drawn_allergies(h, pid, i, born)
    special = messes.allergies(h, pid, i, drawn)
    if special is not None:  # drawn all the same: the other patients' bytes stay the same
        gone = {a["id"] for a in drawn}
        for name in list(h.messes):  # the replaced allergies carry no mess any more
            h.messes[name] = [c for c in h.messes[name] if c not in gone]
            if not h.messes[name]:
                del h.messes[name]
        drawn, mess = special
    if mess:
        h.mess(mess, pid)
    for allergy in drawn:
        if mess == "nka_recorded" and messes.is_nkda(allergy):
            h.mess("nkda_recorded", pid)
        emit(allergy)


def _drawn_allergies(h: Hospital, pid: str, i: int, born: datetime
                     ) -> tuple[list[dict], str | None]:
    rng = h.rng
    roll = rng.random()
    if i in (2, 7) or (roll < 0.15 and i not in (0, 1, 3)):
        return [], "no_allergy_record"
    if roll < 0.45:
        return [_recorded_after_birth(h.allergy(f"al-{i}-0", pid, "nka"), born)], "nka_recorded"
    found = []
    for k in range(rng.randint(1, 3)):
        kind = "free-text" if rng.random() < 0.15 else "coded"
        found.append(_recorded_after_birth(h.allergy(f"al-{i}-{k}", pid, kind), born))
    return found, None


def _recorded_after_birth(allergy: dict, born: datetime) -> dict:
    """An infant's allergy recorded "2000 days ago" would be an unintended before-birth mess."""
    recorded = datetime.fromisoformat(allergy["recordedDate"].replace("Z", "+00:00"))
    allergy["recordedDate"] = iso(after_birth(recorded, born))
    return allergy


def _problems(h: Hospital, emit: Emit, pid: str, i: int, main: tuple, problems: list,
              kind: str, age_days: int) -> None:
    rng = h.rng
    chosen = [main] + rng.sample(t.PROBLEMS, rng.randint(1, 3))
    for k, problem in enumerate(chosen):
        security = None
        if kind == "behavioral-health" and problem in t.BH_PROBLEMS:
            security = "V" if i % 7 == 0 else "R"
            h.mess("restricted", f"cond-{i}-{k}")
        condition = h.condition(f"cond-{i}-{k}", pid, problem, security)
        onset = h.as_of - timedelta(days=rng.randint(0, min(3000, max(age_days - 1, 0))))
        condition["onsetDateTime"] = iso(onset)
        if i == 4 and k == 1:
            condition["onsetDateTime"] = "1900-01-01T00:00:00Z"
            h.mess("timestamp_issues", condition["id"])
        emit(condition)


def _orders(h: Hospital, emit: Emit, pid: str, eid: str, i: int, admitted: datetime,
            attending: str, staff: Staff, kind: str = "") -> list[dict]:
    rng = h.rng
    meds = rng.sample(t.MEDICATIONS, rng.randint(5, 10))
    orders = []
    for k, med in enumerate(meds):
        status = rng.choices(["active", "on-hold", "stopped", "completed"], [80, 6, 8, 6])[0]
        authored = admitted + timedelta(minutes=rng.randint(20, 600))
        order = h.med_request(f"mr-{i}-{k}", pid, eid, med, min(authored, h.as_of), attending,
                              status)
        if status == "active" and k == 0 and i % 20 == 3:
            order["extension"] = [{"url": t.LEGACY_STATUS, "valueCode": "HELD"}]
            h.mess("legacy_hold_status", order["id"])
        if kind == "behavioral-health" and k == 0:
            # a psychiatric medication order marked restricted, as the notes are: the chart
            # masks it until break-glass (no random draw: the other bytes stay the same)
            order["meta"]["security"] = [{"system": t.CONFIDENTIALITY, "code": "R"}]
            h.mess("restricted", order["id"])
        emit(order)
        orders.append(order)
    for extra in messes.orders(h, pid, i, orders):  # not given yet: no administrations
        emit(extra)
    if i == 6:
        broken = h.med_request(f"mr-{i}-x", pid, eid, t.MEDICATIONS[0], admitted, attending)
        del broken["subject"]
        h.mess("missing_required", broken["id"])
        emit(broken)
    return orders


def _administrations(h: Hospital, emit: Emit, pid: str, eid: str, i: int, orders: list[dict],
                     staff: Staff) -> None:
    rng, now = h.rng, h.as_of
    for order in orders:
        if order["status"] != "active":
            continue
        repeat = order["dosageInstruction"][0].get("timing", {}).get("repeat", {})
        times = repeat.get("timeOfDay", [])
        authored = datetime.fromisoformat(order["authoredOn"].replace("Z", "+00:00"))
        if not times:
            # PRN: given now and then, so "last given" means something on the MAR; an IV
            # infusion: the bag hung (or changed) within the day.
            prn = "asNeededCodeableConcept" in order["dosageInstruction"][0]
            for k in range(rng.randint(0, 3) if prn else 1):
                when = now - timedelta(minutes=rng.randint(20, 47 * 60))
                if authored < when:
                    emit(h.administration(f"ma-{order['id'][3:]}-p{k}", pid, eid, order, when,
                                          rng.choice(staff.nurses)))
            continue
        for day in (2, 1, 0):
            base = (now - timedelta(days=day)).replace(minute=0, second=0)
            for k, slot in enumerate(times):
                hh, mm = (int(x) for x in slot.split(":")[:2])
                when = base.replace(hour=hh, minute=mm) + timedelta(minutes=rng.randint(-20, 25))
                if authored < when < now and now - when < timedelta(hours=49):
                    emit(h.administration(f"ma-{order['id'][3:]}-{day}{k}", pid, eid, order,
                                          when, rng.choice(staff.nurses)))


def _vitals_and_labs(h: Hospital, emit: Emit, pid: str, eid: str, i: int, admitted: datetime,
                     kind: str) -> None:
    rng, now = h.rng, h.as_of
    hours = int((now - admitted).total_seconds() // 3600)
    for k, back in enumerate(range(2, min(hours, 24 * 8), 4)):
        when = now - timedelta(hours=back, minutes=rng.randint(0, 30))
        for spec in t.VITALS:
            emit(h.observation(f"vs-{i}-{k}-{spec[0]}", pid, eid, when, spec, "vital-signs"))
        emit(h.blood_pressure(f"bp-{i}-{k}", pid, eid, when))
        if k % 6 == 0:
            weight = (3.5 + rng.random() * 30) if kind == "pediatrics" else rng.gauss(78, 15)
            emit(h.observation(f"wt-{i}-{k}", pid, eid, when,
                               ("29463-7", "Body weight", "kg", 1, 300, 70, 15), "vital-signs",
                               round(weight, 1)))
    for day in range(min(hours // 24 + 1, 9)):
        when = (now - timedelta(days=day)).replace(hour=5, minute=30, second=0)
        if when > now or when < admitted:
            continue
        for spec in t.LABS:
            oid = f"lab-{i}-{day}-{spec[0]}"
            obs = h.observation(oid, pid, eid, when, spec, "laboratory")
            messes.normalised_lab(h, i, day, hours, obs)
            if i == 8 and day == 0 and spec[0] == "2345-7":
                obs["code"]["coding"].append({"system": t.UNKNOWN_SYSTEM, "code": "GLU-POC"})
                h.mess("unknown_code_system", oid)
            emit(obs)
    if i == 1:
        future = h.observation(f"vs-{i}-future", pid, eid, now + timedelta(hours=6),
                               t.VITALS[0], "vital-signs")
        h.mess("timestamp_issues", future["id"])
        emit(future)
    if i == 2:
        broken = h.observation(f"vs-{i}-nostatus", pid, eid, now - timedelta(hours=1),
                               t.VITALS[0], "vital-signs")
        del broken["status"]
        h.mess("missing_required", broken["id"])
        emit(broken)


def _notes(h: Hospital, emit: Emit, pid: str, eid: str, i: int, admitted: datetime,
           attending: str, kind: str) -> None:
    rng, now = h.rng, h.as_of
    for k in range(rng.randint(2, 4)):
        when = min(admitted + timedelta(hours=rng.randint(1, 200)), now - timedelta(minutes=5))
        note_kind = rng.choice(t.NOTE_TYPES)
        security = None
        text = (f"{note_kind[1]}. Patient seen and examined. Vitals reviewed. "
                f"Plan: continue current management, reassess in the morning.")
        if kind == "behavioral-health":
            security = "R"
            text = "Psychiatry: mood low, passive ideation denied today. Continue 1:1 checks."
            h.mess("restricted", f"doc-{i}-{k}")
        emit(h.note(f"doc-{i}-{k}", pid, eid, when, attending, note_kind, text, security))
    if i % 15 == 4:
        emit(h.note(f"doc-{i}-scan", pid, eid, now - timedelta(days=1), attending,
                    ("34133-9", "Summary of episode note"), "", pdf=tiny_pdf("Outside records")))


def _flags(h: Hospital, emit: Emit, pid: str, i: int, admitted: datetime) -> None:
    rng = h.rng
    if i % 25 == 24:
        h.mess("no_code_status", pid)
    else:
        emit(h.flag(f"flag-{i}-cs", pid, "code-status", rng.choice(t.CODE_STATUS), admitted))
    if rng.random() < 0.12:
        emit(h.flag(f"flag-{i}-iso", pid, "isolation", rng.choice(t.ISOLATION), admitted))
    if rng.random() < 0.25:
        emit(h.flag(f"flag-{i}-fall", pid, "fall-risk", "High fall risk", admitted))


def outpatient(h: Hospital, emit: Emit, i: int) -> None:
    """Someone with only past visits (and the odd ED visit now): never in a census."""
    rng, now = h.rng, h.as_of
    pid = f"out-{i:06d}"
    family, given, sex = _name(h, "med-surg")
    born = (now - timedelta(days=rng.randint(365, 90 * 365))).replace(
        hour=0, minute=0, second=0, microsecond=0)
    emit(h.patient(pid, family, given, sex, born.strftime("%Y-%m-%d"), 5_000_000 + i))
    for k in range(rng.randint(1, 3)):
        start = after_birth(now - timedelta(days=rng.randint(10, 700)), born)
        emit(h.encounter(f"oenc-{i}-{k}", pid, start, "AMB", "finished",
                         start + timedelta(hours=1)))
    if i % 10 == 0:
        emit(h.encounter(f"oenc-{i}-ed", pid, now - timedelta(hours=2), "EMER"))
    if i % 17 == 0:
        emit(h.encounter(f"oenc-{i}-plan", pid, now + timedelta(days=3), "IMP", "planned"))
    condition = h.condition(f"ocond-{i}", pid, rng.choice(t.PROBLEMS))
    onset = datetime.fromisoformat(condition["onsetDateTime"].replace("Z", "+00:00"))
    condition["onsetDateTime"] = iso(after_birth(onset, born))
    emit(condition)
