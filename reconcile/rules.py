"""Where a scanned page belongs, and what about it a person must see (docs/reconcile.md,
"Filing rules and flags"). Pure functions over what was read and the merged registry: the
state (reconcile/state.py) applies them to every page in journal order, so a registry
collected after the scans, or a page indexed by hand, re-files what it touches.

Statuses: `filed` (under its form in the registry), `not-in-registry` (under the patient and
encounter its QR names), `indexed` (by hand), `queued` (needs indexing), `duplicate` (the
same page again: kept once, the second noted). Set-aside files are not pages (state.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

FILED, NOT_IN_REGISTRY, INDEXED, QUEUED, DUPLICATE = (
    "filed", "not-in-registry", "indexed", "queued", "duplicate")
# flag kinds
NOT_OURS, NOT_ISSUED, OTHER_PATIENT, OTHER_KIND, TWICE, OUT_OF_WINDOW, OUT_OF_UNITS = (
    "not-ours", "not-issued", "other-patient", "other-kind", "scanned-twice", "out-of-window",
    "out-of-units")


@dataclass(frozen=True)
class Flag:
    kind: str
    text: str


@dataclass
class FormInfo:
    """One form as the collected registries tell it (events merged by form id and event)."""

    form_id: str
    kind: str
    patient_id: str
    encounter_id: str
    unit: str
    snapshot_id: str
    pages: int = 0  # 0: unknown (a registry from before page counts)
    issued_at: str | None = None
    printed_at: str | None = None
    failed: str | None = None  # the reason, when its latest event is `failed`
    latest: str = ""
    workstations: set[str] = field(default_factory=set)
    # as printed on the form (registries from before these were kept: "")
    bed: str = ""
    patient_name: str = ""
    mrn: str = ""

    def person(self) -> str:
        """`4W-005-B KAMINSKI, Nancy MRN1000002` as far as the registry knows it ("" if not)."""
        return " ".join(x for x in (self.bed, self.patient_name, self.mrn) if x)

    @property
    def reached_paper(self) -> bool:
        """Printed, or issued without a recorded outcome (it may be on paper): a form whose
        printing failed never reached a printer and is not waited for."""
        return self.latest != "failed"

    def issued_time(self) -> datetime | None:
        at = self.issued_at or self.printed_at
        if not at:
            return None
        try:
            return datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            return None


@dataclass
class Placement:
    status: str
    form_id: str | None = None
    kind: str | None = None
    patient_id: str | None = None
    encounter_id: str | None = None
    unit: str | None = None
    page: int | None = None
    pages: int | None = None
    flags: list[Flag] = field(default_factory=list)
    why: str = ""  # for a queued page: why it needs indexing


def place(read: dict[str, Any], forms: dict[str, FormInfo], window: Any,
          units: tuple[str, ...]) -> Placement:
    """Where a page belongs from what its code said (`read`: the page-read event's data)."""
    payload = read.get("payload")
    if payload is None:
        if read.get("qr_text") is None:
            return Placement(QUEUED, why="no readable QR code")
        return Placement(QUEUED, why="its QR code is not a downtime form's", flags=[
            Flag(NOT_OURS, f"a QR code that is not ours ({_quote(read['qr_text'])})")])
    form = forms.get(payload["form_id"])
    if form is None:
        return Placement(NOT_IN_REGISTRY, form_id=payload["form_id"], kind=payload["kind"],
                         patient_id=payload["patient_id"],
                         encounter_id=payload["encounter_id"], page=payload.get("page"),
                         pages=payload.get("pages"), flags=[Flag(NOT_ISSUED, (
                             f"form {payload['form_id']} is in no collected registry (never "
                             "issued, or its workstation's registry not collected yet)"))])
    placement = on_form(form, payload.get("page"), payload.get("pages"), window, units)
    if payload["patient_id"] != form.patient_id or \
            payload["encounter_id"] != form.encounter_id:
        placement.flags.insert(0, Flag(OTHER_PATIENT, (
            f"its QR names patient {payload['patient_id']} (encounter "
            f"{payload['encounter_id']}), the registry patient {form.patient_id} (encounter "
            f"{form.encounter_id}) for {form.form_id}: a page or label from another chart?")))
    if payload["kind"] != form.kind:
        placement.flags.append(Flag(OTHER_KIND, f"its QR says {payload['kind']}, the registry "
                                                f"{form.kind} for {form.form_id}"))
    return placement


def on_form(form: FormInfo, page: int | None, pages: int | None, window: Any,
            units: tuple[str, ...], status: str = FILED) -> Placement:
    """A page placed under `form` (by its code, or by hand), with the episode's checks."""
    count = form.pages or pages
    if page is None and count == 1:
        page = 1  # a one-page form's page needs no number
    placement = Placement(status, form_id=form.form_id, kind=form.kind,
                          patient_id=form.patient_id, encounter_id=form.encounter_id,
                          unit=form.unit, page=page, pages=count)
    when = form.issued_time()
    if window is not None and when is not None and not window.holds(when):
        placement.flags.append(Flag(OUT_OF_WINDOW, (
            f"{form.form_id} was issued {form.issued_at or form.printed_at}, outside the "
            f"episode ({window.text()})")))
    if units and form.unit not in units:
        placement.flags.append(Flag(OUT_OF_UNITS, (
            f"{form.form_id} is a {form.unit} form; the episode covers {', '.join(units)}")))
    return placement


def _quote(text: str) -> str:
    # what a foreign code holds may be anything (a wristband's MRN): shown short, in the
    # encrypted journal and on the clerk's screen only
    return repr(text[:24] + ("..." if len(text) > 24 else ""))
