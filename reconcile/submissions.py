"""What became of each Bundle sent (reconcile/submit.py): the outcome of every entry, derived
from journal events like the rest of the episode state (reconcile/state.py).

Events (the `data` of each):
- `bundle-submitted`: bundle_sha256 (of the Bundle's bytes as sent), patient (`Patient/<id>` or
  `downtime MRN <mrn>`), to (the server's base URL), entries: [{key, revision, type, status,
  location}] (one per Bundle entry made from a paper line: its resource type, the server's
  status, `201 Created` or `200 OK`, and where the resource is), pages: [page keys
  `DT-.../p2` whose scanned image went in it].
- `bundle-written`: the same for a Bundle written to an outbox folder for the site's own
  sender (`to` the folder, `file` its name, `encrypted` whether it is age-encrypted); the
  entries' status is `written`.
- `bundle-rejected`: bundle_sha256, patient, to, status (the HTTP status, e.g. 422), outcome
  (the OperationOutcome in words), entries: [{key, revision}], pages. The entries wait for a
  person (a correction, which is a new revision, goes again; so does `submit
  --retry-rejected`).

An entry (paper line key and revision) is sent once a `bundle-submitted` or `bundle-written`
event holds it; a later rejection of another Bundle does not take that back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .journal import Event

BUNDLE_SUBMITTED = "bundle-submitted"
BUNDLE_WRITTEN = "bundle-written"
BUNDLE_REJECTED = "bundle-rejected"
SUBMISSION_EVENTS = (BUNDLE_SUBMITTED, BUNDLE_WRITTEN, BUNDLE_REJECTED)


@dataclass
class Submissions:
    """By entry (key, revision): where it went; by page key: the Bundle its image went in."""

    sent: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    rejected: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    pages: dict[str, dict[str, Any]] = field(default_factory=dict)
    bundles: list[dict[str, Any]] = field(default_factory=list)  # every event, oldest first

    def apply(self, event: Event) -> None:
        d = dict(event.data, at=event.at, by=event.by, type=event.type)
        self.bundles.append(d)
        summary = {k: d.get(k) for k in ("bundle_sha256", "patient", "to", "at", "by", "type",
                                         "status", "outcome")}
        for item in d.get("entries", ()):
            key = (item["key"], int(item["revision"]))
            if event.type == BUNDLE_REJECTED:
                if key not in self.sent:
                    self.rejected[key] = summary
            else:
                self.sent[key] = dict(summary, status=item.get("status"),
                                      location=item.get("location"))
                self.rejected.pop(key, None)
        if event.type != BUNDLE_REJECTED:
            for page in d.get("pages", ()):
                self.pages[page] = summary

    def is_sent(self, key: str, revision: int) -> bool:
        return (key, revision) in self.sent

    def is_rejected(self, key: str, revision: int) -> bool:
        return (key, revision) in self.rejected

    def submitted(self, key: str, revision: int) -> bool:
        """Sent to a server (not only written to an outbox)."""
        sent = self.sent.get((key, revision))
        return sent is not None and sent["type"] == BUNDLE_SUBMITTED
