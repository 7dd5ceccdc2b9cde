"""Back-entries in the episode journal: what a clerk typed (or a file imported) from the paper,
as `entry-recorded` events, and what stands of them (`EntryBook`, part of the episode state).

One `entry-recorded` event per entry, its data:
- `entry`: the entry (`reconcile.entries.entry_to_json`): who wrote it on paper, who typed it,
  the paper's time, the entry time, the form id, page and line it came from, its revision;
- `via`: how it came in: `tui` (typed at `downtime reconcile enter`) or `import`;
- `origin`: for an import, `{"file_sha256", "row"}` (the file's row, 1-based); else absent;
- `page_id`: the scanned page of that form and page when the episode has it, else null.

A correction is a new entry of the same paper line with `revision` one higher (`correct`);
the journal keeps every revision, the book says which is in force (the highest). Recording
an entry the book already holds as it stands (the same content; who typed it and when aside)
adds nothing: that is what makes typing a page twice or re-importing a file add nothing twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .entries import Entry, EntryError, entry_from_json, entry_to_json
from .episode import refuse_if_closed
from .journal import Event, Journal

ENTRY_RECORDED = "entry-recorded"
Via = Literal["tui", "import", "decision"]  # a correction of a conflict decided `edit`
# what makes two entries "the same" for `record_entries`: all but who typed it and when
_NOT_CONTENT = ("entered_by", "entered_at", "revision")


@dataclass(frozen=True)
class Recorded:
    """One entry as the journal holds it."""

    entry: Entry
    via: str
    origin: dict[str, Any] | None
    page_id: str | None
    at: str  # the event's time (when the journal took it)
    by: str  # the station user whose session wrote it
    seq: int


@dataclass
class EntryBook:
    """Every recorded entry, by paper line, revisions oldest first."""

    lines: dict[str, list[Recorded]] = field(default_factory=dict)
    origins: dict[tuple[str, int], str] = field(default_factory=dict)  # (sha, row) -> key
    # the episode-closed event's data once the episode is closed (reconcile/close.py):
    # record_entries then refuses, and (episode id) says which episode
    closed: dict[str, Any] | None = None
    episode_id: str = ""

    def apply(self, event: Event) -> None:
        data = event.data
        entry = entry_from_json(data["entry"], where=f"journal event {event.seq}")
        rec = Recorded(entry, data.get("via", ""), data.get("origin"), data.get("page_id"),
                       event.at, event.by, event.seq)
        self.lines.setdefault(entry.key, []).append(rec)
        origin = data.get("origin")
        if origin:
            self.origins[(origin["file_sha256"], int(origin["row"]))] = entry.key

    def current(self, key: str) -> Recorded | None:
        """The revision in force of a paper line (the highest), or None."""
        revisions = self.lines.get(key)
        return max(revisions, key=lambda r: (r.entry.revision, r.seq)) if revisions else None

    def in_force(self) -> list[Entry]:
        """The entry in force of every paper line, in the order the lines were first typed."""
        return [rec.entry for key in self.lines if (rec := self.current(key)) is not None]

    def recorded_in_force(self) -> list[Recorded]:
        return [rec for key in self.lines if (rec := self.current(key)) is not None]

    def next_revision(self, key: str) -> int:
        current = self.current(key)
        return 0 if current is None else current.entry.revision + 1

    def holds(self, entry: Entry) -> bool:
        """Whether the line's entry in force says what `entry` says."""
        current = self.current(entry.key)
        return current is not None and same_content(current.entry, entry)

    def __len__(self) -> int:
        return len(self.lines)


def same_content(a: Entry, b: Entry) -> bool:
    if type(a) is not type(b):
        return False
    return _content(a) == _content(b)


def _content(entry: Entry) -> dict[str, Any]:
    data = entry_to_json(entry)
    for name in _NOT_CONTENT:
        data.pop(name, None)
    return data


@dataclass(frozen=True)
class ToRecord:
    """An entry to record, with how it came in."""

    entry: Entry
    via: Via
    origin: dict[str, Any] | None = None
    page_id: str | None = None


def record_entries(journal: Journal, book: EntryBook, items: Sequence[ToRecord],
                   who: str) -> tuple[list[Event], list[ToRecord]]:
    """Journal the entries the book does not already hold as they stand (one write, one
    fsync for all); returns the events written and the items skipped as already there.

    An item whose line is already recorded with other content must be a correction: its
    revision must be the next one (`correct`), else EntryError, since two different entries
    of one paper line at the same revision are a clash, not an update."""
    refuse_if_closed(book.closed, book.episode_id, "entries")
    fresh: list[ToRecord] = []
    pending: dict[str, Entry] = {}
    skipped: list[ToRecord] = []
    for item in items:
        entry = item.entry
        standing = pending.get(entry.key) or (
            rec.entry if (rec := book.current(entry.key)) is not None else None)
        if standing is not None and same_content(standing, entry):
            skipped.append(item)
            continue
        expected = 0 if standing is None else standing.revision + 1
        if entry.revision != expected:
            raise EntryError(f"{entry.key}: already entered with other content; a "
                             f"correction is revision {expected}, not {entry.revision}")
        pending[entry.key] = entry
        fresh.append(item)
    events = journal.append_many([(ENTRY_RECORDED, _event_data(i)) for i in fresh], who)
    for event in events:
        book.apply(event)
    return events, skipped


def correct(book: EntryBook, entry: Entry) -> Entry:
    """`entry` as the next revision of its paper line (what a correction records)."""
    return dataclasses.replace(entry, revision=book.next_revision(entry.key))


def _event_data(item: ToRecord) -> dict[str, Any]:
    data: dict[str, Any] = {"entry": entry_to_json(item.entry), "via": item.via,
                            "page_id": item.page_id}
    if item.origin is not None:
        data["origin"] = item.origin
    return data


def book_of(events: Iterable[Event]) -> EntryBook:
    book = EntryBook()
    for event in events:
        if event.type == ENTRY_RECORDED:
            book.apply(event)
    return book
