"""What a clerk keys from paper, read the way the paper says it: a time written "0900" or
"930" (the station's local time, on the episode's day that makes it fall in the downtime),
a dose "5 mg" or "5mg", initials that name a person of the unit's staff list (or are asked,
once a session, never guessed), a vital sign in its UCUM unit and inside the range a
typing slip would leave (outside it: confirmed, not refused).

No Textual, no I/O: the back-entry screens (downtime/tui/screens/entry_*.py) call these, and
the tests and the import side may too. Every refusal is a KeyingError: one line saying what
was typed and what was expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from snapshots.errors import ToolkitError

from .entries import VITAL_UNITS, Person, Quantity
from .episode import Window
from .staff import StaffList, StaffMember, norm_initials


class KeyingError(ToolkitError, ValueError):
    """What was typed cannot be read as the paper's (one line: what, and what is expected)."""

    reason = "keying"


@dataclass(frozen=True)
class AskWho(Exception):  # noqa: N818 - not an error: the screen asks the clerk
    """Initials the staff list cannot resolve to one person: the clerk is asked (once)."""

    initials: str
    candidates: tuple[StaffMember, ...]


_TIME = re.compile(r"(\d{1,2}):?(\d{2})")


def clock_time(text: str) -> tuple[int, int]:
    """(hour, minute) of "0900", "900", "9:00", "14:30"; KeyingError otherwise."""
    m = _TIME.fullmatch(text.strip())
    if not m or int(m[1]) > 23 or int(m[2]) > 59:
        raise KeyingError(f"{text!r:.20} is not a time (24-hour, as on the paper: 0900, "
                          "1430)")
    return int(m[1]), int(m[2])


def paper_time(text: str, window: Window, issued: datetime | None, now: datetime) -> datetime:
    """The moment a time written on paper stands for: the station's local time on a day
    of the episode (from its start to its end, or to now while it is open). When several
    days fit (an episode over midnight or longer), the first at or after the form was
    issued (the paper did not exist before), else the first. Outside the episode: refused."""
    hour, minute = clock_time(text)
    start = window.start.astimezone()
    end = (window.end or now).astimezone()
    fits = []
    day: date = start.date()
    while day <= end.date():
        when = datetime(day.year, day.month, day.day, hour, minute).astimezone()
        if start <= when <= end:
            fits.append(when)
        day += timedelta(days=1)
    if not fits:
        raise KeyingError(f"{hour:02d}{minute:02d} is not within the episode "
                          f"({start:%d %b %H:%M} to {end:%d %b %H:%M})")
    if issued is not None:
        after = [w for w in fits if w >= issued]
        if after:
            return after[0]
    return fits[0]


# Units as written on paper -> UCUM (what the Bundles carry). Anything else must already
# be a UCUM code a clerk would type (mg, g, mL, L, ug, h).
_UNIT_WORDS = {"mcg": "ug", "µg": "ug", "units": "[iU]", "unit": "[iU]", "u": "[iU]",
               "iu": "[iU]", "ml": "mL", "l": "L", "tab": "{tab}", "tabs": "{tab}",
               "cap": "{cap}", "caps": "{cap}", "puff": "{puff}", "puffs": "{puff}",
               "meq": "meq", "mmol": "mmol", "mg": "mg", "g": "g", "ug": "ug", "kg": "kg",
               "drop": "{drop}", "drops": "{drop}", "patch": "{patch}", "spray": "{spray}"}
_DOSE = re.compile(r"(\d+(?:\.\d+)?)\s*([A-Za-zµ\[\]{}]+(?:/[A-Za-z]+)?)?")


def unit_code(word: str) -> str | None:
    return _UNIT_WORDS.get(word.lower()) or (word if word.startswith(("[", "{")) else None)


def quantity(text: str) -> Quantity:
    """ "5 mg", "5mg", "0.5 mL", "2 tabs", "10 units" as a UCUM quantity."""
    m = _DOSE.fullmatch(text.strip())
    unit = unit_code(m[2]) if m and m[2] else None
    if not m or unit is None:
        raise KeyingError(f"{text!r:.30} is not a dose (a number and a unit: 5 mg, 0.5 mL, "
                          "2 tab, 10 units)")
    return Quantity(value=float(m[1]), unit=unit)


def split_dose(tokens: list[str], at: int) -> tuple[Quantity, int] | None:
    """A dose starting at tokens[at] ("5 mg" as two tokens or "5mg" as one): the quantity
    and the index after it, or None when no dose starts there."""
    if at >= len(tokens) or not re.match(r"\d", tokens[at]):
        return None
    for width in (1, 2):
        try:
            return quantity(" ".join(tokens[at:at + width])), at + width
        except KeyingError:
            continue
    return None


