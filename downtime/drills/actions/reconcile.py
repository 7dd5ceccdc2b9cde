"""`back-entry`, `decide` and `submit`: the simulated paper put back into the EHR, through
the same library the `downtime reconcile` commands stand on.

- `back-entry`: the entries of `simulate-paper` (ctx.shared["paper"]) written as a site's
  transcription file (docs/back-entry-format.md, in memory: paper_file.py) and taken in
  with reconcile/importing.py `import_data` against the unit staff lists the paper was
  written by (ctx.shared["paper_staff"]), as `downtime reconcile import` does: every row
  checked, the valid ones journaled in one write, the invalid ones (the seeded
  `unknown-initials` among them) reported and kept encrypted in the episode.
  Figures: `backentry_entries` (recorded), `backentry_pages` (the pages they came from),
  `backentry_rows_invalid`, `backentry_seconds`.
- `decide` (policy): the downtime registrations decided (reconcile/registrations.py:
  every one whose match offers exactly one certain candidate confirmed as a link, the
  others created as new patients, the drill's named decider answering for both), then
  every entry in force checked against what the sandbox holds now
  (reconcile/current_state.py `from_server`, reconcile/conflicts.py) and the run journaled
  (conflict_decisions.journal_check), then the conflicts decided by a stated policy
  (conflict_decisions.decide_by_policy; POLICIES below maps the drill's names to the
  library's). Figures: `conflicts_found`, `conflicts_rejected`, `conflicts_accepted`,
  `conflicts_open` (left for a person), `errors_caught` (seeded errors refused at import or
  found by the checks), `errors_missed`, `registrations_linked`, `registrations_created`.
- `submit`: reconcile/submit.py (the plan of submit_plan.py: what is ready and not sent,
  one transaction Bundle per patient) to the sandbox with the toolkit's FHIR client
  (`retries`, default 3), each outcome journaled and audited (the drill's own audit log,
  workdir/audit/). Figures: `bundles_submitted`, `bundles_rejected`, `submit_reject_share`,
  `entries_submitted`, `entries_held`, `submit_seconds`. Evidence: `bundles_sha256` (the
  Bundles' SHA-256s hashed together, in order), `journal_sha256` (the episode journal as
  it stands after), `audit_head` (the audit log's head).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ..api import ActionSpec, DrillContext, StepResult, register
from .paper import PAPER, PAPER_ERRORS, PAPER_STAFF, PAPER_UNITS, PAPER_WINDOW
from .paper_file import FILE_NAME, paper_file
from .sandbox import running
from .scan import episode_of
from .site import DrillActionError, failed, timer, whole

DECIDER = "Drill reconciliation lead"  # the person a drill's policy decisions are made by
# the drill's policy names -> reconcile.conflict_decisions.POLICIES; the library's own
# names are taken as they are
POLICIES = {"reject-errors": "accept-none", "paper-wins-if-later": "reject-duplicates",
            "accept-none": "accept-none", "accept-all": "accept-all",
            "reject-duplicates": "reject-duplicates"}
RETRIES = 3


def _state(episode: Any) -> Any:
    from reconcile.state import derive

    return derive(episode.journal.read())


def _in_step(filer: Any) -> None:
    """The filer's state read again: the library's functions wrote to the journal."""
    filer.state = _state(filer.episode)


def _client(base_url: str, retries: int) -> Any:
    from snapshots.fhir_client import ClientSettings, FhirClient

    return FhirClient(ClientSettings(url=base_url, retries=retries, timeout_seconds=30))


def staff_list(staff: Mapping[str, Sequence[Any]]) -> Any:
    """The units' staff of the simulated paper (Persons) as reconcile's StaffList."""
    from reconcile.staff import StaffList, StaffMember

    return StaffList({unit: tuple(StaffMember(p.initials, p.name) for p in people)
                      for unit, people in staff.items()})


def drill_now(ctx: DrillContext) -> datetime | None:
    """The drill's now once the paper is written: its window's end, and the hour of
    typing after it (simulate-paper dates the entries so). A drill compressed in time
    writes paper dated hours ahead of the real clock; checked at the real clock, every line
    would be `future`."""
    window = ctx.shared.get(PAPER_WINDOW)
    if not window or window[1] is None:
        return None
    return max(window[1] + timedelta(hours=2), datetime.now(UTC))


# -- back-entry ------------------------------------------------------------------------------

def back_entry(episode: Any, entries: Sequence[Any], unit_of: Mapping[str, str],
               staff: Any, now: datetime | None = None) -> Any:
    """The entries imported as a transcription file; reconcile's ImportReport."""
    from reconcile.importing import import_data

    data = paper_file(entries, unit_of)
    return import_data(episode, data, FILE_NAME, staff, entered_by=None, fmt="json", now=now)


