"""`back-entry`, `decide` and `submit`: the simulated paper put back into the EHR.

Each is a thin step over one function here, built on the shared ground of reconcile/ as it
stands on main; `reconcile import` (reconcile/importing.py), the conflict checks
(reconcile/conflicts.py) and submission (reconcile/submit.py) can take their place when
they land, the figures and shared keys staying as documented:

- `back_entry(filer, entries, who)` journals the entries of `simulate-paper`
  (ctx.shared["paper"]) into the episode with reconcile/backentry.py `record_entries`
  (via "import": they come typed from a file, not from the TUI), one write for all.
  Figures: `entries_entered`, `backentry_seconds`.
- `decide(filer, errors, policy, who)` writes, for every entry in force, one
  `conflicts-checked` event (reconcile/decisions.py) whose conflicts are the errors
  `simulate-paper` seeded on it (code = the error's kind), then a `conflict-decided` event
  for each conflict by the stated policy, and a `registration-decided` (create) for each
  downtime registration. Policies (`policy`): "reject-errors" (default; every seeded error
  rejected), "clinical" (wrong patient, duplicate order and allergy rejected; a time outside
  the window or unknown initials accepted, as a charge nurse who vouched for the paper
  would), "accept-all" (everything let through: the policy a drill uses to see its
  criteria trip). Figures: `conflicts_found`, `conflicts_rejected`, `conflicts_accepted`,
  `errors_caught` (seeded errors rejected), `errors_missed` (seeded errors let through).
- `submit(filer, base_url, retries)` builds reconcile/bundles.py `build_bundles` of the
  entries the decisions let through (with the scanned pages of their forms) and posts each
  patient's transaction Bundle to the sandbox with the toolkit's FHIR client (retrying
  429 and 5xx as it does). Figures: `bundles_submitted`, `bundles_rejected`,
  `submission_rejects_share`, `entries_submitted`, `submit_seconds`. Evidence:
  `bundles_sha256` (SHA-256 of the Bundles' bytes, in order, hashed together), and
  `journal_sha256` (of the episode journal as it stands after the submission).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconcile.entries import Entry, Registration

from ..api import ActionSpec, DrillContext, StepResult, register
from .paper import PAPER, PAPER_ERRORS
from .sandbox import running
from .scan import CLERK_WHO, episode_of
from .site import DrillActionError, failed, timer, whole, why

POLICIES = {
    "reject-errors": {},
    "clinical": {"outside-window": "accept", "unknown-initials": "accept"},
    "accept-all": {"*": "accept"},
}


def back_entry(filer: Any, entries: Sequence[Entry], who: str) -> tuple[int, int]:
    """Journal `entries` into the filer's episode (record_entries); (recorded, skipped)."""
    from reconcile.backentry import ToRecord, record_entries

    state = filer.refresh()
    events, skipped = record_entries(filer.episode.journal, state.entries,
                                     [ToRecord(e, "import") for e in entries], who)
    return len(events), len(skipped)


@dataclass
class Decided:
    found: int = 0
    rejected: int = 0
    accepted: int = 0
    registrations: int = 0


def decide(filer: Any, errors: Sequence[Mapping[str, str]], policy: str, who: str,
           against: str) -> Decided:
    """Checks and decisions for every entry in force, by `policy` over the seeded errors."""
    from reconcile.decisions import CONFLICT_DECIDED, CONFLICTS_CHECKED, REGISTRATION_DECIDED

    if policy not in POLICIES:
        raise DrillActionError(f"policy = {policy!r}: one of {', '.join(POLICIES)}")
    rules = POLICIES[policy]
    state = filer.refresh()
    by_key: dict[str, list[Mapping[str, str]]] = {}
    for error in errors:
        by_key.setdefault(error["key"], []).append(error)
    in_force = state.entries.in_force()
    checked = [{"key": e.key, "revision": e.revision, "conflicts": [
        {"code": x["kind"], "reason": f"seeded in the drill: {x['kind']}"}
        for x in by_key.get(e.key, [])]} for e in in_force]
    items: list[tuple[str, dict[str, Any]]] = [
        (CONFLICTS_CHECKED, {"against": {"source": against, "at": time.time()},
                             "entries": checked})]
    out = Decided()
    for item in checked:
        for conflict in item["conflicts"]:
            decision = rules.get("*") or rules.get(conflict["code"], "reject")
            out.found += 1
            out.rejected += decision == "reject"
            out.accepted += decision == "accept"
            items.append((CONFLICT_DECIDED, {
                "key": item["key"], "revision": item["revision"], "code": conflict["code"],
                "decision": decision, "reason": f"drill policy {policy}", "person": who}))
    for e in in_force:
        if isinstance(e, Registration):
            out.registrations += 1
            items.append((REGISTRATION_DECIDED, {
                "key": e.key, "downtime_mrn": e.downtime_mrn, "decision": "create",
                "patient_id": None, "grade": None, "person": who}))
    for event in filer.episode.journal.append_many(items, who):
        filer.state.apply(event)
    return out


@dataclass
class Submitted:
    bundles: int = 0
    rejected: int = 0
    entries: int = 0
    digest: str = ""
    first_problem: str = ""


def ready_entries(filer: Any) -> list[Entry]:
    state = filer.refresh()
    return [e for e in state.entries.in_force() if state.decisions.ready(e.key, e.revision)]


