"""The read model of an opened snapshot: census, patient header and chart sections.

Everything a screen or a printed form shows comes through here, so the TUI and the forms
agree on what "allergies", "code status" or "next due" mean. Functions take the snapshot's
read-only connection and return plain dataclasses; nothing here decides how to display them,
except `data_age`, the wording the safety rules require on every screen and page.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from . import allergy_check as allergy_check_module
from . import allergy_status as allergy_status_module
from . import lost_records
from .allergy_status import (  # noqa: F401 - part of the read model's names
    NO_ALLERGY_INFO,
    NO_KNOWN_ALLERGIES,
    Allergy,
    AllergyStatus,
)
from .clinical_terms import with_unit
from .lost_records import NotLoaded


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def age_in_years(birth_date: str | None, on: date) -> int | None:
    try:
        born = date.fromisoformat((birth_date or "")[:10])
    except ValueError:
        return None
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def age_label(birth_date: str | None, on: date) -> str:
    """Age as clinicians write it: years, or months/days for infants."""
    years = age_in_years(birth_date, on)
    if years is None:
        return "?"
    if years >= 2:
        return f"{years}y"
    born = date.fromisoformat(birth_date[:10])  # type: ignore[index]
    days = (on - born).days
    return f"{days // 30}m" if days >= 60 else f"{days}d"


# how far a snapshot may be dated after a workstation's clock before the clock is in doubt:
# the builder's and the workstation's clocks differ by a little without anything wrong
CLOCK_SLACK_MINUTES = 5


@dataclass(frozen=True)
class DataAge:
    as_of: datetime
    minutes_old: int
    stale: bool

    @property
    def clock_behind(self) -> bool:
        """Dated after this clock by more than the slack: the workstation's clock is behind
        (or the snapshot's date is wrong), so no age it shows can be trusted."""
        return self.minutes_old < -CLOCK_SLACK_MINUTES

    @property
    def doubtful(self) -> bool:
        """What a screen must warn about: stale, or an age that cannot be told."""
        return self.stale or self.clock_behind

    @property
    def text(self) -> str:
        local = self.as_of.astimezone()
        when = local.strftime("%H:%M") if abs(self.minutes_old) < 20 * 60 else \
            local.strftime("%d %b %H:%M")
        if self.clock_behind:
            return f"CHECK THE CLOCK — data as of {when} is {_duration(-self.minutes_old)} " \
                   "ahead of it"
        age = _duration(max(0, self.minutes_old))
        warn = "STALE — " if self.stale else ""
        return f"{warn}data as of {when} — {age} old"


def _duration(minutes: int) -> str:
    if minutes < 0:
        return "from the future"
    if minutes < 90:
        return f"{minutes} min"
    hours, mins = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {mins:02d} min"
    return f"{hours // 24} days"


def data_age(as_of: str, now: datetime | None = None, stale_minutes: int = 30) -> DataAge:
    """How old the snapshot's data is; stale past the configured threshold."""
    when = parse_time(as_of) or datetime.fromtimestamp(0, UTC)
    now = now or datetime.now(UTC)
    minutes = int((now - when).total_seconds() // 60)
    return DataAge(when, minutes, minutes > stale_minutes)


# What every screen and form says when a patient's code status is not in the snapshot: one
# wording on the census, the chart and paper alike.
CODE_STATUS_MISSING = "not recorded"


@dataclass(frozen=True)
class CensusRow:
    encounter_id: str
    patient_id: str
    unit: str
    room: str | None
    bed: str | None
    name: str
    age: str
    sex: str
    mrn: str
    birth_date: str | None
    attending: str | None
    allergy: AllergyStatus
    code_status: str | None
    isolation: str | None
    fall_risk: str | None
    name_alert: bool
    admitted_at: str | None
    deceased: bool
    encounter_class: str | None

    @property
    def code_status_text(self) -> str:
        return self.code_status or CODE_STATUS_MISSING


def allergy_status(db: sqlite3.Connection, patient_id: str) -> AllergyStatus:
    lost = not_loaded(db, patient_id)
    return allergy_status_module.read(db, patient_id, _allergies_lost(lost))


def _allergies_lost(lost: tuple[NotLoaded, ...]) -> int:
    return sum(n.count for n in lost if n.resource_type == "AllergyIntolerance")


_NOT_LOADED_SQL = ("SELECT resource_type, reason, {status} FROM gaps WHERE patient_id = ? AND "
                   "reason LIKE 'error:%' ORDER BY seq")


def not_loaded(db: sqlite3.Connection, patient_id: str) -> tuple[NotLoaded, ...]:
    """What the source had for this patient that is not in the snapshot (the error gaps the
    build attributed to them), by kind of record: "1 medication order could not be loaded"."""
    try:
        rows = db.execute(_NOT_LOADED_SQL.format(status="record_status"),
                          (patient_id,)).fetchall()
    except sqlite3.OperationalError:  # a snapshot of schema 2: no record_status
        rows = db.execute(_NOT_LOADED_SQL.format(status="NULL"), (patient_id,)).fetchall()
    return not_loaded_of(rows)


def not_loaded_of(rows: list[tuple] | list[sqlite3.Row]) -> tuple[NotLoaded, ...]:
    """(resource_type, reason, record_status) gap rows of one patient, grouped by kind."""
    by_type: dict[str, list[tuple]] = {}
    for rtype, reason, status in rows:
        if rtype in lost_records.NOUNS:  # a clinical record (not a census decision)
            by_type.setdefault(rtype, []).append((reason, status))
    return tuple(NotLoaded(rtype, len(found),
                           sum(lost_records.is_active(rtype, s) for _, s in found
                               if s and rtype in lost_records.ALERTING),
                           tuple(dict.fromkeys(str(r).removeprefix("error:")
                                               for r, _ in found)))
                 for rtype, found in sorted(by_type.items(), key=lambda kv: _KIND_ORDER.get(
                     kv[0], 9)))


def allergies_not_loaded(db: sqlite3.Connection) -> dict[str, int]:
    """Per patient, how many allergy records did not load (the census, in one query)."""
    return dict(db.execute(
        "SELECT patient_id, count(*) FROM gaps WHERE reason LIKE 'error:%' AND resource_type "
        "= 'AllergyIntolerance' AND patient_id != '' GROUP BY patient_id").fetchall())


_KIND_ORDER = {"AllergyIntolerance": 0, "MedicationRequest": 1, "MedicationAdministration": 2}


def _flags(db: sqlite3.Connection, patient_id: str) -> dict[str, str]:
    found: dict[str, list[str]] = {}
    for kind, text in db.execute(
        "SELECT kind, text FROM flags WHERE patient_id = ? AND status = 'active' ORDER BY since",
        (patient_id,),
    ):
        found.setdefault(kind, []).append(text)
    return {k: "; ".join(v) for k, v in found.items()}


_CENSUS_SQL = """
SELECT e.id, e.patient_id, e.unit_code, e.room, e.bed, p.name, p.sex, p.mrn, p.birth_date,
       e.attending, e.name_alert, e.admitted_at, p.deceased, e.class
FROM encounters e JOIN patients p ON p.id = e.patient_id
WHERE e.status = 'in-progress' {where}
ORDER BY e.unit_code, e.bed, p.name
"""


def census(db: sqlite3.Connection, unit: str | None = None,
           patient_ids: list[str] | None = None, today: date | None = None) -> list[CensusRow]:
    """Current inpatients (of one unit, or all), by unit and bed."""
    where, params = "", []
    if unit:
        where += " AND e.unit_code = ?"
        params.append(unit)
    if patient_ids is not None:
        where += f" AND e.patient_id IN ({','.join('?' * len(patient_ids))})"
        params.extend(patient_ids)
    today = today or date.today()
    rows = []
    for r in db.execute(_CENSUS_SQL.format(where=where), params):
        flags = _flags(db, r[1])
        rows.append(CensusRow(
            encounter_id=r[0], patient_id=r[1], unit=r[2] or "", room=r[3], bed=r[4],
            name=r[5] or "(no name)", age=age_label(r[8], today), sex=(r[6] or "?")[:1].upper(),
            mrn=r[7] or "", birth_date=r[8], attending=r[9], allergy=allergy_status(db, r[1]),
            code_status=flags.get("code-status"), isolation=flags.get("isolation"),
            fall_risk=flags.get("fall-risk"), name_alert=bool(r[10]), admitted_at=r[11],
            deceased=bool(r[12]), encounter_class=r[13],
        ))
    return rows


def search_patient_ids(db: sqlite3.Connection, text: str) -> list[str]:
    """Patient ids whose name, any MRN or bed matches every word typed (prefix match)."""
    words = [w for w in "".join(c if c.isalnum() else " " for c in text).split() if w]
    if not words:
        return []
    query = " ".join(f'"{w}"*' for w in words)
    rows = db.execute("SELECT DISTINCT patient_id FROM patient_search WHERE patient_search "
                      "MATCH ? ORDER BY rank", (query,))
    return [r[0] for r in rows]


def units(db: sqlite3.Connection) -> list[tuple[str, str, int]]:
    """(code, name, current inpatients) for every unit in the snapshot."""
    return [tuple(r) for r in db.execute(
        "SELECT u.code, u.name, count(e.id) FROM units u LEFT JOIN encounters e "
        "ON e.unit_code = u.code AND e.status = 'in-progress' GROUP BY u.code ORDER BY u.code")]


def meta(db: sqlite3.Connection) -> dict[str, str]:
    return {k: v for k, v in db.execute("SELECT key, value FROM meta")}


@dataclass(frozen=True)
class Header:
    """What stays on screen and on every printed page for one patient."""

    patient_id: str
    encounter_id: str | None
    name: str
    mrn: str
    other_mrns: tuple[str, ...]
    birth_date: str | None
    age: str
    sex: str
    unit: str | None
    bed: str | None
    attending: str | None
    allergy: AllergyStatus
    code_status: str | None
    isolation: str | None
    fall_risk: str | None
    weight: str | None
    name_alert: bool
    name_alert_with: tuple[str, ...]
    deceased: bool
    admitted_at: str | None
    # what the source had for this patient that is not in the snapshot, by kind of record
    not_loaded: tuple[NotLoaded, ...] = ()

    @property
    def code_status_text(self) -> str:
        return self.code_status or CODE_STATUS_MISSING

    @property
    def not_loaded_lines(self) -> tuple[str, ...]:
        return tuple(n.text for n in self.not_loaded)


def header(db: sqlite3.Connection, patient_id: str, today: date | None = None) -> Header:
    p = db.execute("SELECT name, mrn, birth_date, sex, deceased FROM patients WHERE id = ?",
                   (patient_id,)).fetchone()
    if p is None:
        raise KeyError(f"no patient {patient_id} in this snapshot")
    e = db.execute(
        "SELECT id, unit_code, bed, attending, name_alert, name_alert_with, admitted_at "
        "FROM encounters WHERE patient_id = ? ORDER BY status = 'in-progress' DESC, "
        "admitted_at DESC LIMIT 1", (patient_id,)).fetchone()
    other = tuple(v for (v,) in db.execute(
        "SELECT value FROM identifiers WHERE patient_id = ? AND type = 'MR' AND value != ? "
        "ORDER BY system", (patient_id, p[1] or "")))
    alike = tuple(n for (n,) in db.execute(
        "SELECT name FROM patients WHERE id IN (SELECT value FROM json_each(?))",
        (_json_list(e[5] if e else ""),)))
    flags = _flags(db, patient_id)
    lost = not_loaded(db, patient_id)
    return Header(
        patient_id=patient_id, encounter_id=e[0] if e else None, name=p[0] or "(no name)",
        mrn=p[1] or "", other_mrns=other, birth_date=p[2],
        age=age_label(p[2], today or date.today()), sex=(p[3] or "?")[:1].upper(),
        unit=e[1] if e else None, bed=e[2] if e else None, attending=e[3] if e else None,
        allergy=allergy_status_module.read(db, patient_id, _allergies_lost(lost)),
        code_status=flags.get("code-status"), isolation=flags.get("isolation"),
        fall_risk=flags.get("fall-risk"), weight=latest_weight(db, patient_id),
        name_alert=bool(e and e[4]), name_alert_with=alike, deceased=bool(p[4]),
        admitted_at=e[6] if e else None, not_loaded=lost,
    )


def _json_list(csv: str | None) -> str:
    import json

    return json.dumps([x for x in (csv or "").split(",") if x])


def latest_weight(db: sqlite3.Connection, patient_id: str) -> str | None:
    r = db.execute("SELECT value_num, unit, effective_at FROM observations WHERE patient_id = ? "
                   "AND code = '29463-7' AND value_num IS NOT NULL "
                   "ORDER BY effective_at DESC LIMIT 1", (patient_id,)).fetchone()
    return with_unit(f"{r[0]:g}", r[1]) if r else None


@dataclass(frozen=True)
class MedOrder:
    id: str
    medication: str
    dose: str | None
    rate: str | None
    route: str | None
    frequency: str | None
    times: tuple[str, ...]
    prn: bool
    prn_reason: str | None
    iv: bool
    status: str
    status_note: str | None
    instructions: str | None
    prescriber: str | None
    authored_at: str | None
    last_given: str | None
    next_due: str | None = None
    recent_given: tuple[str, ...] = field(default_factory=tuple)
    restricted: bool = False  # meta.security R/V: masked until break-glass
    code: str | None = None  # the medication's code (RxNorm, for the allergy check)
    system: str | None = None

    @property
    def continuous(self) -> bool:
        """A continuous infusion: a rate and no schedule (the mapping then falls back on the
        order's own text for its frequency: "Heparin 25,000 units in D5W 250 mL ...")."""
        return bool(self.rate) and not self.prn and not self.times and \
            (not self.frequency or self.frequency == self.instructions)

    @property
    def frequency_text(self) -> str:
        """What the Frequency column says: the frequency, or "continuous" for an infusion
        (and its order text after it when that says more than the drug and route)."""
        if not self.continuous:
            return self.frequency or ""
        rest = (self.instructions or "").lower().replace(self.medication.lower(), "")
        rest = rest.replace((self.route or "").lower(), "").strip(" ,.;-")
        return f"continuous — {self.instructions}" if rest else "continuous"


def medications(db: sqlite3.Connection, patient_id: str, now: datetime | None = None,
                include_inactive: bool = False) -> list[MedOrder]:
    """Active (and on-hold) orders with when each was last given and is next due."""
    statuses = "('active','on-hold')" if not include_inactive else \
        "('active','on-hold','stopped','completed','cancelled','draft','unknown')"
    now = now or datetime.now(UTC)
    orders = []
    query = ("SELECT id, medication, dose, rate, route, frequency, times, interval_hours, prn, "
             "prn_reason, iv, status, status_note, instructions, prescriber, authored_at, "
             "{restricted}, code, system FROM med_orders WHERE patient_id = ? AND status IN "
             f"{statuses} ORDER BY prn, status != 'active', medication")
    try:
        rows = db.execute(query.format(restricted="restricted"), (patient_id,)).fetchall()
    except sqlite3.OperationalError:  # a snapshot built before med_orders had the column
        rows = db.execute(query.format(restricted="0"), (patient_id,)).fetchall()
    for r in rows:
        given = [g for (g,) in db.execute(
            "SELECT given_at FROM administrations WHERE order_id = ? AND status = 'completed' "
            "ORDER BY given_at DESC LIMIT 6", (r[0],))]
        times = tuple(t for t in (r[6] or "").split(",") if t)
        last = given[0] if given else None
        due = None if r[8] or r[11] != "active" else next_due(times, r[7], last, now)
        orders.append(MedOrder(
            id=r[0], medication=r[1] or "(unnamed medication)", dose=r[2], rate=r[3],
            route=r[4], frequency=r[5], times=times, prn=bool(r[8]), prn_reason=r[9],
            iv=bool(r[10]), status=r[11], status_note=r[12], instructions=r[13],
            prescriber=r[14], authored_at=r[15], last_given=last, next_due=due,
            recent_given=tuple(given), restricted=bool(r[16]), code=r[17], system=r[18]))
    return orders


def allergy_check(db: sqlite3.Connection, patient_id: str, now: datetime | None = None,
                  meds: list[MedOrder] | None = None,
                  allergy: AllergyStatus | None = None) -> allergy_check_module.AllergyCheck:
    """The patient's active and held orders against their recorded allergies (a reminder:
    snapshots.allergy_check)."""
    meds = meds if meds is not None else medications(db, patient_id, now)
    allergy = allergy if allergy is not None else allergy_status(db, patient_id)
    return allergy_check_module.check(allergy.items, meds, allergy.kind)


def next_due(times: tuple[str, ...], interval_hours: float | None, last_given: str | None,
             now: datetime) -> str | None:
    """The next scheduled time: the next time of day on the schedule, else last + interval."""
    local_now = now.astimezone()
    candidates = []
    for t in times:
        try:
            hh, mm = (int(x) for x in t.split(":")[:2])
        except ValueError:
            continue
        slot = local_now.replace(hour=hh, minute=mm, second=0, microsecond=0)
        candidates.append(slot if slot > local_now else slot + timedelta(days=1))
    if candidates:
        return min(candidates).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    last = parse_time(last_given)
    if interval_hours and last:
        return (last + timedelta(hours=interval_hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return None


@dataclass(frozen=True)
class Observation:
    id: str
    code: str
    display: str
    value: str
    value_num: float | None
    unit: str | None
    effective_at: str | None
    reference: str | None
    flag: str | None
    restricted: bool


def observations(db: sqlite3.Connection, patient_id: str, category: str) -> list[Observation]:
    """Observations of one category ('vital-signs' or 'laboratory'), newest first."""
    out = []
    for r in db.execute(
        "SELECT id, code, display, value_num, value_text, unit, effective_at, ref_low, ref_high, "
        "ref_text, flag, restricted FROM observations WHERE patient_id = ? AND category = ? "
        "ORDER BY effective_at DESC, display", (patient_id, category)):
        value = r[4] if r[4] is not None else (f"{r[3]:g}" if r[3] is not None else "")
        out.append(Observation(r[0], r[1] or "", r[2] or r[1] or "?", value, r[3], r[5], r[6],
                               _reference(r[7], r[8], r[9]), r[10], bool(r[11])))
    return out


def is_abnormal(flag: str | None) -> bool:
    """An interpretation flag other than normal (H, L, HH, LL, A...)."""
    return bool(flag) and flag not in ("N", "normal")


@dataclass(frozen=True)
class LatestResult:
    """One test (or vital sign): its latest result, and the latest earlier abnormal one, which
    is trend, not a current finding (potassium 3.3 L two days ago, 4.0 now)."""

    latest: Observation
    earlier_abnormal: Observation | None
    history: tuple[Observation, ...]  # newest first, the latest included

    @property
    def abnormal(self) -> bool:
        return is_abnormal(self.latest.flag)

    @property
    def changed_from(self) -> Observation | None:
        """The earlier abnormal result, when the latest says something else (normal now, or
        the other way out of range): the trend a reader needs beside the current value."""
        e = self.earlier_abnormal
        return e if e is not None and e.flag != self.latest.flag else None


def latest_results(newest_first: list[Observation]) -> list[LatestResult]:
    """Observations (newest first, as `observations` gives them) as one result per test, in
    the order of their latest result. Restricted ones are kept: whoever shows them masks."""
    tests: dict[str, list[Observation]] = {}
    for o in newest_first:
        tests.setdefault(o.code or o.display, []).append(o)
    return [LatestResult(found[0], next((o for o in found[1:] if is_abnormal(o.flag)), None),
                         tuple(found)) for found in tests.values()]


def _reference(low: float | None, high: float | None, text: str | None) -> str | None:
    if low is not None and high is not None:
        return f"{low:g}–{high:g}"
    if low is not None:
        return f">= {low:g}"
    if high is not None:
        return f"<= {high:g}"
    return text


def problems(db: sqlite3.Connection, patient_id: str) -> list[sqlite3.Row]:
    return db.execute(
        "SELECT id, display, code, system, clinical_status, onset, restricted FROM problems "
        "WHERE patient_id = ? ORDER BY clinical_status != 'active', onset DESC",
        (patient_id,)).fetchall()


def procedures(db: sqlite3.Connection, patient_id: str) -> list[sqlite3.Row]:
    return db.execute(
        "SELECT id, display, status, performed_at, restricted FROM procedures "
        "WHERE patient_id = ? ORDER BY performed_at DESC", (patient_id,)).fetchall()


def notes(db: sqlite3.Connection, patient_id: str) -> list[sqlite3.Row]:
    """Notes and documents without their content (id, title, kind, author, written_at,
    content_type, size, restricted, has_text)."""
    return db.execute(
        "SELECT id, title, kind, author, written_at, content_type, size, restricted, "
        "text IS NOT NULL AS has_text FROM notes WHERE patient_id = ? "
        "ORDER BY written_at DESC", (patient_id,)).fetchall()


def note_content(db: sqlite3.Connection, note_id: str) -> tuple[str | None, bytes | None]:
    r = db.execute("SELECT text, data FROM notes WHERE id = ?", (note_id,)).fetchone()
    return (r[0], r[1]) if r else (None, None)


def downtime_ids(db: sqlite3.Connection, unit: str, kind: str) -> list[str]:
    """Pre-allocated downtime MRNs (kind 'mrn') or encounter numbers ('encounter')."""
    return [v for (v,) in db.execute(
        "SELECT value FROM downtime_ids WHERE unit_code = ? AND kind = ? ORDER BY value",
        (unit, kind))]