@dataclass
class People:
    """Who initials stand for, on one unit's paper: the staff list's one person, else what
    the clerk answered earlier this session, else AskWho (never a guess)."""

    staff: StaffList
    asked: dict[tuple[str, str], Person] = field(default_factory=dict)

    def person(self, unit: str | None, written: str) -> Person:
        initials = norm_initials(written)
        if not initials:
            raise KeyingError(f"{written!r:.20}: initials have no letter")
        known = self.asked.get((unit or "", initials))
        if known is not None:
            return known
        member = self.staff.resolve(unit, initials)
        if member is not None:
            return member.person(initials)
        raise AskWho(initials, tuple(self.staff.candidates(unit, initials)))

    def answer(self, unit: str | None, initials: str, person: Person) -> None:
        """What the clerk said these initials are: kept for the rest of the session."""
        self.asked[(unit or "", norm_initials(initials))] = person

    def by_name(self, unit: str | None, text: str) -> Person:
        """A prescriber or author written in full ("Dr Jane Smith") or as initials."""
        text = text.strip()
        if re.fullmatch(r"[A-Za-z]{1,4}\.?", text.replace(".", "")):
            return self.person(unit, text)
        return Person(name=text)


# --- vital signs ------------------------------------------------------------------------
# The usual ranges: a value outside is asked to be confirmed (a typing slip, most often),
# not refused (a patient can be that ill). Hard limits (impossible values) are refused.
USUAL = {"heart_rate": (40, 140), "respiratory_rate": (8, 30), "Cel": (35.0, 39.5),
         "[degF]": (95.0, 103.1), "spo2": (88, 100), "systolic": (80, 200),
         "diastolic": (40, 120), "kg": (2.0, 250.0), "[lb_av]": (4.0, 550.0),
         "pain": (0, 10)}
HARD = {"spo2": (0, 100), "pain": (0, 10), "heart_rate": (0, 400),
        "respiratory_rate": (0, 100), "Cel": (10.0, 46.0), "[degF]": (50.0, 115.0),
        "systolic": (0, 350), "diastolic": (0, 250), "kg": (0.2, 700.0),
        "[lb_av]": (0.5, 1500.0)}
# the flowsheet's rows, top to bottom (forms/templates/blank.html.j2): typed in that order
FLOWSHEET = ("temperature", "heart_rate", "blood_pressure", "respiratory_rate", "spo2", "pain",
             "weight")
LABELS = {"temperature": "T", "heart_rate": "HR", "blood_pressure": "BP",
          "respiratory_rate": "RR", "spo2": "SpO2", "pain": "Pain", "weight": "Wt"}


@dataclass(frozen=True)
class Reading:
    measure: str
    value: float
    unit: str
    diastolic: float | None = None
    unusual: str | None = None  # why it wants confirming


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise KeyingError(f"{what} {text!r:.20} is not a number") from None


def _check(key: str, value: float, what: str, unit_text: str) -> str | None:
    low, high = HARD.get(key, (float("-inf"), float("inf")))
    if not low <= value <= high:
        raise KeyingError(f"{what} {value:g}{unit_text} cannot be (it must lie within "
                          f"{low:g} to {high:g})")
    low, high = USUAL.get(key, (low, high))
    if not low <= value <= high:
        return f"{what} {value:g}{unit_text} is outside {low:g}-{high:g}"
    return None


def reading(measure: str, text: str) -> Reading:
    """One flowsheet cell: "37.2" (or 98.6F), "88", "120/80", "97", "3", "70" (or 154lb)."""
    label = LABELS.get(measure, measure)
    if measure == "blood_pressure":
        m = re.fullmatch(r"(\d{2,3})/(\d{2,3})", text)
        if not m:
            raise KeyingError(f"BP {text!r:.20} is not systolic/diastolic (120/80)")
        sys_, dia = float(m[1]), float(m[2])
        if dia >= sys_:
            raise KeyingError(f"BP {text}: the diastolic is not below the systolic")
        why = [w for w in (_check("systolic", sys_, "BP systolic", ""),
                           _check("diastolic", dia, "BP diastolic", "")) if w]
        return Reading(measure, sys_, "mm[Hg]", dia, "; ".join(why) or None)
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([A-Za-z%]*)", text)
    if not m:
        raise KeyingError(f"{label} {text!r:.20} is not a number")
    value, suffix = _number(m[1], label), m[2].lower()
    unit = _vital_unit(measure, suffix, label, text)
    if measure == "temperature" and not suffix and value > HARD["Cel"][1]:
        raise KeyingError(f"T {text}: a temperature is read as °C; write {text}F for "
                          "Fahrenheit")
    key = unit if measure in ("temperature", "weight") else measure
    return Reading(measure, value, unit, None,
                   _check(key, value, label, "" if unit.startswith("{") or unit in
                          ("/min", "%") else f" {unit}"))


_SUFFIXES = {"temperature": {"": "Cel", "c": "Cel", "f": "[degF]"},
             "weight": {"": "kg", "kg": "kg", "lb": "[lb_av]", "lbs": "[lb_av]"},
             "spo2": {"": "%", "%": "%"}, "heart_rate": {"": "/min"},
             "respiratory_rate": {"": "/min"}, "pain": {"": "{score}"}}


def _vital_unit(measure: str, suffix: str, label: str, text: str) -> str:
    unit = _SUFFIXES[measure].get(suffix)
    if unit is None or unit not in VITAL_UNITS[measure]:
        raise KeyingError(f"{label} {text!r:.20}: {suffix!r} is not a unit of {label} ("
                          + ", ".join(repr(s) for s in _SUFFIXES[measure] if s) + " or none)")
    return unit

