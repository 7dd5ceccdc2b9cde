"""`downtime reconcile import FILE`: a site's transcription file (docs/back-entry-format.md)
into the episode journal.

Every row is read and checked (reconcile/import_format.py). Then, against what the episode's
entry book already holds (reconcile/backentry.py):
- a row the book holds as it stands, or this very row of this very file imported before
  (even if corrected since): already there, adds nothing;
- a row of a paper line already entered with other content: a correction when its
  `revision` is the line's next one, else a clash (the row is invalid, naming `revision`);
- a new line: recorded.
The rows to record go in one journal write (`record_entries`). Invalid rows are kept, with
their problems, in an encrypted copy in the episode (`rejected/<id>.age`) and an
`import-rejected` event (file, sha256, copy, rows: [{line, row, key, problems}]); the
`downtime reconcile rejected` command lists them. The file itself is read into memory and
never written anywhere (it is the site's plaintext).

With `pages_done_by` a person says the file holds whole pages: every page it gave entries
for is marked transcribed (`page-transcribed`, reconcile/decisions.py), except a page with
a rejected row (it is not done until that row is in) or a page already marked.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from snapshots.errors import ToolkitError, oserror_text

from .backentry import ToRecord, record_entries, same_content
from .decisions import PAGE_TRANSCRIBED
from .entries import Entry
from .episode import Episode
from .import_format import (
    COLUMNS,
    Context,
    Format,
    ImportFileError,
    Problem,
    Row,
    file_format,
    read_rows,
    row_entry,
)
from .journal import Event
from .staff import StaffList
from .state import EpisodeState, derive

IMPORT_REJECTED = "import-rejected"
REJECTED = "rejected"  # the episode's folder of encrypted rejected rows
Status = Literal["recorded", "correction", "already", "invalid"]


class RowsInvalid(ToolkitError):
    """Some rows of an import were invalid (each told above this line, and kept)."""

    reason = "import"


@dataclass
class RowOutcome:
    row: Row
    status: Status
    entry: Entry | None = None
    problems: list[Problem] = field(default_factory=list)
    note: str = ""

    @property
    def key(self) -> str | None:
        if self.entry is not None:
            return self.entry.key
        r = self.row
        return f"{r.text('form_id').upper()}/p{r.text('page')}/l{r.text('line')}" \
            if r.text("form_id") and r.text("page") and r.text("line") else None

    def line(self) -> str:
        """`line 7: dose: not a number` (and how many problems more)."""
        first = self.problems[0]
        more = f" (and {', '.join(p.field for p in self.problems[1:])})" \
            if len(self.problems) > 1 else ""
        return f"line {self.row.line}: {first.field}: {first.reason}{more}"


@dataclass
class ImportReport:
    file_name: str
    sha256: str
    outcomes: list[RowOutcome]
    events: list[Event] = field(default_factory=list)
    rejected_copy: str | None = None
    pages_done: list[tuple[str, int]] = field(default_factory=list)
    pages_not_done: list[tuple[str, int, str]] = field(default_factory=list)
    imported_before: bool = False

    def count(self, status: Status) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def invalid(self) -> list[RowOutcome]:
        return [o for o in self.outcomes if o.status == "invalid"]

    def summary(self) -> str:
        text = (f"{self.file_name}: {len(self.outcomes)} rows: {self.count('recorded')} "
                f"recorded, {self.count('correction')} corrections, {self.count('already')} "
                f"already in the episode, {self.count('invalid')} invalid")
        if self.rejected_copy:
            text += f" (kept encrypted as rejected set {self.rejected_copy})"
        return text


def import_file(episode: Episode, path: Path, staff: StaffList, *,
                entered_by: str | None = None, fmt: str | None = None,
                pages_done_by: str | None = None, now: datetime | None = None
                ) -> ImportReport:
    """Import `path` into the episode (see the module's text)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ImportFileError(oserror_text(e, "cannot read the import file", path)) from None
    return import_data(episode, data, path.name, staff, entered_by=entered_by,
                       fmt=file_format(path.name, fmt), pages_done_by=pages_done_by, now=now)


def import_data(episode: Episode, data: bytes, name: str, staff: StaffList, *,
                entered_by: str | None, fmt: Format, pages_done_by: str | None = None,
                now: datetime | None = None) -> ImportReport:
    sha = hashlib.sha256(data).hexdigest()
    rows = read_rows(data, name, fmt)
    events = episode.journal.read()
    state = derive(events)
    ctx = Context(staff, state.forms, entered_by, now or datetime.now(UTC).replace(
        microsecond=0))
    report = ImportReport(name, sha, [_outcome(row, ctx) for row in rows])
    report.imported_before = any(k[0] == sha for k in state.entries.origins)
    _against_the_book(report, state)
    to_record = [o for o in report.outcomes if o.status in ("recorded", "correction")]
    items = [ToRecord(o.entry, "import", origin={"file_sha256": sha, "row": o.row.number},
                      page_id=state.page_of(o.entry.source.form_id, o.entry.source.page))
             for o in to_record if o.entry is not None]
    report.events, skipped = record_entries(episode.journal, state.entries, items, episode.who)
    for o, item in zip(to_record, items, strict=True):
        if item in skipped:  # the book's rule, applied row by row above, says none is
            o.status, o.note = "already", "the episode holds this entry as it stands"
    later: list[tuple[str, dict[str, Any]]] = []
    if report.invalid:
        report.rejected_copy = _kept_before(events, report)
        if report.rejected_copy is None:  # the same rows rejected again are kept once
            report.rejected_copy = episode.store_copy(REJECTED, _rejected_copy(report, fmt))
            later.append((IMPORT_REJECTED, _rejected_event(report, fmt)))
    if pages_done_by:
        later += _pages_done(report, state, pages_done_by)
    report.events += episode.journal.append_many(later, episode.who) if later else []
    return report


def _outcome(row: Row, ctx: Context) -> RowOutcome:
    made = row_entry(row, ctx)
    if isinstance(made, list):
        return RowOutcome(row, "invalid", problems=made)
    return RowOutcome(row, "recorded", entry=made)


def _against_the_book(report: ImportReport, state: EpisodeState) -> None:
    """Each valid row: already there, a correction, a clash or new (as record_entries
    would judge it, row by row, so that one clash does not stop the others)."""
    book = state.entries
    pending: dict[str, Entry] = {}
    for o in report.outcomes:
        if o.entry is None:
            continue
        entry, key = o.entry, o.entry.key
        rec = book.current(key)
        standing = pending.get(key) or (rec.entry if rec else None)
        if book.origins.get((report.sha256, o.row.number)) == key and key not in pending:
            o.status, o.note = "already", "imported from this file before"
            if rec and not same_content(rec.entry, entry):
                o.note += f" (corrected since: revision {rec.entry.revision} in force)"
            continue
        if standing is not None and same_content(standing, entry):
            o.status, o.note = "already", "the episode holds this entry as it stands"
            continue
        expected = 0 if standing is None else standing.revision + 1
        if entry.revision == expected:
            o.status = "recorded" if standing is None else "correction"
            pending[key] = entry
            continue
        o.status, o.entry = "invalid", None
        if standing is None:
            why = f"{key} was never entered: its first entry is revision 0"
        else:
            held = "an earlier row of this file" if key in pending else \
                f"the episode (via {rec.via}, revision {standing.revision})" if rec else "?"
            why = (f"{key} is already entered with other content, by {held}: a clash; if "
                   f"this row corrects it, give revision {expected}")
        o.problems = [Problem("revision", why)]


def _kept_before(events: Sequence[Event], report: ImportReport) -> str | None:
    """The rejected set of an earlier import of this file that kept these very rows."""
    rows = _rejected_event(report, "")["rows"]
    return next((e.data["copy"] for e in reversed(events) if e.type == IMPORT_REJECTED
                 and e.data["file_sha256"] == report.sha256 and e.data["rows"] == rows), None)


def _rejected_copy(report: ImportReport, fmt: str) -> bytes:
    """What the encrypted copy holds: the rejected rows as they were, with their problems."""
    return json.dumps({"file_name": report.file_name, "file_sha256": report.sha256,
                       "format": fmt, "rows": [
                           {"line": o.row.line, "row": o.row.number, "values": o.row.values,
                            "problems": [p.__dict__ for p in o.problems]}
                           for o in report.invalid]}).encode()


def _rejected_event(report: ImportReport, fmt: str) -> dict[str, Any]:
    return {"file_name": report.file_name, "file_sha256": report.sha256, "format": fmt,
            "copy": report.rejected_copy, "rows": [
                {"line": o.row.line, "row": o.row.number, "key": o.key,
                 "problems": [p.__dict__ for p in o.problems]} for o in report.invalid]}


def _pages_done(report: ImportReport, state: EpisodeState, person: str
                ) -> list[tuple[str, dict[str, Any]]]:
    pages: dict[tuple[str, int], None] = {}
    for o in report.outcomes:
        if o.entry is not None and o.status != "invalid":
            pages.setdefault((o.entry.source.form_id, o.entry.source.page))
    blocked = {}
    for o in report.invalid:
        r = o.row
        if r.text("page").isdigit():
            blocked.setdefault((r.text("form_id").upper(), int(r.text("page"))), r.line)
    out = []
    in_force = state.entries.in_force()
    for form_id, page in pages:
        if (form_id, page) in blocked:
            report.pages_not_done.append((form_id, page, f"line {blocked[(form_id, page)]} "
                                                         "of it was rejected"))
            continue
        if (form_id, page) in state.decisions.transcribed:
            report.pages_not_done.append((form_id, page, "marked transcribed already"))
            continue
        lines = sum(e.source.form_id == form_id and e.source.page == page for e in in_force)
        out.append((PAGE_TRANSCRIBED, {"form_id": form_id, "page": page, "lines": lines,
                                       "person": person}))
        report.pages_done.append((form_id, page))
    return out


# --- the rejected rows, kept for correction -------------------------------------------------


@dataclass(frozen=True)
class RejectedSet:
    copy: str  # its id: the encrypted copy's name
    at: str
    by: str
    file_name: str
    rows: list[dict[str, Any]]  # line, row, key, problems
    open_rows: int  # those whose paper line has no entry yet


def rejected_sets(events: Sequence[Event], state: EpisodeState) -> list[RejectedSet]:
    """Every import's rejected rows, oldest first; a row counts as open until its paper
    line has an entry (a corrected row imported since)."""
    out = []
    for e in events:
        if e.type != IMPORT_REJECTED:
            continue
        rows = e.data["rows"]
        open_rows = sum(1 for r in rows if not r.get("key") or
                        state.entries.current(r["key"]) is None)
        out.append(RejectedSet(e.data["copy"], e.at, e.by, e.data["file_name"], rows,
                               open_rows))
    return out


def rejected_rows(episode: Episode, copy: str) -> dict[str, Any]:
    """The rejected rows of one set as kept (decrypted in memory)."""
    known = {e.data["copy"] for e in episode.journal.read() if e.type == IMPORT_REJECTED}
    matches = [c for c in known if c.startswith(copy)] if copy else []
    if len(matches) != 1:
        raise ImportFileError(f"no rejected set {copy!r:.20} in episode {episode.id}"
                              + (" (several start so: give more of it)" if matches else
                                 " (`downtime reconcile rejected` lists them)"))
    return json.loads(episode.read_copy(REJECTED, matches[0]))


def rejected_csv(kept: dict[str, Any]) -> str:
    """The rejected rows as a CSV of the import format (columns in the format's order), for
    the clerk to correct and import again."""
    used = {c for r in kept["rows"] for c in r["values"]}
    columns = [c for c in COLUMNS if c in used]
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    for r in kept["rows"]:
        writer.writerow({c: r["values"].get(c, "") for c in columns})
    return out.getvalue()
