"""The episode as it stands, derived from its journal's events, oldest first: nothing here
is stored, so a correction (a page indexed by hand, a registry collected late) is a new event
and every figure follows from all of them.

Events (the `data` of each; docs/reconcile.md lists them):
- `episode-opened`: episode, start, end, units
- `registry-collected`: workstation, source, records (the FormRecord events not already in
  the episode), seen (how many the copy had)
- `audit-collected`: workstation, source, ok, guarantee, entries, head_seq, head_hash, summary
- `page-read`: page, copy, source, file_sha256, index, count, media_type, size, qr_text,
  payload (form_id, kind, patient_id, encounter_id, page, pages) or null, rotation
- `page-indexed`: page, form_id or patient_id (and encounter_id), page_no
- `file-set-aside`: source, file_sha256, size, reason, copy (encrypted in the episode) or
  moved_to (a file too big to take in, moved beside the inbox)
- `page-lost`: form_id, page (null: every page of the form), reason, person (who says it is
  lost, named; the event's `by` is the station user who typed it)
- `lost-withdrawn`: form_id, page, reason, person: a lost mark taken back (typed on the wrong
  form, or the page turned up); the page is waited for again
- `entry-recorded`: a back-entry (reconcile/backentry.py says what it holds)
- `conflicts-checked`, `conflict-decided`, `registration-decided`, `page-transcribed`: where
  the entries stand (reconcile/decisions.py)
- `bundle-submitted`, `bundle-written`, `bundle-rejected`: what became of the Bundles sent
  (reconcile/submissions.py)
- `episode-closed`: reason, person, pages (how many issued pages were accounted for): every
  issued page back and transcribed, or lost; nothing more is taken in (reconcile/close.py)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .backentry import ENTRY_RECORDED, EntryBook
from .decisions import DECISION_EVENTS, Decisions
from .episode import Window, parse_time
from .journal import Event
from .rules import (
    DUPLICATE,
    INDEXED,
    TWICE,
    Flag,
    FormInfo,
    Placement,
    on_form,
    place,
)
from .submissions import SUBMISSION_EVENTS, Submissions


@dataclass
class PageState:
    page_id: str
    read: dict[str, Any]  # the page-read event's data
    at: str
    by: str
    placement: Placement = field(default_factory=lambda: Placement("queued"))
    duplicate_of: str | None = None

    @property
    def source(self) -> str:
        return self.read["source"]

    def where(self) -> str:
        """`scan-0003.pdf page 2 of 5`: where the page came in."""
        r = self.read
        return f"{r['source']} page {r['index']} of {r['count']}" if r["count"] > 1 \
            else r["source"]


@dataclass
class EpisodeState:
    episode_id: str = ""
    window: Window | None = None
    units: tuple[str, ...] = ()
    opened_at: str = ""
    opened_by: str = ""
    last_at: str = ""  # the newest event's time
    forms: dict[str, FormInfo] = field(default_factory=dict)
    registry_keys: set[tuple[str, str]] = field(default_factory=set)
    workstations: dict[str, dict[str, Any]] = field(default_factory=dict)
    audits: list[dict[str, Any]] = field(default_factory=list)
    pages: dict[str, PageState] = field(default_factory=dict)
    indexed: dict[str, dict[str, Any]] = field(default_factory=dict)
    set_aside: list[dict[str, Any]] = field(default_factory=list)
    # (form id, page or None for the whole form) -> the standing lost mark (its event's data,
    # at and by); `lost_log` every mark and withdrawal, oldest first
    lost: dict[tuple[str, int | None], dict[str, Any]] = field(default_factory=dict)
    lost_log: list[dict[str, Any]] = field(default_factory=list)
    entries: EntryBook = field(default_factory=EntryBook)
    decisions: Decisions = field(default_factory=Decisions)
    submissions: Submissions = field(default_factory=Submissions)
    closed: dict[str, Any] | None = None  # the episode-closed event's data, at and by
    _placed: int = 0  # pages placed so far, in journal order
    _by_file: dict[tuple[str, int], str] = field(default_factory=dict)
    _by_form_page: dict[tuple[str, int], str] = field(default_factory=dict)

    def apply(self, event: Event) -> None:
        handler = _HANDLERS.get(event.type)
        if handler is not None:  # an event of a later version: kept in the journal, unread
            handler(self, event)
        self.last_at = event.at

    def placed(self) -> dict[str, PageState]:
        """Every page with its placement (placing those not yet placed)."""
        order = list(self.pages.values())
        for page in order[self._placed:]:
            self._place(page)
        self._placed = len(order)
        return self.pages

    def page_of(self, form_id: str, page: int) -> str | None:
        """The id of the scanned page filed as `page` of `form_id`, if one is."""
        self.placed()
        return self._by_form_page.get((form_id, page))

    def replace_all(self) -> None:
        """A registry or a hand index changes where earlier pages belong: place them again."""
        self._placed = 0
        self._by_file.clear()
        self._by_form_page.clear()

    def _place(self, page: PageState) -> None:
        read = page.read
        manual = self.indexed.get(page.page_id)
        if manual is not None:
            page.placement = self._by_hand(manual)
        else:
            page.placement = place(read, self.forms, self.window, self.units)
        page.duplicate_of = None
        first = self._by_file.get((read["file_sha256"], read["index"]))
        if first is not None and manual is None:
            self._duplicate(page, first, "the same file scanned again")
            return
        self._by_file.setdefault((read["file_sha256"], read["index"]), page.page_id)
        p = page.placement
        if p.form_id and p.page is not None:
            first = self._by_form_page.get((p.form_id, p.page))
            if first is not None and first != page.page_id:
                self._duplicate(page, first, f"page {p.page} of {p.form_id} again")
                return
            self._by_form_page[(p.form_id, p.page)] = page.page_id

    def _duplicate(self, page: PageState, first: str, what: str) -> None:
        page.duplicate_of = first
        page.placement.status = DUPLICATE
        page.placement.flags.append(Flag(TWICE, f"{what} (kept once: first as "
                                                f"{self.pages[first].where()})"))

    def _by_hand(self, manual: dict[str, Any]) -> Placement:
        form = self.forms.get(manual.get("form_id") or "")
        if form is not None:
            return on_form(form, manual.get("page_no"), None, self.window, self.units,
                           status=INDEXED)
        if manual.get("form_id"):  # indexed to a form no registry has (yet)
            return Placement(INDEXED, form_id=manual["form_id"], page=manual.get("page_no"),
                             patient_id=manual.get("patient_id"), flags=[])
        return Placement(INDEXED, patient_id=manual["patient_id"],
                         encounter_id=manual.get("encounter_id"), unit=manual.get("unit"))


def _opened(state: EpisodeState, event: Event) -> None:
    d = event.data
    state.episode_id = d["episode"]
    state.window = Window(parse_time(d["start"], "start"),
                          parse_time(d["end"], "end") if d.get("end") else None)
    state.units = tuple(d.get("units") or ())
    state.opened_at, state.opened_by = event.at, event.by


def _registry(state: EpisodeState, event: Event) -> None:
    d = event.data
    ws = state.workstations.setdefault(d["workstation"], {"registry_events": 0,
                                                          "sources": []})
    # what the workstation's copy holds (the newest copy collected is the fullest)
    ws["registry_events"] = max(ws["registry_events"], d.get("seen", len(d["records"])))
    ws["sources"].append(d["source"])
    merge_records(state, d["records"], d["workstation"])
    state.replace_all()


def merge_records(state: EpisodeState, records: Iterable[dict[str, Any]],
                  workstation: str) -> int:
    """Merge registry events into the forms; the same form id and event seen twice counts
    once. Returns how many were new."""
    new = 0
    for r in records:
        key = (r["form_id"], r["event"])
        form = state.forms.get(r["form_id"])
        if form is None:
            form = state.forms[r["form_id"]] = FormInfo(
                r["form_id"], r["kind"], r["patient_id"], r["encounter_id"], r["unit"],
                r.get("snapshot_id", ""))
        form.workstations.add(workstation)
        form.pages = max(form.pages, int(r.get("pages") or 0))
        for name in ("bed", "patient_name", "mrn"):  # an older registry's line lacks them
            if r.get(name) and not getattr(form, name):
                setattr(form, name, r[name])
        if key in state.registry_keys:
            continue
        state.registry_keys.add(key)
        new += 1
        if r["event"] == "issued":
            form.issued_at = r["at"]
        elif r["event"] == "printed":
            form.printed_at = r["at"]
        elif r["event"] == "failed":
            form.failed = r.get("detail") or "failed"
        # `latest`: printed wins over issued whatever the order the copies came in
        rank = {"issued": 0, "failed": 1, "printed": 2}
        if rank.get(r["event"], -1) >= rank.get(form.latest, -1):
            form.latest = r["event"]
    return new


def _audit(state: EpisodeState, event: Event) -> None:
    d = dict(event.data, at=event.at, by=event.by)
    state.audits.append(d)
    ws = state.workstations.setdefault(d["workstation"], {"registry_events": 0,
                                                          "sources": []})
    ws["audit"] = d


def _page(state: EpisodeState, event: Event) -> None:
    d = event.data
    state.pages[d["page"]] = PageState(d["page"], d, event.at, event.by)


def _indexed(state: EpisodeState, event: Event) -> None:
    state.indexed[event.data["page"]] = dict(event.data, at=event.at, by=event.by)
    state.replace_all()


def _set_aside(state: EpisodeState, event: Event) -> None:
    state.set_aside.append(dict(event.data, at=event.at, by=event.by))


def _lost(state: EpisodeState, event: Event) -> None:
    mark = dict(event.data, at=event.at, by=event.by, type=event.type)
    state.lost_log.append(mark)
    key = (event.data["form_id"], event.data.get("page"))
    if event.type == "page-lost":
        state.lost[key] = mark
    else:
        state.lost.pop(key, None)


def lost_mark(state: EpisodeState, form_id: str, page: int | None) -> dict[str, Any] | None:
    """The standing lost mark of a page: its own, else the whole form's."""
    return state.lost.get((form_id, page)) or state.lost.get((form_id, None))


def _entry(state: EpisodeState, event: Event) -> None:
    state.entries.apply(event)


def _decision(state: EpisodeState, event: Event) -> None:
    state.decisions.apply(event)


def _submission(state: EpisodeState, event: Event) -> None:
    state.submissions.apply(event)


def _closed(state: EpisodeState, event: Event) -> None:
    state.closed = dict(event.data, at=event.at, by=event.by)
    state.entries.closed, state.entries.episode_id = state.closed, state.episode_id


_HANDLERS = {"episode-opened": _opened, "registry-collected": _registry,
             ENTRY_RECORDED: _entry, "audit-collected": _audit, "page-read": _page,
             "page-indexed": _indexed,
             "file-set-aside": _set_aside, "page-lost": _lost, "lost-withdrawn": _lost,
             **dict.fromkeys(DECISION_EVENTS, _decision),
             **dict.fromkeys(SUBMISSION_EVENTS, _submission), "episode-closed": _closed}


def derive(events: Iterable[Event]) -> EpisodeState:
    state = EpisodeState()
    for event in events:
        state.apply(event)
    state.placed()
    return state