def run_back_entry(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    entries = ctx.shared.get(PAPER)
    if not entries:
        return failed("nothing to back-enter: a `simulate-paper` step first")
    episode, filer = episode_of(ctx)
    staff = staff_list(ctx.shared.get(PAPER_STAFF, {}))
    with timer() as took:
        report = back_entry(episode, entries, ctx.shared.get(PAPER_UNITS, {}), staff,
                            drill_now(ctx))
    _in_step(filer)
    recorded = [o for o in report.outcomes if o.status in ("recorded", "correction")]
    pages = {o.entry.source.page_key for o in recorded if o.entry is not None}
    invalid = report.invalid
    for o in invalid[:5]:  # the import's own words: line and column (no patient data)
        ctx.log(f"import {o.line()}")
    detail = f"{report.summary()}, in {took[0]:.2f} s"
    return StepResult(detail=detail, figures={
        "backentry_entries": len(recorded), "backentry_pages": len(pages),
        "backentry_rows_invalid": len(invalid), "backentry_seconds": took[0]})


# -- decide ----------------------------------------------------------------------------------

@dataclass
class Decided:
    found: int = 0
    rejected: int = 0
    accepted: int = 0
    open: int = 0
    linked: int = 0
    created: int = 0
    flagged: set[str] = field(default_factory=set)  # entry keys with a conflict
    codes: dict[str, int] = field(default_factory=dict)


def decide_registrations(episode: Any, state: Any, against: Any) -> tuple[int, int]:
    """Certain matches confirmed as links, every other registration created; (linked,
    created)."""
    from reconcile.registrations import confirm_certain, create, match_all

    matches = match_all(state, against)
    linked = confirm_certain(episode.journal, state, matches, DECIDER, against, episode.who)
    created = 0
    for m in matches:
        if m.registration.downtime_mrn in state.decisions.registrations:
            continue
        create(episode.journal, state, m.registration.downtime_mrn, DECIDER, m.result,
               against, episode.who, reason="drill policy: no single certain match, "
                                            "registered as a new patient")
        created += 1
    return len(linked), created


def decide(episode: Any, policy: str, base_url: str, staff: Any,
           now: datetime | None = None) -> Decided:
    """Registrations, the conflict check against the sandbox, and the policy's decisions.
    `now`: the drill's moment of the check (a compressed drill's paper is dated hours
    ahead of the real clock)."""
    from reconcile import current_state
    from reconcile.conflict_decisions import decide_by_policy, journal_check
    from reconcile.registrations import Against

    if policy not in POLICIES:
        raise DrillActionError(f"policy = {policy!r}: one of {', '.join(POLICIES)}")
    state = _state(episode)
    out = Decided()
    with _client(base_url, RETRIES) as client:
        out.linked, out.created = decide_registrations(
            episode, state, Against(client=client, where=base_url))
        wanted = sorted({e.patient_id for e in state.entries.in_force()})
        current = current_state.from_server(client, wanted)
    event = journal_check(episode.journal, state, current, episode.who, staff=staff, now=now)
    for item in event.data["entries"]:
        for conflict in item["conflicts"]:
            out.found += 1
            out.flagged.add(item["key"])
            out.codes[conflict["code"]] = out.codes.get(conflict["code"], 0) + 1
    for e in decide_by_policy(episode.journal, state, POLICIES[policy], DECIDER, episode.who,
                              reason=f"drill policy {policy}"):
        out.rejected += e.data["decision"] == "reject"
        out.accepted += e.data["decision"] == "accept"
    out.open = sum(len(state.decisions.open_conflicts(r.entry.key, r.entry.revision))
                   for r in state.entries.recorded_in_force())
    return out


def run_decide(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    episode, filer = episode_of(ctx)
    if not len(_state(episode).entries):
        return failed("no entries to decide on: a `back-entry` step first")
    policy = str(params.get("policy", "reject-errors"))
    done = decide(episode, policy, running(ctx).base_url,
                  staff_list(ctx.shared.get(PAPER_STAFF, {})), drill_now(ctx))
    _in_step(filer)
    errors = ctx.shared.get(PAPER_ERRORS, [])
    book = _state(episode).entries
    entered = {e.key for e in book.in_force()}
    # caught: refused at import (never entered) or flagged by a check
    caught = sum(1 for e in errors if e["key"] not in entered or e["key"] in done.flagged)
    codes = ", ".join(f"{n} {c}" for c, n in sorted(done.codes.items())) or "none"
    return StepResult(detail=f"registrations: {done.linked} linked, {done.created} created; "
                             f"conflicts ({codes}): {done.rejected} rejected, "
                             f"{done.accepted} accepted, {done.open} open, by policy {policy}",
                      figures={"conflicts_found": done.found,
                               "conflicts_rejected": done.rejected,
                               "conflicts_accepted": done.accepted,
                               "conflicts_open": done.open, "errors_caught": caught,
                               "errors_missed": len(errors) - caught,
                               "registrations_linked": done.linked,
                               "registrations_created": done.created})


# -- submit ----------------------------------------------------------------------------------

@dataclass
class Submitted:
    bundles: int = 0
    rejected: int = 0
    entries: int = 0
    held: int = 0
    digest: str = ""
    first_problem: str = ""
    audit_head: str = ""


def ready_entries(episode: Any) -> list[Any]:
    """What a submission would send now (reconcile/submit_plan.py)."""
    from reconcile.submit_plan import plan_submission

    return plan_submission(_state(episode), None).entries


def audit_of(ctx: DrillContext) -> Any:
    from snapshots.audit.log import AuditLog

    folder = ctx.workdir / "audit"
    folder.mkdir(exist_ok=True)
    return AuditLog(folder / "audit.jsonl")


def submit(ctx: DrillContext, base_url: str, retries: int = RETRIES) -> Submitted:
    """reconcile.submit to the sandbox; what became of it. SubmitStopped (a ToolkitError)
    when the server cannot be reached past the client's retries."""
    from reconcile.submit import ToServer
    from reconcile.submit import submit as send
    from snapshots.audit.log import head_path

    episode, filer = episode_of(ctx)
    audit = audit_of(ctx)
    try:
        with _client(base_url, retries) as client:
            result = send(episode, ToServer(client), audit,
                          read_patient=lambda pid: client.read("Patient", pid))
    finally:
        _in_step(filer)
    digest = hashlib.sha256()
    for o in result.outcomes:
        digest.update(bytes.fromhex(o.bundle_sha256))
    out = Submitted(bundles=len(result.outcomes), rejected=len(result.rejected),
                    entries=sum(o.lines for o in result.sent), held=len(result.held),
                    digest=digest.hexdigest())
    if result.rejected:
        first = result.rejected[0]
        out.first_problem = f"{first.patient}: {first.detail.splitlines()[0][:200]}"
    head = head_path(audit.path)
    if head.exists():
        out.audit_head = str(json.loads(head.read_text()).get("hash", ""))
    return out


def submit_figures(done: Submitted) -> dict[str, float]:
    share = round(done.rejected / done.bundles, 4) if done.bundles else 0.0
    return {"bundles_submitted": done.bundles - done.rejected,
            "bundles_rejected": done.rejected, "submit_reject_share": share,
            "entries_submitted": done.entries, "entries_held": done.held}


def run_submit(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    episode, _ = episode_of(ctx)
    sandbox = running(ctx)
    with timer() as took:
        done = submit(ctx, sandbox.base_url, whole(params, "retries", RETRIES))
    figures = {**submit_figures(done), "submit_seconds": took[0]}
    evidence = {"bundles_sha256": done.digest,
                "journal_sha256": hashlib.sha256(episode.journal.path.read_bytes()).hexdigest()}
    if done.audit_head:
        evidence["audit_head"] = done.audit_head
    detail = f"{done.bundles} Bundles ({done.entries} paper lines) posted, {done.rejected} " \
             f"refused, {done.held} entries held, in {took[0]:.1f} s"
    if done.rejected:
        detail += f"; first: {done.first_problem}"
    return StepResult(detail=detail, figures=figures, evidence=evidence)


register(ActionSpec(
    name="back-entry", run=run_back_entry,
    summary="the simulated paper imported as a transcription file (reconcile import): "
            "rows checked, the valid ones journaled, the invalid ones reported and kept",
    figures=("backentry_entries", "backentry_pages", "backentry_rows_invalid",
             "backentry_seconds")))

register(ActionSpec(
    name="decide", run=run_decide, optional=("policy",),
    summary="registrations decided, the conflict checks against the sandbox, and the "
            "conflicts decided by a stated policy (" + ", ".join(POLICIES) + ")",
    figures=("conflicts_found", "conflicts_rejected", "conflicts_accepted", "conflicts_open",
             "errors_caught", "errors_missed", "registrations_linked",
             "registrations_created")))

register(ActionSpec(
    name="submit", run=run_submit, optional=("retries", "fault"),
    summary="reconcile submit to the sandbox: each patient's transaction Bundle of what is "
            "ready, journaled and audited",
    figures=("bundles_submitted", "bundles_rejected", "submit_reject_share",
             "entries_submitted", "entries_held", "submit_seconds"),
    faults=("submit-5xx", "submit-429")))
