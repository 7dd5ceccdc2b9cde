"""Downtime forms from an opened snapshot: what each form holds, as HTML from the templates.

Each form (a census, one patient's MAR, ...) is its body, its page header and its stamp (QR
code, form id, footer); forms.compose lays them out and writes the PDF.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from snapshots import blood_pressure, chart
from snapshots.allergy_check import DISCLAIMER, AllergyCheck
from snapshots.clinical_terms import dose_text, short_name, vital_rank, with_unit
from snapshots.sealed import OpenedSnapshot

from .compose import TEMPLATES, Layers, Stamp, compose_pdf, environment
from .errors import FormError
from .header import allergy_items, fit_header, label_allergies, label_name_style
from .kinds import KINDS, PATIENT_KINDS, TITLES, UNIT_KINDS
from .margrid import grid_image, hours_image, ruled_image, schedule, times_text
from .qr import QrPayload, new_form_id
from .registry import FormRecord, now_text

__all__ = ["KINDS", "PATIENT_KINDS", "TEMPLATES", "TITLES", "UNIT_KINDS", "Form", "FormContext",
           "FormError", "patient_form", "plan", "render_pdf", "unit_form"]
PAPER = {"letter": "Letter", "a4": "A4"}


@dataclass
class Form:
    """One form ready to render: its registry record, the paper, and its layers' HTML."""

    record: FormRecord
    paper: str
    layers: Layers


@dataclass
class FormContext:
    """What every form of one job shares."""

    snapshot: OpenedSnapshot
    unit: str
    printed_by: str
    now: datetime
    paper: str = "Letter"
    stale_minutes: int = 30
    prerendered: bool = False
    # Downtime MRNs the registry says were already issued (forms.jobs fills it): a
    # registration form takes the next one of the pool that is not among them.
    used_downtime_ids: frozenset[str] = frozenset()
    # page headers made in this job, by patient (or "" for the unit): the same HTML for every
    # form of the patient, so it is laid out once (forms.compose)
    heads: dict[str, str] = field(default_factory=dict)

    @property
    def db(self):
        return self.snapshot.db

    def age_text(self) -> str:
        age = chart.data_age(self.snapshot.manifest.as_of, self.now, self.stale_minutes)
        local = age.as_of.astimezone()
        if self.prerendered:  # printed later: the age is only known at the bedside
            return f"data as of {local:%d %b %Y %H:%M} (pre-rendered: compare with the clock)"
        if age.clock_behind:
            return f"data as of {local:%d %b %Y %H:%M} (later than the clock it was " \
                   "printed by: CHECK THE CLOCK)"
        stale = " — STALE" if age.stale else ""
        return f"data as of {local:%d %b %Y %H:%M} " \
               f"({chart._duration(max(0, age.minutes_old))} old when printed){stale}"

    def when(self, value: str | None) -> str:
        moment = chart.parse_time(value)
        if moment is None:
            return "—"
        local = moment.astimezone()
        return local.strftime("%H:%M") if local.date() == self.now.astimezone().date() \
            else local.strftime("%d %b %H:%M")


def _record(ctx: FormContext, kind: str, patient_id: str = "", encounter_id: str = "",
            header: chart.Header | None = None, mrn: str = "") -> FormRecord:
    """The form's registry record; a patient's form carries the bed, name and MRN its header
    prints, so a page missing after downtime is named as people read the paper."""
    return FormRecord(form_id=new_form_id(), kind=kind, patient_id=patient_id,
                      encounter_id=encounter_id, unit=ctx.unit,
                      snapshot_id=ctx.snapshot.manifest.snapshot_id, event="issued",
                      at=now_text(), by=ctx.printed_by,
                      bed=(header.bed or "") if header else "",
                      patient_name=header.name if header else "",
                      mrn=(header.mrn if header else "") or mrn)


def _page(ctx: FormContext, template: str, record: FormRecord,
          header: chart.Header | None = None, **values: object) -> Form:
    common = {"title": TITLES[record.kind], "unit": ctx.unit, "paper": ctx.paper,
              "kind": record.kind, "age_text": ctx.age_text()}
    body = environment().get_template(template).render(
        header=header, form_id=record.form_id, **common, **values)
    stamp = Stamp(TITLES[record.kind], record.form_id, QrPayload(
        record.form_id, record.kind, record.patient_id, record.encounter_id),
        _footer(ctx, record))
    return Form(record, ctx.paper, Layers(body, _head(ctx, header, common, values), stamp))


def _head(ctx: FormContext, header: chart.Header | None, common: dict, values: dict) -> str:
    key = header.patient_id if header else ""
    if key not in ctx.heads:
        ctx.heads[key] = environment().get_template("head.html.j2").render(
            header=header, fit=fit_header(header, ctx.paper) if header else None,
            unit_name=values.get("unit_name", ""),
            patients_count=values.get("patients_count", 0), **common)
    return ctx.heads[key]


