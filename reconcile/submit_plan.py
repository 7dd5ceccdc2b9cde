"""What a submission sends (reconcile/submit.py): of the entries in force, those ready and not
sent yet, each to the patient it belongs to; the registrations their patients need; and the
scanned pages of their forms, decrypted from the episode. Everything else is held, with why.

- Ready: checked and clear, or every conflict accepted (reconcile/decisions.py). A merged-chart
  conflict accepted with `retarget_to` in its decision sends the entry to that (surviving)
  patient (`retarget_encounter` too, when the decision names one).
- A patient registered on paper during downtime goes only once a person decided the
  registration (`registration-decided`): `link` reads the EHR Patient they chose (its
  version is what the Bundle's `ifMatch` holds to) and the entries go to them; `create` makes
  Patient and Encounter. The registration entry rides along with every Bundle of that
  patient (creating nothing twice), because the Bundle's references are built from it.
- Sent: held in a `bundle-submitted` or `bundle-written` event (reconcile/submissions.py):
  never sent again, which is how a submitter killed mid-way resumes where it stopped.
  Rejected (4xx): left for a person, unless asked again (`retry_rejected`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from snapshots.fhir_client.errors import FhirRefused

from .bundles import ScannedPage
from .decisions import Decisions
from .entries import Entry, Registration
from .episode import PAGES, Episode, parse_time
from .state import EpisodeState

ReadPatient = Callable[[str], dict]  # EHR Patient id -> the resource as read now


@dataclass(frozen=True)
class Held:
    key: str
    revision: int
    patient_id: str
    why: str


@dataclass
class Plan:
    entries: list[Entry] = field(default_factory=list)
    pages: list[ScannedPage] = field(default_factory=list)
    links: dict[str, dict] = field(default_factory=dict)  # downtime MRN -> EHR Patient
    held: list[Held] = field(default_factory=list)
    already: int = 0  # entries in force sent before
    # (form id, page) -> (patient, encounter) of a page whose entries go to a merged chart's
    # survivor: the page goes with them, not to the chart merged away
    retargeted: dict[tuple[str, int], tuple[str, str]] = field(default_factory=dict)

    def revisions(self) -> dict[str, int]:
        return {e.key: e.revision for e in self.entries}


def registration_decisions(decisions: Decisions) -> dict[str, dict[str, Any]]:
    """By downtime MRN, the standing `registration-decided` decision (link or create). The
    linked EHR Patient itself is read at submission (`read_patient`), so that the Bundle
    carries its current version (reconcile/registrations.py decides, this only reads)."""
    return {mrn: d for mrn, d in decisions.registrations.items()
            if d.get("decision") in ("link", "create")}


def plan_submission(state: EpisodeState, episode: Episode | None, *,
                    read_patient: ReadPatient | None = None,
                    retry_rejected: bool = False) -> Plan:
    """What to send now. `read_patient` reads a linked registration's EHR Patient (None:
    entries of linked registrations are held); `episode` decrypts the scanned pages (None:
    no pages go)."""
    plan = Plan()
    book, decisions, sent = state.entries, state.decisions, state.submissions
    registrations = {e.downtime_mrn: e for e in book.in_force() if isinstance(e, Registration)}
    decided = registration_decisions(decisions)
    waiting: dict[str, str] = {}  # downtime MRN -> why its patient's entries wait
    for entry in book.in_force():
        key, rev = entry.key, entry.revision
        if sent.is_sent(key, rev):
            plan.already += 1
            continue
        why = _why_held(entry, decisions, sent, retry_rejected)
        if why:
            plan.held.append(Held(key, rev, entry.patient_id, why))
            continue
        going = _retargeted(entry, decisions)
        if going is not entry:
            plan.retargeted[(entry.source.form_id, entry.source.page)] = (
                going.patient_id, going.encounter_id)
        plan.entries.append(going)
    _registrations(plan, registrations, decided, decisions, read_patient, waiting)
    if episode is not None:
        plan.pages = _pages(state, episode, plan, registrations)
    return plan


def _why_held(entry: Entry, decisions: Decisions, sent: Any, retry_rejected: bool) -> str:
    key, rev = entry.key, entry.revision
    if sent.is_rejected(key, rev) and not retry_rejected:
        r = sent.rejected[(key, rev)]
        return f"rejected by {r['to']} (HTTP {r['status']}: {r['outcome']}): for a person"
    standing = decisions.standing(key, rev)
    if standing == "unchecked":
        return "not checked against the EHR yet"
    if standing == "in-conflict":
        codes = ", ".join(c["code"] for c in decisions.open_conflicts(key, rev))
        return f"in conflict, waiting for a decision ({codes})"
    if standing == "rejected":
        return "rejected by a person's decision"
    return ""


def _retargeted(entry: Entry, decisions: Decisions) -> Entry:
    """The entry sent to the surviving patient of a merged chart, when a person accepted
    that conflict with a `retarget_to`."""
    for (key, rev, _code), d in decisions.decided.items():
        if key == entry.key and rev == entry.revision and d.get("decision") == "accept" \
                and d.get("retarget_to"):
            changes = {"patient_id": d["retarget_to"]}
            if d.get("retarget_encounter"):
                changes["encounter_id"] = d["retarget_encounter"]
            return dataclasses.replace(entry, **changes)
    return entry


def _registrations(plan: Plan, registrations: dict[str, Registration],
                   decided: dict[str, dict[str, Any]], decisions: Decisions,
                   read_patient: ReadPatient | None, waiting: dict[str, str]) -> None:
    """Entries of downtime patients go with their registration, once it is decided; held
    otherwise."""
    mrns = {e.patient_id for e in plan.entries if e.patient_id in registrations}
    for mrn in sorted(mrns):
        reg = registrations[mrn]
        decision = decided.get(mrn)
        if decision is None:
            waiting[mrn] = f"the downtime registration {mrn} is not linked nor created yet"
        elif not decisions.ready(reg.key, reg.revision):
            waiting[mrn] = f"the downtime registration {mrn} is not ready to send"
        elif decision["decision"] == "link":
            if read_patient is None:
                waiting[mrn] = (f"the downtime registration {mrn} is linked to an EHR "
                                "patient, who must be read from the server (--to)")
            else:
                try:
                    plan.links[mrn] = read_patient(decision["patient_id"])
                except FhirRefused as e:  # gone, merged away, not allowed: for a person
                    waiting[mrn] = (f"the downtime registration {mrn} is linked to EHR "
                                    f"patient {decision['patient_id']}, who cannot be read "
                                    f"({str(e).removeprefix(f'{e.url}: ')})")
    for mrn, why in waiting.items():
        keep = [e for e in plan.entries if e.patient_id != mrn]
        plan.held += [Held(e.key, e.revision, mrn, why) for e in plan.entries
                      if e.patient_id == mrn]
        plan.entries = keep
    have = {e.key for e in plan.entries}
    for mrn in sorted(mrns - set(waiting)):
        if registrations[mrn].key not in have:  # sent before: its Bundle needs it again
            plan.entries.insert(0, registrations[mrn])


def _pages(state: EpisodeState, episode: Episode, plan: Plan,
           registrations: dict[str, Registration]) -> list[ScannedPage]:
    """The scanned pages of the entries going now, and pages transcribed to their end (a
    MAR page with nothing given still goes), not sent before."""
    wanted = {(e.source.form_id, e.source.page) for e in plan.entries}
    wanted |= set(state.decisions.transcribed)
    going_mrns = {e.downtime_mrn for e in plan.entries if isinstance(e, Registration)}
    out = []
    for page in state.placed().values():
        p = page.placement
        if page.duplicate_of or not p.form_id or p.page is None or not p.patient_id:
            continue
        key = f"{p.form_id}/p{p.page}"
        if (p.form_id, p.page) not in wanted or key in state.submissions.pages:
            continue
        if p.patient_id in registrations and p.patient_id not in going_mrns:
            continue  # its patient's registration is not going: the page waits with it
        patient, encounter = plan.retargeted.get((p.form_id, p.page),
                                                 (p.patient_id, p.encounter_id or ""))
        out.append(ScannedPage(
            form_id=p.form_id, page=p.page, media_type=page.read["media_type"],
            data=episode.read_copy(PAGES, page.read["copy"]), patient_id=patient,
            encounter_id=encounter, scanned_at=parse_time(page.at, "scanned"),
            kind=p.kind or ""))
    return out