def scanned_pages(filer: Any, entries: Sequence[Entry]) -> list[Any]:
    """The filed pages of the forms the entries come from, as build_bundles takes them."""
    from datetime import datetime

    from reconcile.bundles import ScannedPage
    from reconcile.episode import PAGES
    from reconcile.rules import FILED

    wanted = {e.source.page_key for e in entries}
    by_key = {e.source.page_key: e for e in entries}
    out = []
    for page in filer.state.pages.values():
        payload = page.read.get("payload") or {}
        key = f"{payload.get('form_id')}/p{payload.get('page')}"
        if page.placement.status != FILED or key not in wanted:
            continue
        entry = by_key[key]
        out.append(ScannedPage(form_id=payload["form_id"], page=int(payload["page"]),
                               media_type=page.read["media_type"],
                               data=filer.episode.read_copy(PAGES, page.read["copy"]),
                               patient_id=entry.patient_id, encounter_id=entry.encounter_id,
                               scanned_at=datetime.fromisoformat(page.at), kind=payload["kind"]))
    return out


def submit(filer: Any, base_url: str, retries: int = 3) -> Submitted:
    """Each patient's transaction Bundle of the entries ready to go, posted to `base_url`."""
    from reconcile.bundles import build_bundles
    from snapshots.errors import ToolkitError
    from snapshots.fhir_client import ClientSettings, FhirClient

    entries = ready_entries(filer)
    built = build_bundles(entries, scanned_pages(filer, entries))
    out = Submitted(entries=len(entries))
    digest = hashlib.sha256()
    with FhirClient(ClientSettings(url=base_url, retries=retries, timeout_seconds=30)) as client:
        for bundle in built:
            digest.update(hashlib.sha256(bundle.to_bytes()).digest())
            out.bundles += 1
            try:
                client.transaction(bundle.bundle)
            except ToolkitError as e:
                out.rejected += 1
                out.first_problem = out.first_problem or f"{bundle.patient}: {why(e)}"
    out.digest = digest.hexdigest()
    return out


def run_back_entry(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    entries = ctx.shared.get(PAPER)
    if not entries:
        return failed("nothing to back-enter: a `simulate-paper` step first")
    _, filer = episode_of(ctx)
    with timer() as took:
        recorded, skipped = back_entry(filer, entries, CLERK_WHO)
    return StepResult(detail=f"{recorded} entries journaled ({skipped} already there) in "
                             f"{took[0]:.2f} s",
                      figures={"entries_entered": recorded, "backentry_seconds": took[0]})


def run_decide(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    _, filer = episode_of(ctx)
    if not len(filer.refresh().entries):
        return failed("no entries to decide on: a `back-entry` step first")
    policy = str(params.get("policy", "reject-errors"))
    errors = ctx.shared.get(PAPER_ERRORS, [])
    sandbox = ctx.shared.get("sandbox")
    done = decide(filer, errors, policy, CLERK_WHO, sandbox.base_url if sandbox else "drill")
    rejected_keys = {(k, c) for (k, _r, c), d in filer.state.decisions.decided.items()
                     if d["decision"] == "reject"}
    caught = sum(1 for e in errors if (e["key"], e["kind"]) in rejected_keys)
    return StepResult(detail=f"policy {policy}: {done.found} conflicts, {done.rejected} "
                             f"rejected, {done.accepted} accepted; {done.registrations} "
                             "registrations to create",
                      figures={"conflicts_found": done.found,
                               "conflicts_rejected": done.rejected,
                               "conflicts_accepted": done.accepted, "errors_caught": caught,
                               "errors_missed": len(errors) - caught})


def run_submit(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    _, filer = episode_of(ctx)
    sandbox = running(ctx)
    with timer() as took:
        done = submit(filer, sandbox.base_url, whole(params, "retries", 3))
    share = round(done.rejected / done.bundles, 4) if done.bundles else 0.0
    figures = {"bundles_submitted": done.bundles - done.rejected,
               "bundles_rejected": done.rejected, "submission_rejects_share": share,
               "entries_submitted": done.entries, "submit_seconds": took[0]}
    journal = filer.episode.journal.path
    evidence = {"bundles_sha256": done.digest,
                "journal_sha256": hashlib.sha256(journal.read_bytes()).hexdigest()}
    detail = f"{done.bundles} Bundles ({done.entries} entries) posted, {done.rejected} " \
             f"refused, in {took[0]:.1f} s"
    if done.rejected:
        detail += f"; first: {done.first_problem}"
    return StepResult(detail=detail, figures=figures, evidence=evidence)


register(ActionSpec(
    name="back-entry", run=run_back_entry,
    summary="the simulated paper journaled into the episode as back-entries",
    figures=("entries_entered", "backentry_seconds")))

register(ActionSpec(
    name="decide", run=run_decide, optional=("policy",),
    summary="conflict checks and decisions by a stated policy (reject-errors, clinical, "
            "accept-all) over the seeded errors",
    figures=("conflicts_found", "conflicts_rejected", "conflicts_accepted", "errors_caught",
             "errors_missed")))

register(ActionSpec(
    name="submit", run=run_submit, optional=("retries", "fault"),
    summary="each patient's transaction Bundle of the decided entries posted to the sandbox",
    figures=("bundles_submitted", "bundles_rejected", "submission_rejects_share",
             "entries_submitted", "submit_seconds"),
    faults=("submit-5xx", "submit-429")))
