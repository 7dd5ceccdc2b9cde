"""Chain of custody: for each unit and patient, the forms issued, the pages back, the pages
missing by form and page number, and what waits for a person (queued for indexing, flagged,
set aside), from the episode's state. One dict (`custody`) that the terminal view, the JSON
and the PDF report all show; the next issue adds transcribed and submitted to it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from forms.kinds import TITLES

from .rules import DUPLICATE, FILED, INDEXED, NOT_IN_REGISTRY, QUEUED, FormInfo
from .state import EpisodeState, PageState

BACK = (FILED, INDEXED, NOT_IN_REGISTRY)
NO_UNIT = "not in registry"  # pages whose form no registry has: their unit is not known


def title(kind: str | None) -> str:
    return TITLES.get(kind or "", kind or "form")


def missing_text(form: FormInfo, page: int | None) -> str:
    """`Downtime MAR DT-7K2M9XQ4PL page 2 of 2` (listed under its unit and patient)."""
    what = f"{title(form.kind)} {form.form_id}"
    if page is None:
        return f"{what} (page count not known): no page back"
    return f"{what} page {page} of {form.pages}"


def _page_row(page: PageState) -> dict[str, Any]:
    p = page.placement
    return {"page": page.page_id, "where": page.where(), "status": p.status,
            "form_id": p.form_id, "kind": p.kind, "patient_id": p.patient_id,
            "encounter_id": p.encounter_id, "unit": p.unit, "page_no": p.page,
            "pages": p.pages, "why": p.why or None, "duplicate_of": page.duplicate_of,
            "flags": [{"kind": f.kind, "text": f.text} for f in p.flags],
            "read_at": page.at, "read_by": page.by}


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
    for form in sorted(forms, key=lambda f: (f.unit, f.patient_id, f.kind, f.form_id)):
        if (unit and form.unit != unit) or (patient and form.patient_id != patient):
            continue
        got = back.get(form.form_id, {})
        numbers = sorted(n for n in got if n is not None)
        if form.pages:
            gaps = [n for n in range(1, form.pages + 1) if n not in got]
        else:
            gaps = [None] if not got else []
        row = {"form_id": form.form_id, "kind": form.kind, "title": title(form.kind),
               "pages": form.pages or None, "pages_back": numbers,
               "pages_back_count": sum(len(v) for v in got.values()),
               "missing": [missing_text(form, n) for n in gaps],
               "issued_at": form.issued_at, "printed_at": form.printed_at,
               "workstations": sorted(form.workstations)}
        u = units.setdefault(form.unit, _unit_block())
        pt = u["patients"].setdefault(form.patient_id, _patient_block())
        pt["forms"].append(row)
        for block in (u, pt):
            block["forms_issued"] += 1
            block["pages_back"] += row["pages_back_count"]
            block["pages_missing"] += len(gaps)
        pt["missing"] += row["missing"]
    rows = [_page_row(p) for p in pages]
    for row in rows:  # pages of forms no registry has: under their own heading
        if row["status"] != NOT_IN_REGISTRY or (unit and unit != NO_UNIT) or \
                (patient and row["patient_id"] != patient):
            continue
        u = units.setdefault(NO_UNIT, _unit_block())
        pt = u["patients"].setdefault(row["patient_id"], _patient_block())
        pt["pages_back"] += 1
        u["pages_back"] += 1

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
            "pages": rows if not (unit or patient) else [r for r in rows if wanted(r)]}


def _unit_block() -> dict[str, Any]:
    return {"forms_issued": 0, "pages_back": 0, "pages_missing": 0, "flagged": 0,
            "patients": {}}


def _patient_block() -> dict[str, Any]:
    return {"forms_issued": 0, "pages_back": 0, "pages_missing": 0, "flagged": 0,
            "missing": [], "forms": []}
