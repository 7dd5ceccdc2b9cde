"""Chain of custody: for each unit and patient, the forms issued, the pages back, the pages
missing by form and page number, those marked lost (by whom, why) apart from them, and what
waits for a person (queued for indexing, flagged, set aside), from the episode's state; and
the back-entry side (reconcile/custody_entries.py): pages transcribed, entries in conflict,
decided, submitted, rejected, who entered what, the conflicts and their decisions. One dict
(`custody`) that the terminal view, the JSON and the PDF report all show. Patients are
listed in bed order and named as the paper names them (bed, name, MRN from the registry), by
their id where it does not know.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from forms.kinds import TITLES

from .custody_entries import add_entry_figures, conflict_rows
from .rules import DUPLICATE, FILED, INDEXED, NOT_IN_REGISTRY, QUEUED, FormInfo
from .state import EpisodeState, PageState, lost_mark

BACK = (FILED, INDEXED, NOT_IN_REGISTRY)
NO_UNIT = "not in registry"  # pages whose form no registry has: their unit is not known


def title(kind: str | None) -> str:
    return TITLES.get(kind or "", kind or "form")


def missing_text(form: FormInfo, page: int | None) -> str:
    """`Downtime MAR 4W-005-B KAMINSKI, Nancy MRN1000002 page 2 of 2 (DT-7K2M9XQ4PL)`: the
    patient as the paper shows them, the form id to find it by; where the registry does not
    know the patient (an older registry, a unit form) `Downtime MAR DT-7K2M9XQ4PL page 2 of
    2`."""
    person = form.person()
    what = f"{title(form.kind)} {person}" if person else f"{title(form.kind)} {form.form_id}"
    tail = f" ({form.form_id})" if person else ""
    if page is None:
        return f"{what} (page count not known): no page back{tail}"
    return f"{what} page {page} of {form.pages}{tail}"


def patient_label(block: dict[str, Any], patient_id: str) -> str:
    """`4W-005-B KAMINSKI, Nancy MRN1000002`, else the patient id."""
    return " ".join(x for x in (block["bed"], block["name"], block["mrn"]) if x) or \
        patient_id or "(unit forms)"


def _page_row(page: PageState) -> dict[str, Any]:
    p = page.placement
    return {"page": page.page_id, "where": page.where(), "status": p.status,
            "form_id": p.form_id, "kind": p.kind, "patient_id": p.patient_id,
            "encounter_id": p.encounter_id, "unit": p.unit, "page_no": p.page,
            "pages": p.pages, "why": p.why or None, "duplicate_of": page.duplicate_of,
            "flags": [{"kind": f.kind, "text": f.text} for f in p.flags],
            "read_at": page.at, "read_by": page.by}


def _form_row(state: EpisodeState, form: FormInfo,
              got: dict[int | None, list[PageState]]) -> dict[str, Any]:
    """One form: its pages back, missing (waited for), lost (marked so by a named person)
    and back after being marked lost."""
    numbers = sorted(n for n in got if n is not None)
    if form.pages:
        gaps = [n for n in range(1, form.pages + 1) if n not in got]
    else:
        gaps = [None] if not got else []
    missing, waited, lost, returned = [], [], [], []
    for n in gaps:
        mark = lost_mark(state, form.form_id, n)
        if mark is None:
            missing.append(missing_text(form, n))
            waited.append(n)
        else:
            lost.append(_lost_entry(form, n, mark))
    for n in numbers:
        mark = lost_mark(state, form.form_id, n)
        if mark is not None:
            first = got[n][0]
            returned.append(dict(_lost_entry(form, n, mark), back_at=first.at,
                                 back_where=first.where()))
    return {"form_id": form.form_id, "kind": form.kind, "title": title(form.kind),
            "pages": form.pages or None, "pages_back": numbers,
            "pages_back_count": sum(len(v) for v in got.values()),
            "missing": missing, "missing_pages": waited, "lost": lost,
            "back_after_lost": returned,
            "issued_at": form.issued_at, "printed_at": form.printed_at,
            "workstations": sorted(form.workstations)}


def _lost_entry(form: FormInfo, page: int | None, mark: dict[str, Any]) -> dict[str, Any]:
    return {"text": missing_text(form, page), "form_id": form.form_id, "page": page,
            "reason": mark["reason"], "person": mark["person"], "at": mark["at"],
            "typed_by": mark["by"]}


def custody(state: EpisodeState, unit: str | None = None, patient: str | None = None,
            now: datetime | None = None) -> dict[str, Any]:
    """The whole chain of custody (filtered to a unit and/or patient when given)."""
    pages = list(state.placed().values())
    back: dict[str, dict[int | None, list[PageState]]] = {}
    for page in pages:
        p = page.placement
        if p.status in BACK and p.form_id:
            back.setdefault(p.form_id, {}).setdefault(p.page, []).append(page)
    units: dict[str, Any] = {}
    forms = [f for f in state.forms.values() if f.reached_paper and
             (not state.units or f.unit in state.units)]
    # patients in bed order (then name), as the unit's census lists them
    for form in sorted(forms, key=lambda f: (f.unit, f.bed or "~", f.patient_name,
                                             f.patient_id, f.kind, f.form_id)):
        if (unit and form.unit != unit) or \
                (patient and patient not in (form.patient_id, form.mrn)):
            continue
        row = _form_row(state, form, back.get(form.form_id, {}))
        u = units.setdefault(form.unit, _unit_block())
        pt = u["patients"].setdefault(form.patient_id, _patient_block())
        for key, value in (("bed", form.bed), ("name", form.patient_name),
                           ("mrn", form.mrn)):
            pt[key] = pt[key] or value
        pt["label"] = patient_label(pt, form.patient_id)
        pt["forms"].append(row)
        for block in (u, pt):
            block["forms_issued"] += 1
            block["pages_back"] += row["pages_back_count"]
            block["pages_missing"] += len(row["missing"])
            block["pages_lost"] += len(row["lost"])
        pt["missing"] += row["missing"]
        pt["lost"] += row["lost"]
        pt["back_after_lost"] += row["back_after_lost"]
    shown = {f["form_id"] for u in units.values() for p in u["patients"].values()
             for f in p["forms"]}
    rows = [_page_row(p) for p in pages]
    for row in rows:  # pages of forms no registry has: under their own heading
        if row["status"] != NOT_IN_REGISTRY or (unit and unit != NO_UNIT) or \
                (patient and row["patient_id"] != patient):
            continue
        u = units.setdefault(NO_UNIT, _unit_block())
        pt = u["patients"].setdefault(row["patient_id"], _patient_block())
        pt["label"] = patient_label(pt, row["patient_id"])
        pt["pages_back"] += 1
        u["pages_back"] += 1

    def blocks(unit_code: str, patient_id: str) -> tuple[dict, dict]:
        u = units.setdefault(unit_code, _unit_block())
        pt = u["patients"].get(patient_id)
        if pt is None:
            pt = u["patients"][patient_id] = _patient_block()
            pt["label"] = patient_label(pt, patient_id)
        return u, pt

    unit_of = {f.form_id: f.unit for f in state.forms.values()}
    mrn_of = {f.patient_id: f.mrn for f in state.forms.values() if f.mrn}
    back_entry = add_entry_figures(
        state, blocks, unit_of, NO_UNIT,
        lambda u, pid: (not unit or u == unit) and
        (not patient or patient in (pid, mrn_of.get(pid))))

    def wanted(row: dict[str, Any]) -> bool:
        return (not unit or row["unit"] == unit or row["unit"] is None) and \
            (not patient or row["patient_id"] == patient)

    flagged = [r for r in rows if r["flags"] and wanted(r)]
    for row in flagged:
        u = units.get(row["unit"] or (NO_UNIT if row["status"] == NOT_IN_REGISTRY else ""))
        if u is not None:
            u["flagged"] += 1
            pt = u["patients"].get(row["patient_id"])
            if pt is not None:
                pt["flagged"] += 1
    queued = [r for r in rows if r["status"] == QUEUED and not patient]
    set_aside = [] if patient else list(state.set_aside)
    expected_ws = state.workstations
    totals = {"forms_issued": sum(u["forms_issued"] for u in units.values()),
              "pages_in": len(rows), "pages_back": sum(u["pages_back"] for u in units.values()),
              "pages_missing": sum(u["pages_missing"] for u in units.values()),
              "pages_lost": sum(u["pages_lost"] for u in units.values()),
              "back_after_lost": sum(len(p["back_after_lost"]) for u in units.values()
                                     for p in u["patients"].values()),
              "queued": len(queued), "flagged": len(flagged),
              "duplicates": sum(r["status"] == DUPLICATE for r in rows),
              "set_aside": len(set_aside)}
    window = state.window
    return {"episode": state.episode_id,
            "window": {"start": window.start.isoformat() if window else None,
                       "end": window.end.isoformat() if window and window.end else None},
            "episode_units": list(state.units), "opened_at": state.opened_at,
            "opened_by": state.opened_by, "data_as_of": state.last_at,
            "generated_at": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "filter": {"unit": unit, "patient": patient}, "totals": totals,
            "units": units, "queued": queued, "flagged": flagged, "set_aside": set_aside,
            "workstations": {k: {"registry_events": v.get("registry_events", 0),
                                 "audit": v.get("audit")} for k, v in expected_ws.items()},
            "pages": rows if not (unit or patient) else [r for r in rows if wanted(r)],
            # every lost mark and withdrawal, oldest first (who said it, who typed it, when)
            "lost_marks": [m for m in state.lost_log if not (unit or patient) or
                           m["form_id"] in shown],
            # every conflict of the entries shown, with its decision (reconcile/decisions.py)
            "conflicts": conflict_rows(state, {r["key"] for u in units.values()
                                               for p in u["patients"].values()
                                               for r in p.get("entered", [])}),
            # the back-entry figures of everything shown (each unit's and patient's own are
            # under their `back_entry`; who entered what under each patient's `entered`)
            "back_entry": back_entry, "closed": state.closed}


def _unit_block() -> dict[str, Any]:
    return {"forms_issued": 0, "pages_back": 0, "pages_missing": 0, "pages_lost": 0,
            "flagged": 0, "patients": {}}


def _patient_block() -> dict[str, Any]:
    return {"label": "", "bed": "", "name": "", "mrn": "", "forms_issued": 0,
            "pages_back": 0, "pages_missing": 0, "pages_lost": 0, "flagged": 0,
            "missing": [], "lost": [], "back_after_lost": [], "forms": []}
