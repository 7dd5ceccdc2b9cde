"""Where each back-entry stands between typing and submission: checked against the EHR's current
state, its conflicts decided by a person, its registration linked or created, its page done.
Derived from journal events, like the rest of the episode state (reconcile/state.py).

Events (the `data` of each):
- `conflicts-checked`: `against` (what the current state was: a server's URL or an export's
  path, and its time), `entries`: [{key, revision, conflicts: [{code, reason, ...}]}], one
  item per entry checked, an empty list when it has none. A later check of the same entry
  and revision replaces the earlier (the EHR moved on).
- `conflict-decided`: key, revision, code, decision (`accept`, `edit` or `reject`), reason,
  person (who decided, named); `edit` also `revision_to` (the corrected revision, recorded
  as its own `entry-recorded` event, which is checked again).
- `registration-decided`: key (the registration entry's), downtime_mrn, decision (`link` or
  `create`), patient_id (the EHR Patient linked to, for `link`), grade (the match's), person.
- `page-transcribed`: form_id, page, lines (how many entries it gave), person: the page is
  typed to its end (a page can be done with no entries: a MAR page with nothing given).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from .journal import Event

CONFLICTS_CHECKED = "conflicts-checked"
CONFLICT_DECIDED = "conflict-decided"
REGISTRATION_DECIDED = "registration-decided"
PAGE_TRANSCRIBED = "page-transcribed"

Standing = Literal["unchecked", "in-conflict", "clear", "decided", "rejected"]


@dataclass
class Decisions:
    """What the decision events say, by entry (paper line key and revision)."""

    checked: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    checked_against: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    decided: dict[tuple[str, int, str], dict[str, Any]] = field(default_factory=dict)
    registrations: dict[str, dict[str, Any]] = field(default_factory=dict)  # by downtime MRN
    transcribed: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)

    def apply(self, event: Event) -> None:
        d = event.data
        if event.type == CONFLICTS_CHECKED:
            for item in d["entries"]:
                key = (item["key"], int(item["revision"]))
                self.checked[key] = list(item["conflicts"])
                self.checked_against[key] = dict(d.get("against") or {}, at=event.at)
        elif event.type == CONFLICT_DECIDED:
            self.decided[(d["key"], int(d["revision"]), d["code"])] = dict(
                d, at=event.at, by=event.by)
        elif event.type == REGISTRATION_DECIDED:
            self.registrations[d["downtime_mrn"]] = dict(d, at=event.at, by=event.by)
        elif event.type == PAGE_TRANSCRIBED:
            self.transcribed[(d["form_id"], int(d["page"]))] = dict(d, at=event.at, by=event.by)

    def standing(self, key: str, revision: int) -> Standing:
        """Where one entry (the revision in force of its line) stands."""
        conflicts = self.checked.get((key, revision))
        if conflicts is None:
            return "unchecked"
        if not conflicts:
            return "clear"
        decisions = [self.decided.get((key, revision, c["code"])) for c in conflicts]
        if any(d is None for d in decisions):
            return "in-conflict"
        if any(d["decision"] == "reject" for d in decisions if d):
            return "rejected"
        return "decided"

    def open_conflicts(self, key: str, revision: int) -> list[dict[str, Any]]:
        """The conflicts of an entry that still wait for a decision."""
        return [c for c in self.checked.get((key, revision), [])
                if (key, revision, c["code"]) not in self.decided]

    def ready(self, key: str, revision: int) -> bool:
        """Whether the entry may be submitted: checked, and clear or every conflict accepted."""
        return self.standing(key, revision) in ("clear", "decided")


def decisions_of(events: Iterable[Event]) -> Decisions:
    out = Decisions()
    for event in events:
        out.apply(event)
    return out


DECISION_EVENTS = (CONFLICTS_CHECKED, CONFLICT_DECIDED, REGISTRATION_DECIDED, PAGE_TRANSCRIBED)
