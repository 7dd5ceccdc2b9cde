"""The conflict checks and their decisions in the episode journal (the events of
reconcile/decisions.py):

- `journal_check`: one `conflicts-checked` event per check run: `against` (where the current
  state came from: `source` server, bulk or export, `where` its URL or path, `read_at`), and
  `entries`: [{key, revision, conflicts: [{code, reason, ...}]}], an empty list for a clear
  entry;
- `decide`: one `conflict-decided` event: key, revision, code, decision (`accept`, `edit` or
  `reject`), reason, person (who decided, named). An `edit` first records the corrected entry
  (`backentry.correct` + `record_entries`: the line's next revision, entered now by the
  person deciding, which the next check run checks again) and carries `revision_to` and
  the `edits` made. A decision on a conflict
  that is not open (never found, already decided, or of a revision no longer in force) is
  refused in one line.
- **Merged charts**: a `merged` conflict accepted carries `retarget_to`, the surviving
  Patient's id (from the conflict), in its decision data: the submitter sends the entry to
  that Patient instead of the merged one (`retarget_of` reads it back).
- `decide_by_policy`: the decisions of a stated policy, for drills (POLICIES): every open
  conflict, or those of some codes, accepted or rejected with the policy's reason and the
  person named.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from snapshots.errors import ToolkitError

from .backentry import ToRecord, correct, record_entries
from .conflicts import (
    ADMINISTRATION_DUPLICATE,
    CODES,
    ENTERED_TWICE,
    MERGED,
    ORDER_COMPLETED,
    ORDER_DUPLICATE,
    ConflictSettings,
    check_conflicts,
)
from .current_state import CurrentState
from .decisions import CONFLICT_DECIDED, CONFLICTS_CHECKED
from .entries import Entry, EntryError, Person, entry_from_json, entry_to_json
from .journal import Event, Journal
from .staff import StaffList
from .state import EpisodeState

Decision = Literal["accept", "edit", "reject"]
DUPLICATES = (ORDER_DUPLICATE, ORDER_COMPLETED, ADMINISTRATION_DUPLICATE, ENTERED_TWICE)
# policy -> {code or "*": decision}; a code the policy does not name is left open
POLICIES: dict[str, dict[str, Decision]] = {
    "accept-none": {"*": "reject"},
    "accept-all": {"*": "accept"},
    "reject-duplicates": dict.fromkeys(DUPLICATES, "reject"),
}


class DecisionError(ToolkitError):
    """A decision that cannot be taken (no such entry, the conflict not open, a bad edit)."""

    reason = "decision"


def journal_check(journal: Journal, state: EpisodeState, current: CurrentState, who: str,
                  settings: ConflictSettings | None = None, staff: StaffList | None = None,
                  now: datetime | None = None) -> Event:
    """Check every entry in force and journal the run as one `conflicts-checked` event (the
    state's decisions updated with it)."""
    checked = check_conflicts(state, current, settings, staff, now)
    against = {k: current.against[k] for k in ("source", "where", "read_at",
                                                "transaction_time") if k in current.against}
    [event] = journal.append_many([(CONFLICTS_CHECKED, {"against": against,
                                                        "entries": checked})], who)
    state.decisions.apply(event)
    return event


def open_conflict(state: EpisodeState, key: str, code: str) -> tuple[Entry, dict[str, Any]]:
    """The entry in force of a line and its open conflict of `code`, or DecisionError."""
    rec = state.entries.current(key)
    if rec is None:
        raise DecisionError(f"{key}: no such entry in this episode")
    revision = rec.entry.revision
    if code not in CODES:
        raise DecisionError(f"{key}: no conflict code {code!r} (one of {', '.join(CODES)})")
    found = state.decisions.checked.get((key, revision))
    if found is None:
        raise DecisionError(f"{key} (revision {revision}) is not checked yet: run "
                            "`downtime reconcile check` first")
    for conflict in found:
        if conflict["code"] == code:
            if (key, revision, code) in state.decisions.decided:
                d = state.decisions.decided[(key, revision, code)]
                raise DecisionError(f"{key}: the {code} conflict is not open (decided "
                                    f"{d['decision']} by {d['person']})")
            return rec.entry, conflict
    raise DecisionError(f"{key} (revision {revision}) has no open {code} conflict")


def decide(journal: Journal, state: EpisodeState, key: str, code: str, decision: Decision,
           reason: str, person: str, who: str, edits: Sequence[str] = (),
           now: datetime | None = None) -> list[Event]:
    """Journal one decision on an open conflict (an edit first records the corrected entry);
    returns the events written."""
    if decision not in ("accept", "edit", "reject"):
        raise DecisionError(f"{key}: decision {decision!r} is not accept, edit or reject")
    if not reason.strip():
        raise DecisionError(f"{key}: a decision needs its reason")
    if not person.strip():
        raise DecisionError(f"{key}: a decision needs the person who took it, by name")
    entry, conflict = open_conflict(state, key, code)
    if decision == "edit" and not edits:
        raise DecisionError(f"{key}: an edit needs FIELD=VALUE (what to correct)")
    if decision != "edit" and edits:
        raise DecisionError(f"{key}: FIELD=VALUE goes with an edit only")
    data: dict[str, Any] = {"key": key, "revision": entry.revision, "code": code,
                            "decision": decision, "reason": reason.strip(),
                            "person": person.strip()}
    events: list[Event] = []
    if decision == "edit":
        # the correction is typed now, by the person who decides (its enterer)
        corrected = correct(state.entries, edited(entry, edits, now or datetime.now(UTC),
                                                  Person(name=person.strip())))
        written, _ = record_entries(journal, state.entries,
                                    [ToRecord(corrected, "decision", page_id=state.page_of(
                                        entry.source.form_id, entry.source.page))], who)
        if not written:
            raise DecisionError(f"{key}: the edit changes nothing")
        events += written
        data["revision_to"] = corrected.revision
        data["edits"] = list(edits)
    if decision == "accept" and code == MERGED and conflict.get("retarget_to"):
        data["retarget_to"] = conflict["retarget_to"]
    events += journal.append_many([(CONFLICT_DECIDED, data)], who)
    state.decisions.apply(events[-1])
    return events


def edited(entry: Entry, edits: Iterable[str], now: datetime | None = None,
           enterer: Person | None = None) -> Entry:
    """The entry with FIELD=VALUE edits: a field of the entry (`route=IV`, `paper_time=
    2026-12-01T08:00+00:00`, `patient_id=pat-1`), a nested one with dots (`dose.value=2`),
    or a quantity at once (`dose=2 mg`). A value is read as JSON when it is JSON (numbers,
    true, null), else as text. The result is checked as any entry is (EntryError, one line)."""
    data = entry_to_json(entry)
    for item in edits:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise DecisionError(f"{entry.key}: {item!r} is not FIELD=VALUE")
        path = name.split(".")
        holder = data
        for part in path[:-1]:
            if not isinstance(holder.get(part), dict):
                raise DecisionError(f"{entry.key}: the entry has no field {name}")
            holder = holder[part]
        if path[-1] not in holder or path[-1] in _FIXED:
            editable = ", ".join(sorted(k for k in data if k not in _FIXED))
            raise DecisionError(f"{entry.key}: the entry has no field {name} to edit "
                                f"(fields: {editable})")
        holder[path[-1]] = _value(holder[path[-1]], text.strip())
    if now is not None:
        data["entered_at"] = now.isoformat()
    if enterer is not None:
        data["entered_by"] = {"name": enterer.name, "initials": enterer.initials,
                              "practitioner_id": enterer.practitioner_id}
    try:
        return entry_from_json(data, where=entry.key)
    except EntryError as e:
        raise DecisionError(str(e)) from None


_FIXED = ("kind", "version", "revision")


def _value(old: Any, text: str) -> Any:
    if isinstance(old, dict) and {"value", "unit"} <= set(old):  # `dose=2 mg`
        number, _, unit = text.partition(" ")
        try:
            return {**old, "value": float(number), "unit": unit.strip() or old["unit"]}
        except ValueError:
            raise DecisionError(f"{text!r} is not a quantity (2 mg)") from None
    if isinstance(old, dict) and "text" in old:  # `drug=Cefazolin 1 g IV`
        return {**old, "text": text, "rxnorm": None}
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return text if isinstance(old, str) and not isinstance(value, str) else value


def decide_by_policy(journal: Journal, state: EpisodeState, policy: str, person: str,
                     who: str, reason: str | None = None) -> list[Event]:
    """Decide every open conflict a policy names (POLICIES: `accept-none` rejects all,
    `accept-all` accepts all, `reject-duplicates` rejects the duplicate-order guard's and
    entered-twice conflicts and leaves the rest open), in one journal write. For drills;
    the reason says the policy. Returns the events written."""
    rules = POLICIES.get(policy)
    if rules is None:
        raise DecisionError(f"no decision policy {policy!r} (one of {', '.join(POLICIES)})")
    said = reason or f"by policy {policy}"
    items = []
    for rec in state.entries.recorded_in_force():
        key, revision = rec.entry.key, rec.entry.revision
        for conflict in state.decisions.open_conflicts(key, revision):
            decision = rules.get(conflict["code"]) or rules.get("*")
            if decision is None:
                continue
            data = {"key": key, "revision": revision, "code": conflict["code"],
                    "decision": decision, "reason": said, "person": person,
                    "policy": policy}
            if decision == "accept" and conflict["code"] == MERGED and \
                    conflict.get("retarget_to"):
                data["retarget_to"] = conflict["retarget_to"]
            items.append((CONFLICT_DECIDED, data))
    events = journal.append_many(items, who) if items else []
    for event in events:
        state.decisions.apply(event)
    return events


def retarget_of(state: EpisodeState, key: str, revision: int) -> str | None:
    """The surviving Patient an entry goes to when its merged-chart conflict was accepted."""
    decided = state.decisions.decided.get((key, revision, MERGED))
    return decided.get("retarget_to") if decided and decided["decision"] == "accept" else None


def open_by_patient(state: EpisodeState, unit: str | None = None
                    ) -> dict[str, list[dict[str, Any]]]:
    """The open conflicts of the entries in force, by patient: {patient id: [{key,
    revision, code, reason, ...}]}, the patients in the order their entries were typed;
    `unit` keeps the entries of that unit's forms."""
    out: dict[str, list[dict[str, Any]]] = {}
    for rec in state.entries.recorded_in_force():
        entry = rec.entry
        if unit is not None:
            form = state.forms.get(entry.source.form_id)
            if form is None or form.unit != unit:
                continue
        for conflict in state.decisions.open_conflicts(entry.key, entry.revision):
            out.setdefault(entry.patient_id, []).append(
                {"key": entry.key, "revision": entry.revision, **conflict})
    return out