def _footer(ctx: FormContext, record: FormRecord) -> str:
    """The footer of every page. A pre-rendered packet does not know who will print it: it
    says when it was rendered, and the line above the footer says who printed it and when,
    drawn when it is handed over (forms.printed_stamp)."""
    when = f"{ctx.now.astimezone():%d %b %Y %H:%M}"
    made = f"rendered {when} ahead of printing" if ctx.prerendered else \
        f"printed {when} by {ctx.printed_by or '?'}"
    return (f"DOWNTIME COPY — {ctx.age_text()} · form {record.form_id} · {made} · snapshot "
            f"{ctx.snapshot.manifest.snapshot_id[:8]}")


def _meds(ctx: FormContext, patient_id: str, header: chart.Header
          ) -> tuple[list[dict], AllergyCheck]:
    """The patient's active and held orders as the forms print them, each marked when the
    allergy check found it may conflict, and the check itself."""
    # the period of an order without clock times, for its default MAR times (chart's
    # MedOrder does not carry it)
    intervals = dict(ctx.db.execute("SELECT id, interval_hours FROM med_orders "
                                    "WHERE patient_id = ?", (patient_id,)).fetchall())
    orders = chart.medications(ctx.db, patient_id, ctx.now)
    check = chart.allergy_check(ctx.db, patient_id, meds=orders, allergy=header.allergy)
    conflicting = {c.order_id for c in check.conflicts}
    out = []
    for m in orders:
        item = dict(m.__dict__)
        item["conflict"] = m.id in conflicting
        item["last_given_text"] = ctx.when(m.last_given) if m.last_given else "none recorded"
        item["next_due_text"] = ctx.when(m.next_due) if m.next_due else ""
        # units as clinicians write them ("4 units", not "4 U"); an infusion's frequency
        item.update(dose_text=dose_text(m.dose or m.rate), frequency_text=m.frequency_text,
                    continuous=m.continuous)
        slots, note = schedule(m.times, m.frequency, intervals.get(m.id)) if not m.prn \
            else ((), "")
        item.update(slots=slots, times_note=note, times_text=times_text(slots))
        out.append(item)
    return out, check


def patient_form(ctx: FormContext, kind: str, patient_id: str) -> Form:
    header = chart.header(ctx.db, patient_id, ctx.now.date())
    record = _record(ctx, kind, patient_id, header.encounter_id or "", header)
    if kind == "facesheet":
        latest = []
        for category in ("vital-signs", "laboratory"):
            # the latest result of each test; a restricted latest one is left out, never
            # replaced by an older result shown as if it were current
            found = chart.observations(ctx.db, patient_id, category)
            results = chart.latest_results(blood_pressure.paired(found)
                                           if category == "vital-signs" else found)
            if category == "vital-signs":  # BP, HR, RR, Temp, SpO2 ... as they are read out
                results.sort(key=lambda r: vital_rank(short_name(r.latest.code,
                                                                 r.latest.display)))
            for r in results:
                if r.latest.restricted:
                    continue
                # labs only: vital signs every few hours swing in and out of range
                e = r.changed_from if category == "laboratory" else None
                earlier = f"{with_unit(e.value, e.unit)} [{e.flag}] " \
                    f"{ctx.when(e.effective_at)}" if e is not None and not e.restricted else ""
                latest.append({**r.latest.__dict__, "when": ctx.when(r.latest.effective_at),
                               "earlier": earlier, "name": short_name(r.latest.code,
                                                                      r.latest.display),
                               "value_text": with_unit(r.latest.value, r.latest.unit)})
        notes = [{**dict(n), "when": ctx.when(n["written_at"])}
                 for n in chart.notes(ctx.db, patient_id)[:8]]
        meds, check = _meds(ctx, patient_id, header)
        return _page(ctx, "facesheet.html.j2", record, header,
                     allergy_count=len(allergy_items(header.allergy.items)),
                     admitted=ctx.when(header.admitted_at),
                     problems=chart.problems(ctx.db, patient_id), meds=meds, check=check,
                     disclaimer=DISCLAIMER, latest_obs=latest, notes=notes)
    if kind == "mar":
        meds, check = _meds(ctx, patient_id, header)
        # Each distinct grid image is a class in the document's stylesheet, not a style
        # attribute on every row: WeasyPrint parses (and re-serializes) a style attribute's
        # data URI once per element, a stylesheet's once per document.
        images = {grid_image(()): "grid-blank", hours_image(): "grid-hours"}
        for m in meds:
            m["grid_class"] = images.setdefault(grid_image(m["slots"]), f"grid-{len(images)}")
        return _page(ctx, "mar.html.j2", record, header,
                     grid_styles=[(name, uri) for uri, name in images.items()],
                     day=ctx.now.astimezone().strftime("%a %d %b %Y"),
                     scheduled=[m for m in meds if not m["prn"]],
                     prn=[m for m in meds if m["prn"]], check=check, disclaimer=DISCLAIMER)
    if kind == "medlist":
        meds, check = _meds(ctx, patient_id, header)
        return _page(ctx, "medlist.html.j2", record, header, disclaimer=DISCLAIMER,
                     patients=[{"header": header, "meds": meds, "check": check}])
    if kind == "labels":
        # 30 labels, 3 across and 10 down: one Letter or A4 page under the header
        return _page(ctx, "labels.html.j2", record, header, rows=10,
                     label_allergies=label_allergies(header),
                     label_name_style=label_name_style(header.name))
    if kind in ("orders", "note", "vitals"):
        return _page(ctx, "blank.html.j2", record, header, ruled20=ruled_image(20),
                     ruled24=ruled_image(24))
    raise FormError(f"form {kind!r} is not a patient form")


