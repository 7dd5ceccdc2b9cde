"""One typed line of a paper page -> one entry (reconcile/entries.py), per form kind, and the
entry back as the line that would type it (what a re-opened page shows, and what a
correction starts from). docs/back-entry-tui.md gives the syntax; in short:

- MAR, on the row (order) chosen: `TIME INITIALS [DOSE] [h|r REASON...]`, a PRN row
  `TIME INITIALS [DOSE] REASON...` ("0910 AB", "0900AB h NPO for surgery", "1415 CD 2 mg
  pain 7/10"). Line `row * 100 + n`: the n-th dose typed on that row of that page.
- vitals, one time column of the flowsheet: `TIME T HR BP RR SpO2 Pain Wt INITIALS`, "-"
  for a blank cell, trailing blanks left off ("1400 37.2 88 120/80 16 98 - - AB").
  Line: the column (1-8).
- orders: `TIME DRUG... DOSE ROUTE FREQUENCY PRESCRIBER [v|t [rb] by INITIALS] [prn
  REASON...]` ("1430 ceftriaxone 1 g IV q24h JS", "0215 morphine 2 mg IV q4h JS t rb by AB
  prn pain"). Line: the order's line on the page (1, 2, ...).
- progress note: the text, its time and its author's initials or name.
- registration: its fields; the downtime MRN and encounter come from the form's QR.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from .backentry import EntryBook, Recorded
from .entries import (
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
from .episode import Window
from .keying import (
    FLOWSHEET,
    LABELS,
    KeyingError,
    People,
    paper_time,
    quantity,
    reading,
    split_dose,
)

ROW_LINES = 100  # a MAR row's doses are lines row*100+1 .. row*100+99
VITALS_COLUMNS = 8  # the flowsheet's time columns (forms/templates/blank.html.j2)


@dataclass(frozen=True)
class PageContext:
    """What every entry of one paper page shares: where it is from and whose it is."""

    form_id: str
    page: int
    kind: str
    patient_id: str
    encounter_id: str
    unit: str | None
    window: Window
    issued: datetime | None  # when the form was issued (times resolve to after it)
    clerk: Person  # who types
    people: People

    def at(self, line: int) -> PageLine:
        return PageLine(form_id=self.form_id, page=self.page, line=line)

    def time(self, text: str, now: datetime) -> datetime:
        return paper_time(text, self.window, self.issued, now)

    def common(self, line: int, written_by: Person, when: datetime, now: datetime,
               revision: int) -> dict[str, Any]:
        return {"source": self.at(line), "patient_id": self.patient_id,
                "encounter_id": self.encounter_id, "written_by": written_by,
                "entered_by": self.clerk, "paper_time": when, "entered_at": now,
                "revision": revision}


def page_entries(book: EntryBook, form_id: str, page: int) -> dict[int, Recorded]:
    """The entry in force of every typed line of one page, by line."""
    prefix = f"{form_id}/p{page}/l"
    out = {}
    for key in book.lines:
        if key.startswith(prefix):
            rec = book.current(key)
            if rec is not None:
                out[rec.entry.source.line] = rec
    return dict(sorted(out.items()))


def _split_time(text: str) -> tuple[str, list[str]]:
    """ "0910AB rest" -> ("0910", ["AB", "rest"]): the time may run into the initials."""
    tokens = text.split()
    if not tokens:
        raise KeyingError("nothing typed")
    m = re.fullmatch(r"(\d{3,4}|\d{1,2}:\d{2})([A-Za-z].*)?", tokens[0])
    if not m:
        raise KeyingError(f"{tokens[0]!r:.20}: a line starts with the time on the paper "
                          "(0900, 1430)")
    rest = ([m[2]] if m[2] else []) + tokens[1:]
    return m[1], rest


# --- MAR --------------------------------------------------------------------------------

@dataclass(frozen=True)
class MarRow:
    """One row of the printed MAR (an order of the snapshot), or one added by the clerk for
    a drug written on the paper by hand."""

    row: int
    drug: Drug
    dose: Quantity | None  # None: the order's dose is not one quantity ("1-2 tab")
    dose_text: str
    route: str
    schedule: str  # "due 0900 2100", "PRN q4h pain"
    prn: bool = False
    prn_reason: str | None = None
    order_id: str | None = None
    due: tuple[str, ...] = ()  # the scheduled times printed in the row's boxes ("0900")


def next_due(row: MarRow, typed: dict[int, Recorded]) -> str | None:
    """The first time printed in the row's boxes that no dose typed on the row has."""
    have = {f"{rec.entry.paper_time.astimezone():%H%M}" for line, rec in typed.items()
            if line // ROW_LINES == row.row}
    return next((t for t in row.due if t not in have), None)


def with_due_time(text: str, row: MarRow, typed: dict[int, Recorded]) -> str:
    """ ".AB" is "0900 AB" when 0900 is the row's next box due: the nurse wrote the time
    printed in the box. Only on a scheduled row, and only where a box is left."""
    if not text.startswith("."):
        return text
    due = next_due(row, typed)
    if due is None:
        raise KeyingError("'.' stands for the next time printed in the row's boxes: this row "
                          "has none left; type the time written")
    return f"{due} {text[1:].lstrip()}"


def rows_from_orders(orders: Sequence[Any]) -> list[MarRow]:
    """The MAR's rows as printed: scheduled orders, then PRN (snapshots.chart.MedOrder)."""
    ordered = [o for o in orders if not o.prn] + [o for o in orders if o.prn]
    rows = []
    for n, o in enumerate(ordered, 1):
        try:
            dose = quantity(o.dose) if o.dose else None
        except KeyingError:
            dose = None
        times = " ".join(t.replace(":", "")[:4] for t in o.times)
        frequency = re.sub(r"\s*\bPRN\b\s*", " ", o.frequency or "", flags=re.I).strip()
        schedule = " ".join(x for x in ("PRN", frequency, o.prn_reason) if x) if o.prn else \
            (f"due {times}" if times else (o.frequency_text or "times per order"))
        rows.append(MarRow(n, Drug(text=o.medication, rxnorm=o.code if o.system and
                                   "rxnorm" in o.system else None), dose,
                           o.dose or o.rate or "",
                           o.route or "", schedule, o.prn, o.prn_reason, o.id,
                           tuple(times.split()) if not o.prn else ()))
    return rows


def rows_with_entries(rows: list[MarRow], typed: dict[int, Recorded]) -> list[MarRow]:
    """The printed rows, and the rows added on an earlier visit (from their entries)."""
    have = {r.row for r in rows}
    out = list(rows)
    for line, rec in typed.items():
        row = line // ROW_LINES
        e = rec.entry
        if row not in have and isinstance(e, MarAdministration):
            have.add(row)
            out.append(MarRow(row, e.drug, e.dose, _dose(e.dose), e.route, "added on paper",
                              e.prn, None, e.order_id))
    return sorted(out, key=lambda r: r.row)


def added_row(text: str, rows: list[MarRow]) -> MarRow:
    """A row the clerk adds: `DRUG... DOSE ROUTE [prn]` ("metoprolol 25 mg PO")."""
    tokens = text.split()
    prn = bool(tokens) and tokens[-1].lower() == "prn"
    tokens = tokens[:-1] if prn else tokens
    at = next((i for i, t in enumerate(tokens) if re.match(r"\d", t)), None)
    found = split_dose(tokens, at) if at else None
    if not found or found[1] != len(tokens) - 1:
        raise KeyingError("a row is DRUG DOSE ROUTE [prn]: metoprolol 25 mg PO")
    dose, after = found
    number = max([r.row for r in rows], default=0) + 1
    return MarRow(number, Drug(text=" ".join(tokens[:at])), dose, _dose(dose),
                  tokens[after], "added on paper", prn)


def mar_entry(text: str, row: MarRow, ctx: PageContext, line: int, now: datetime,
              revision: int = 0) -> MarAdministration:
    when_text, rest = _split_time(text)
    if not rest:
        raise KeyingError("the initials of who gave it come after the time (0910 AB)")
    written_by = ctx.people.person(ctx.unit, rest[0])
    dose, i = row.dose, 1
    found = split_dose(rest, 1)
    if found:
        dose, i = found
    if dose is None:
        raise KeyingError(f"the order's dose {row.dose_text!r} is not one amount: type the "
                          "dose given after the initials (0910 AB 2 tab)")
    outcome, reason, prn_reason = "given", None, None
    words = rest[i:]
    if words and words[0].lower() in ("h", "held", "r", "refused"):
        outcome = "held" if words[0].lower().startswith("h") else "refused"
        reason = " ".join(words[1:]) or None
        if not reason:
            raise KeyingError(f"a dose {outcome} needs the reason written beside it")
    elif words and row.prn:
        prn_reason = " ".join(words)
    elif words:
        raise KeyingError(f"{' '.join(words)!r:.30}: after the initials only a dose, or h / "
                          "r and the reason")
    if row.prn and outcome == "given" and not prn_reason:
        raise KeyingError("a PRN dose given needs the reason written on the paper "
                          "(1415 AB pain 7/10)")
    return MarAdministration(
        **ctx.common(line, written_by, ctx.time(when_text, now), now, revision),
        order_id=row.order_id, drug=row.drug, dose=dose, route=row.route or "unknown",
        outcome=outcome, reason=reason, prn=row.prn, prn_reason=prn_reason)


def mar_text(e: MarAdministration, row: MarRow | None) -> str:
    parts = [f"{e.paper_time.astimezone():%H%M}", e.written_by.initials or e.written_by.name]
    if row is None or row.dose != e.dose:
        parts.append(_dose(e.dose))
    if e.outcome != "given":
        parts += [e.outcome[0], e.reason or ""]
    elif e.prn_reason:
        parts.append(e.prn_reason)
    return " ".join(parts)


def next_row_line(row: MarRow, typed: dict[int, Recorded]) -> int:
    used = [line for line in typed if line // ROW_LINES == row.row]
    line = max(used, default=row.row * ROW_LINES) + 1
    if line >= (row.row + 1) * ROW_LINES:
        raise KeyingError(f"row {row.row} has {ROW_LINES - 1} doses typed: that is all a row "
                          "holds")
    return line


def _dose(q: Quantity) -> str:
    return f"{q.value:g} {q.unit}"


# --- vitals -----------------------------------------------------------------------------

def vitals_entry(text: str, ctx: PageContext, line: int, now: datetime, revision: int = 0
                 ) -> tuple[VitalsRow, list[str]]:
    """The row and what in it is outside the usual range (to be confirmed)."""
    when_text, cells = _split_time(text)
    if not cells or not re.fullmatch(r"[A-Za-z.]{1,5}", cells[-1]):
        raise KeyingError("the row ends with the initials of who measured (… 98 AB)")
    written_by = ctx.people.person(ctx.unit, cells[-1])
    cells = cells[:-1]
    if len(cells) > len(FLOWSHEET):
        raise KeyingError(f"{len(cells)} values: the flowsheet has {len(FLOWSHEET)} ("
                          + " ".join(LABELS[m] for m in FLOWSHEET) + ")")
    readings, unusual = [], []
    for measure, cell in zip(FLOWSHEET, cells, strict=False):
        if cell in ("-", "."):
            continue
        r = reading(measure, cell)
        readings.append(VitalReading(measure=r.measure, value=r.value, unit=r.unit,
                                     diastolic=r.diastolic))
        if r.unusual:
            unusual.append(r.unusual)
    if not readings:
        raise KeyingError("no value in the row (a blank cell is -)")
    row = VitalsRow(**ctx.common(line, written_by, ctx.time(when_text, now), now, revision),
                    readings=tuple(readings))
    return row, unusual


def vitals_text(e: VitalsRow) -> str:
    by = {r.measure: r for r in e.readings}
    cells = []
    for measure in FLOWSHEET:
        r = by.get(measure)
        if r is None:
            cells.append("-")
        elif r.diastolic is not None:
            cells.append(f"{r.value:g}/{r.diastolic:g}")
        else:
            cells.append(f"{r.value:g}" + {"[degF]": "F", "[lb_av]": "lb"}.get(r.unit, ""))
    while cells and cells[-1] == "-":
        cells.pop()
    return " ".join([f"{e.paper_time.astimezone():%H%M}", *cells,
                     e.written_by.initials or e.written_by.name])


# --- physician orders -------------------------------------------------------------------

def order_entry(text: str, ctx: PageContext, line: int, now: datetime, revision: int = 0
                ) -> PhysicianOrder:
    when_text, tokens = _split_time(text)
    prn_reason = None
    lowered = [t.lower() for t in tokens]
    if "prn" in lowered:
        at = lowered.index("prn")
        prn_reason = " ".join(tokens[at + 1:]) or None
        if not prn_reason:
            raise KeyingError("prn needs the reason after it (prn pain)")
        tokens, lowered = tokens[:at], lowered[:at]
    mode, read_back, taker = "written", False, None
    if "by" in lowered:
        at = lowered.index("by")
        if at + 1 >= len(tokens):
            raise KeyingError("by needs the initials of the nurse who took the order")
        taker = tokens[at + 1]
        flags, tokens = lowered[:at], tokens[:at]
        while flags and flags[-1] in ("v", "t", "rb"):
            flag = flags.pop()
            tokens = tokens[:-1]
            if flag == "rb":
                read_back = True
            else:
                mode = "verbal" if flag == "v" else "telephone"
        if mode == "written":
            raise KeyingError("by INITIALS is for a verbal (v) or telephone (t) order")
    dose_at = next((i for i, t in enumerate(tokens) if i and re.match(r"\d", t)), None)
    found = split_dose(tokens, dose_at) if dose_at else None
    if not found or len(tokens) - found[1] != 3:
        raise KeyingError("an order is TIME DRUG DOSE ROUTE FREQUENCY PRESCRIBER "
                          "(1430 ceftriaxone 1 g IV q24h JS)")
    dose, after = found
    route, frequency, prescriber_text = tokens[after:after + 3]
    prescriber = ctx.people.by_name(ctx.unit, prescriber_text)
    written_by = ctx.people.person(ctx.unit, taker) if taker else prescriber
    if mode != "written" and not read_back:
        raise KeyingError(f"a {mode} order is entered with its read-back (rb) as the paper "
                          "records it; without it, ask the prescriber to co-sign first")
    return PhysicianOrder(
        **ctx.common(line, written_by, ctx.time(when_text, now), now, revision),
        drug=Drug(text=" ".join(tokens[:dose_at])), dose=dose, route=route,
        frequency=frequency, prn=prn_reason is not None, prn_reason=prn_reason, mode=mode,
        prescriber=prescriber, read_back=read_back)


def order_text(e: PhysicianOrder) -> str:
    prescriber = e.ordered_by.initials or e.ordered_by.name
    parts = [f"{e.paper_time.astimezone():%H%M}", e.drug.text, _dose(e.dose), e.route,
             e.frequency, prescriber]
    if e.mode != "written":
        parts += [e.mode[0]] + (["rb"] if e.read_back else []) + \
            ["by", e.written_by.initials or e.written_by.name]
    if e.prn:
        parts += ["prn", e.prn_reason or ""]
    return " ".join(parts)


# --- progress note ----------------------------------------------------------------------

def note_entry(text: str, when_text: str, author: str, ctx: PageContext, now: datetime,
               revision: int = 0, title: str = "Progress note") -> ProgressNote:
    if not author.strip():
        raise KeyingError("the note's author (initials or name, as signed)")
    return ProgressNote(
        **ctx.common(1, ctx.people.by_name(ctx.unit, author), ctx.time(when_text, now), now,
                     revision), text=text.strip(), title=title.strip() or "Progress note")


# --- registration -----------------------------------------------------------------------

REG_FIELDS = ("family", "given", "birth_date", "sex", "address", "city", "postal_code",
              "phone", "arrived", "registered_by")
_SEX = {"m": "male", "f": "female", "o": "other", "u": "unknown", "male": "male",
        "female": "female", "other": "other", "unknown": "unknown", "": "unknown"}


def birth_date(text: str) -> date | None:
    """ "1950-03-12", "12 Mar 1950", "12mar1950" (slashes are refused: 03/12 is two dates)."""
    text = text.strip()
    if not text:
        return None
    for fmt in ("%Y-%m-%d", "%d %b %Y", "%d%b%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise KeyingError(f"date of birth {text!r:.20}: type it 1950-03-12 or 12 Mar 1950 "
                      "(03/12/1950 reads two ways)")


def registration_entry(values: dict[str, str], ctx: PageContext, now: datetime,
                       revision: int = 0) -> Registration:
    v = {k: values.get(k, "").strip() for k in REG_FIELDS}
    sex = _SEX.get(v["sex"].lower())
    if sex is None:
        raise KeyingError(f"sex {v['sex']!r:.10}: m, f, o or u")
    if not v["registered_by"]:
        raise KeyingError("registered by: the initials or name of who registered")
    if not v["arrived"]:
        raise KeyingError("arrived: the time on the paper (0215)")
    address = Address(line=v["address"], city=v["city"], postal_code=v["postal_code"]) \
        if v["address"] or v["city"] or v["postal_code"] else None
    return Registration(
        **ctx.common(1, ctx.people.by_name(ctx.unit, v["registered_by"]),
                     ctx.time(v["arrived"], now), now, revision),
        family=v["family"], given=tuple(v["given"].split()), birth_date=birth_date(
            v["birth_date"]), sex=sex, address=address, phone=v["phone"] or None)


def registration_values(e: Registration) -> dict[str, str]:
    a = e.address or Address()
    return {"family": e.family, "given": " ".join(e.given),
            "birth_date": e.birth_date.isoformat() if e.birth_date else "",
            "sex": e.sex[0] if e.sex != "unknown" else "u", "address": a.line,
            "city": a.city, "postal_code": a.postal_code, "phone": e.phone or "",
            "arrived": f"{e.paper_time.astimezone():%H%M}",
            "registered_by": e.written_by.initials or e.written_by.name}


def entry_line_text(entry: Entry, rows: dict[int, MarRow] | None = None) -> str:
    """The line that would type `entry` (the re-opened page, and a correction's start)."""
    if isinstance(entry, MarAdministration):
        return mar_text(entry, (rows or {}).get(entry.source.line // ROW_LINES))
    if isinstance(entry, VitalsRow):
        return vitals_text(entry)
    if isinstance(entry, PhysicianOrder):
        return order_text(entry)
    if isinstance(entry, ProgressNote):
        return entry.text
    return f"{entry.family}, {' '.join(entry.given)}"
