"""The back-entry side of the chain of custody (reconcile/custody.py adds it to each unit and
patient): pages transcribed; entries in force, and where each stands: not checked yet, in
conflict, decided, clear, submitted to the EHR, written to an outbox, rejected by the server;
who entered what (who wrote it on paper, who typed it, when); every conflict with its
decision (who decided, why).

An entry has one stage, the furthest it got: `submitted` or `outbox` once sent; `rejected`
when the server refused its Bundle (left for a person); else `in-conflict` (a conflict waits
for a decision), `decided` (every conflict decided; `declined` when a person rejected it),
`clear` (checked, no conflict) or `unchecked`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .backentry import Recorded
from .entries import Entry
from .state import EpisodeState
from .submissions import BUNDLE_WRITTEN

STAGES = ("unchecked", "in-conflict", "decided", "declined", "clear", "submitted", "outbox",
          "rejected")


def stage(state: EpisodeState, key: str, revision: int) -> str:
    sent = state.submissions.sent.get((key, revision))
    if sent is not None:
        return "outbox" if sent["type"] == BUNDLE_WRITTEN else "submitted"
    if state.submissions.is_rejected(key, revision):
        return "rejected"
    standing = state.decisions.standing(key, revision)
    return "declined" if standing == "rejected" else standing


def entry_block() -> dict[str, Any]:
    return {"pages_transcribed": 0, "entries": 0, **{s: 0 for s in STAGES}}


def entry_row(state: EpisodeState, rec: Recorded) -> dict[str, Any]:
    """Who entered what: one entry in force."""
    e = rec.entry
    row = {"key": e.key, "revision": e.revision, "kind": e.kind, "patient_id": e.patient_id,
           "written_by": e.written_by.name, "entered_by": e.entered_by.name,
           "paper_time": e.paper_time.isoformat(), "entered_at": e.entered_at.isoformat(),
           "typed_by": rec.by, "via": rec.via, "stage": stage(state, e.key, e.revision)}
    rejected = state.submissions.rejected.get((e.key, e.revision))
    if rejected is not None and row["stage"] == "rejected":
        row["rejected"] = {"status": rejected["status"], "outcome": rejected["outcome"],
                           "to": rejected["to"], "at": rejected["at"]}
    return row


def conflict_rows(state: EpisodeState, keys: set[str] | None = None) -> list[dict[str, Any]]:
    """Every conflict found on an entry in force, with its decision (None while open); and
    the decided conflicts of the earlier revisions of its line (an `edit` made the revision
    in force: the auditor reads why, and the earlier revision's other decisions)."""
    d = state.decisions
    revisions: dict[str, list[int]] = {}
    for key, revision in d.checked:
        revisions.setdefault(key, []).append(revision)
    out = []
    for rec in state.entries.recorded_in_force():
        e = rec.entry
        if keys is not None and e.key not in keys:
            continue
        for revision in sorted(r for r in revisions.get(e.key, []) if r <= e.revision):
            for c in d.checked[(e.key, revision)]:
                decided = d.decided.get((e.key, revision, c["code"]))
                if decided is None and revision < e.revision:
                    continue  # superseded before anyone decided: nothing to read
                out.append(_conflict_row(e, revision, c, decided))
    return out


def _conflict_row(e: Entry, revision: int, c: dict[str, Any],
                  decided: dict[str, Any] | None) -> dict[str, Any]:
    return {"key": e.key, "revision": revision, "patient_id": e.patient_id,
            "code": c["code"], "reason": c.get("reason", ""),
            "decision": None if decided is None else {
                "decision": decided["decision"], "reason": decided.get("reason"),
                "person": decided.get("person"), "at": decided["at"],
                "retarget_to": decided.get("retarget_to"),
                "edits": decided.get("edits"), "revision_to": decided.get("revision_to")}}


Blocks = Callable[[str, str], tuple[dict[str, Any], dict[str, Any]]]


def add_entry_figures(state: EpisodeState, blocks: Blocks, unit_of: dict[str, str],
                      no_unit: str, wanted: Callable[[str, str], bool]) -> dict[str, Any]:
    """Add `back_entry` figures to each unit and patient block (`blocks(unit, patient_id)`:
    the custody's blocks, made when missing) and `entered` rows to each patient; the
    totals. `unit_of`: form id -> unit; `wanted(unit, patient_id)` filters as the custody
    does."""
    totals = entry_block()
    for (form_id, _page), _done in state.decisions.transcribed.items():
        form = state.forms.get(form_id)
        u, pid = unit_of.get(form_id, no_unit), form.patient_id if form else ""
        if not wanted(u, pid):
            continue
        for block in (totals, *_figures(blocks, u, pid)):
            block["pages_transcribed"] += 1
    for rec in state.entries.recorded_in_force():
        e = rec.entry
        form = state.forms.get(e.source.form_id)
        u = unit_of.get(e.source.form_id, no_unit)
        pid = form.patient_id if form else e.patient_id
        if not wanted(u, pid):
            continue
        row = entry_row(state, rec)
        unit_block, patient_block = _figures(blocks, u, pid)
        blocks(u, pid)[1].setdefault("entered", []).append(row)
        for block in (totals, unit_block, patient_block):
            block["entries"] += 1
            block[row["stage"]] += 1
    return totals


def _figures(blocks: Blocks, unit: str, patient_id: str) -> tuple[dict, dict]:
    u, pt = blocks(unit, patient_id)
    for block in (u, pt):
        block.setdefault("back_entry", entry_block())
    return u["back_entry"], pt["back_entry"]