def unit_form(ctx: FormContext, kind: str) -> Form:
    rows = chart.census(ctx.db, ctx.unit, today=ctx.now.date())
    unit_name = next((n for c, n, _ in chart.units(ctx.db) if c == ctx.unit), "")
    common = {"unit_name": unit_name, "patients_count": len(rows)}
    if kind == "census":
        return _page(ctx, "census.html.j2", _record(ctx, kind), rows=rows, **common)
    if kind == "medlist":
        patients = []
        for r in rows:
            header = chart.header(ctx.db, r.patient_id, ctx.now.date())
            meds, check = _meds(ctx, r.patient_id, header)
            patients.append({"header": header, "meds": meds, "check": check})
        return _page(ctx, "medlist.html.j2", _record(ctx, kind), patients=patients,
                     disclaimer=DISCLAIMER, **common)
    if kind == "registration":
        mrns = chart.downtime_ids(ctx.db, ctx.unit, "mrn")
        encounters = chart.downtime_ids(ctx.db, ctx.unit, "encounter")
        if not mrns or not encounters:
            raise FormError(f"the snapshot holds no downtime MRN pool for unit {ctx.unit}")
        used = ctx.used_downtime_ids
        free = [(m, e) for m, e in zip(mrns, encounters, strict=False)
                if m not in used and e not in used]
        if not free:
            raise FormError(f"unit {ctx.unit}: all {len(mrns)} pre-allocated downtime MRNs are "
                            "already issued (form registry): none left to give out")
        record = _record(ctx, kind, patient_id=free[0][0], encounter_id=free[0][1],
                         mrn=free[0][0])  # the downtime MRN the form gives out
        return _page(ctx, "blank.html.j2", record, None, downtime_mrn=free[0][0],
                     downtime_encounter=free[0][1], **common)
    raise FormError(f"form {kind!r} is not a unit form")


def plan(ctx: FormContext, kind: str, patient_ids: Sequence[str] | None) -> list[Callable[[],
                                                                                       Form]]:
    """The forms a job prints, in order, as thunks (so long jobs can report progress)."""
    if kind not in KINDS:
        raise FormError(f"unknown form {kind!r}; one of: {', '.join(KINDS)}")
    if kind == "packet":
        ids = patient_ids or [r.patient_id for r in chart.census(ctx.db, ctx.unit)]
        steps = [lambda: unit_form(ctx, "census")]
        for pid in ids:
            for each in ("facesheet", "mar", "orders", "note"):
                steps.append(lambda pid=pid, each=each: patient_form(ctx, each, pid))
        return steps
    if patient_ids:
        if kind in ("census", "registration"):
            raise FormError(f"form {kind!r} is for a unit, not a patient")
        return [lambda pid=pid: patient_form(ctx, kind, pid) for pid in patient_ids]
    if kind in ("census", "medlist", "registration"):
        return [lambda: unit_form(ctx, kind)]
    ids = [r.patient_id for r in chart.census(ctx.db, ctx.unit)]
    return [lambda pid=pid: patient_form(ctx, kind, pid) for pid in ids]


def render_pdf(forms: Sequence[Form], progress: Callable[[int], None] | None = None
               ) -> tuple[bytes, int]:
    """Lay out the forms (each its own document, so "page x of y" counts that form's pages)
    and write one PDF of their pages. `progress(n)` is called after each form is laid out.
    Each form's record learns its page count (known only once it is laid out), so the
    registry events written after this (issued, printed) carry it."""
    if not forms:
        raise FormError("nothing to print: no patients on this unit")
    pdf, total, counts = compose_pdf([f.layers for f in forms], forms[0].paper, progress)
    for form, n in zip(forms, counts, strict=True):
        form.record = replace(form.record, pages=n)
    return pdf, total


def now_utc() -> datetime:
    return datetime.now(UTC)
