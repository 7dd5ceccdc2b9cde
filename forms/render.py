"""Rendering downtime forms from an opened snapshot to PDF.

Each form (a census, one patient's MAR, ...) is its own WeasyPrint document, so that "page x
of y" counts that form's pages; a packet is the forms' pages joined into one PDF. The
stylesheet is parsed once per process and the fonts configured once.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2

from snapshots import chart
from snapshots.sealed import OpenedSnapshot

from .header import allergy_items, fit_header, label_allergies, label_name_style
from .margrid import grid_image, hours_image, ruled_image, schedule, times_text
from .qr import QrPayload, new_form_id, qr_data_uri
from .registry import FormRecord, now_text

if TYPE_CHECKING:
    from weasyprint import CSS
    from weasyprint.text.fonts import FontConfiguration

TEMPLATES = Path(__file__).parent / "templates"
PATIENT_KINDS = ("facesheet", "mar", "orders", "note", "vitals", "labels", "medlist")
UNIT_KINDS = ("census", "medlist", "registration", "packet")
KINDS = ("census", "facesheet", "mar", "medlist", "orders", "note", "vitals", "registration",
         "labels", "packet")
TITLES = {"census": "Unit census", "facesheet": "Face sheet", "mar": "Downtime MAR",
          "medlist": "Medication list", "orders": "Physician orders",
          "note": "Progress note", "vitals": "Vitals flowsheet",
          "registration": "Downtime registration", "labels": "Patient labels"}
PAPER = {"letter": "Letter", "a4": "A4"}


class FormError(Exception):
    pass


@dataclass
class Form:
    """One form ready to render: its registry record and its HTML."""

    record: FormRecord
    html: str


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                              autoescape=jinja2.select_autoescape(["j2", "html"]),
                              undefined=jinja2.StrictUndefined)


@cache
def _stylesheet() -> tuple[CSS, FontConfiguration]:
    # WeasyPrint is imported here, not at the top: it takes about half a second, and a
    # pre-rendered packet, the agent and the CLI's other commands never lay anything out.
    from weasyprint import CSS
    from weasyprint.text.fonts import FontConfiguration

    fonts = FontConfiguration()
    return CSS(filename=str(TEMPLATES / "print.css"), font_config=fonts), fonts


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

    @property
    def db(self):
        return self.snapshot.db

    def age_text(self) -> str:
        age = chart.data_age(self.snapshot.manifest.as_of, self.now, self.stale_minutes)
        local = age.as_of.astimezone()
        if self.prerendered:  # printed later: the age is only known at the bedside
            return f"data as of {local:%d %b %Y %H:%M} (pre-rendered: compare with the clock)"
        stale = " — STALE" if age.stale else ""
        return f"data as of {local:%d %b %Y %H:%M} ({chart._duration(age.minutes_old)} old " \
               f"when printed){stale}"

    def when(self, value: str | None) -> str:
        moment = chart.parse_time(value)
        if moment is None:
            return "—"
        local = moment.astimezone()
        return local.strftime("%H:%M") if local.date() == self.now.astimezone().date() \
            else local.strftime("%d %b %H:%M")


def _record(ctx: FormContext, kind: str, patient_id: str = "", encounter_id: str = "") -> \
        FormRecord:
    return FormRecord(form_id=new_form_id(), kind=kind, patient_id=patient_id,
                      encounter_id=encounter_id, unit=ctx.unit,
                      snapshot_id=ctx.snapshot.manifest.snapshot_id, event="issued",
                      at=now_text(), by=ctx.printed_by)


def _page(ctx: FormContext, template: str, record: FormRecord,
          header: chart.Header | None = None, **values: object) -> Form:
    qr = qr_data_uri(QrPayload(record.form_id, record.kind, record.patient_id,
                               record.encounter_id))
    html = _environment().get_template(template).render(
        title=TITLES[record.kind], form_id=record.form_id, qr=qr, header=header,
        fit=fit_header(header, ctx.paper) if header else None,
        unit=ctx.unit, age_text=ctx.age_text(), printed_at=ctx.now.astimezone().strftime(
            "%d %b %Y %H:%M"), printed_by=ctx.printed_by, paper=ctx.paper,
        snapshot_id=ctx.snapshot.manifest.snapshot_id, kind=record.kind, **values)
    return Form(record, html)


def _meds(ctx: FormContext, patient_id: str) -> list[dict]:
    # the period of an order without clock times, for its default MAR times (chart's
    # MedOrder does not carry it)
    intervals = dict(ctx.db.execute("SELECT id, interval_hours FROM med_orders "
                                    "WHERE patient_id = ?", (patient_id,)).fetchall())
    out = []
    for m in chart.medications(ctx.db, patient_id, ctx.now):
        item = dict(m.__dict__)
        item["last_given_text"] = ctx.when(m.last_given) if m.last_given else "none recorded"
        item["next_due_text"] = ctx.when(m.next_due) if m.next_due else ""
        slots, note = schedule(m.times, m.frequency, intervals.get(m.id)) if not m.prn \
            else ((), "")
        item.update(slots=slots, times_note=note, times_text=times_text(slots))
        out.append(item)
    return out


def patient_form(ctx: FormContext, kind: str, patient_id: str) -> Form:
    header = chart.header(ctx.db, patient_id, ctx.now.date())
    record = _record(ctx, kind, patient_id, header.encounter_id or "")
    if kind == "facesheet":
        latest, seen = [], set()
        for category in ("vital-signs", "laboratory"):
            for o in chart.observations(ctx.db, patient_id, category):
                if o.code in seen or o.restricted:
                    continue
                seen.add(o.code)
                latest.append({**o.__dict__, "when": ctx.when(o.effective_at)})
        notes = [{**dict(n), "when": ctx.when(n["written_at"])}
                 for n in chart.notes(ctx.db, patient_id)[:8]]
        return _page(ctx, "facesheet.html.j2", record, header,
                     allergy_count=len(allergy_items(header.allergy.items)),
                     admitted=ctx.when(header.admitted_at),
                     problems=chart.problems(ctx.db, patient_id), meds=_meds(ctx, patient_id),
                     latest_obs=latest, notes=notes)
    if kind == "mar":
        meds = _meds(ctx, patient_id)
        for m in meds:
            m["grid"] = grid_image(m["slots"])
        return _page(ctx, "mar.html.j2", record, header, blank_grid=grid_image(()),
                     hours_img=hours_image(),
                     day=ctx.now.astimezone().strftime("%a %d %b %Y"),
                     scheduled=[m for m in meds if not m["prn"]],
                     prn=[m for m in meds if m["prn"]])
    if kind == "medlist":
        return _page(ctx, "medlist.html.j2", record, header,
                     patients=[{"header": header, "meds": _meds(ctx, patient_id)}])
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
        patients = [{"header": chart.header(ctx.db, r.patient_id, ctx.now.date()),
                     "meds": _meds(ctx, r.patient_id)} for r in rows]
        return _page(ctx, "medlist.html.j2", _record(ctx, kind), patients=patients, **common)
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
        record = _record(ctx, kind, patient_id=free[0][0], encounter_id=free[0][1])
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


_VOID = re.compile(r"<(meta|br|img)\b([^>]*?)/?>")


def _document(html: str):
    """A WeasyPrint HTML document from one of our forms' HTML. Our templates are well formed
    but for the void elements (meta, br, img) and one &nbsp;, so they are made XML and parsed
    with the C parser of xml.etree: WeasyPrint's pure-Python HTML5 parser took about 4% of a
    packet's time. Anything the XML parser refuses goes through WeasyPrint's own parser."""
    import cssselect2
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    try:
        root = ElementTree.fromstring(_VOID.sub(r"<\1\2/>", html.replace(
            "<!doctype html>", "", 1).replace("&nbsp;", "&#160;")))
    except ElementTree.ParseError:
        return HTML(string=html, base_url=str(TEMPLATES))
    # what HTML.__init__ sets after parsing (WeasyPrint 70)
    document = HTML.__new__(HTML)
    document.base_url = str(TEMPLATES)
    document.url_fetcher = URLFetcher()
    document.media_type = "print"
    document.wrapper_element = cssselect2.ElementWrapper.from_html_root(
        root, content_language=None)
    document.etree_element = document.wrapper_element.etree_element
    return document


def render_pdf(forms: Sequence[Form], progress: Callable[[int], None] | None = None
               ) -> tuple[bytes, int]:
    """Lay out each form as its own document (so "page x of y" counts that form's pages) and
    join the pages into one PDF. `progress(n)` is called after each form is laid out: layout
    is most of a job's time. Images (QR codes, MAR grids) are cached across the forms."""
    css, fonts = _stylesheet()
    images: dict = {}
    documents = []
    for n, form in enumerate(forms, 1):
        documents.append(_document(form.html).render(
            stylesheets=[css], font_config=fonts, cache=images))
        if progress:
            progress(n)
    if not documents:
        raise FormError("nothing to print: no patients on this unit")
    pages = [p for d in documents for p in d.pages]
    return documents[0].copy(pages).write_pdf(), len(pages)


def now_utc() -> datetime:
    return datetime.now(UTC)
