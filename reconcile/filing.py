"""Filing scanned pages into the episode: each page's original bytes stored encrypted and
durably, then one `page-read` event per page (one journal write per input file), then its
placement under the rules (reconcile/rules.py) said back in one line. Files that cannot be
read as scans are set aside with their reason, never deleted.

Order is what makes "nothing lost" hold through a crash: copies written (each to a temp name
and fsynced, then renamed, the folder fsynced once for up to STORE_BATCH pages) -> the file's
events durable (one write, one fsync) -> only then may the caller remove the input from the
inbox (`remove_input`). A crash between any two steps leaves the input where it was; taking it
in again is seen as the same file (its sha256) and noted, not filed twice.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forms.kinds import TITLES
from snapshots.errors import ToolkitError, oserror_text

from .episode import PAGES, SET_ASIDE, Episode, refuse_if_closed
from .rules import DUPLICATE, FILED, INDEXED, NOT_IN_REGISTRY, QUEUED
from .scan_input import ScannedPage
from .state import EpisodeState, PageState, derive

STORE_BATCH = 32  # page copies written before one folder fsync (bounded: each is ~1 MB)


class FilingError(ToolkitError):
    reason = "filing"


@dataclass(frozen=True)
class Outcome:
    """What became of one page, as the clerk is told it."""

    page_id: str
    where: str  # source file and page in it
    status: str
    line: str
    flags: tuple[str, ...] = ()


def payload_dict(payload: Any) -> dict[str, Any] | None:
    if payload is None:
        return None
    return {"form_id": payload.form_id, "kind": payload.kind,
            "patient_id": payload.patient_id, "encounter_id": payload.encounter_id,
            "page": getattr(payload, "page", None), "pages": getattr(payload, "pages", None)}


class Filer:
    """Files pages into one episode, keeping its state in step with the journal."""

    def __init__(self, episode: Episode, state: EpisodeState | None = None) -> None:
        self.episode = episode
        self.state = state if state is not None else derive(episode.journal.read())

    def refresh(self) -> EpisodeState:
        """Take in what other commands appended since (a page indexed by hand meanwhile)."""
        for event in self.episode.journal.read_new():
            self.state.apply(event)
        return self.state

    def file_pages(self, pages: Sequence[ScannedPage]) -> list[Outcome]:
        """Store and record the pages of one input file; their outcomes, once durable."""
        if not pages:
            return []
        self.refresh()
        refuse_if_closed(self.state.closed, self.state.episode_id, "scans")
        known = {(p.read["file_sha256"], p.read["index"]): p.read["copy"]
                 for p in self.state.pages.values()}
        copies = self._store(pages, known)
        items = []
        for page, copy in zip(pages, copies, strict=True):
            items.append(("page-read", {
                "page": _page_id(page), "copy": copy, "source": page.source,
                "file_sha256": page.file_sha256, "index": page.index, "count": page.count,
                "media_type": page.media_type, "size": len(page.original),
                "qr_text": page.qr_text, "payload": payload_dict(page.payload),
                "rotation": page.rotation}))
        events = self.episode.journal.append_many(items, self.episode.who)
        for event in events:
            self.state.apply(event)
        placed = self.state.placed()
        return [outcome(placed[e.data["page"]]) for e in events]

    def _store(self, pages: Sequence[ScannedPage], known: dict[tuple[str, int], str]
               ) -> list[str]:
        """Each page's copy name: stored encrypted and durable now, STORE_BATCH pages to a
        folder fsync; or, for the same file taken in again, the copy stored already (the
        second read is noted, its bytes not stored twice)."""
        names = [known.get((p.file_sha256, p.index)) for p in pages]
        new = [i for i, name in enumerate(names) if name is None]
        for start in range(0, len(new), STORE_BATCH):
            batch = new[start:start + STORE_BATCH]
            stored = self.episode.store_copies(PAGES, [pages[i].original for i in batch])
            for i, name in zip(batch, stored, strict=True):
                names[i] = name
        return names

    def set_aside(self, source: Path, reason: str, *, store: bool = True,
                  moved_to: Path | None = None) -> dict[str, Any]:
        """Record a file that cannot be taken in. `store`: its bytes encrypted into the
        episode (the caller may then remove the plaintext); else it stays where it is
        (`moved_to`: beside the inbox) and every status names it."""
        self.refresh()
        refuse_if_closed(self.state.closed, self.state.episode_id, "scans")
        data, digest, copy = None, "", None
        if store:
            try:
                data = Path(source).read_bytes()
            except OSError as e:
                raise FilingError(oserror_text(e, "cannot set the file aside", source)) \
                    from None
            digest = hashlib.sha256(data).hexdigest()
            copy = self.episode.store_copy(SET_ASIDE, data)
        size = len(data) if data is not None else _size(moved_to or source)
        event = self.episode.journal.append("file-set-aside", {
            "source": Path(source).name, "file_sha256": digest, "size": size,
            "reason": reason, "copy": copy,
            "moved_to": str(moved_to) if moved_to else None}, self.episode.who)
        self.state.apply(event)
        return event.data

    def index(self, page_id: str, *, form_id: str | None = None,
              patient_id: str | None = None, encounter_id: str | None = None,
              page_no: int | None = None) -> Outcome:
        """File a page by hand: under a form (and page number), or under a patient."""
        self.refresh()
        page = find_page(self.state, page_id)
        if form_id is None and patient_id is None:
            raise FilingError("say where the page belongs: --form ID or --patient MRN")
        if form_id and form_id not in self.state.forms and patient_id is None:
            raise FilingError(f"form {form_id} is in no collected registry: collect its "
                              "workstation's registry first, or index the page with "
                              "--patient")
        event = self.episode.journal.append("page-indexed", {
            "page": page.page_id, "form_id": form_id, "patient_id": patient_id,
            "encounter_id": encounter_id, "page_no": page_no}, self.episode.who)
        self.state.apply(event)
        return outcome(self.state.placed()[page.page_id])


def find_page(state: EpisodeState, page_id: str) -> PageState:
    """A page by its id or an unambiguous start of it (as status lists them)."""
    found = [p for k, p in state.pages.items() if k.startswith(page_id)] if page_id else []
    if len(found) != 1:
        raise FilingError(f"page {page_id!r:.40}: " + (
            "no such page in the episode (see `downtime reconcile status --json`)"
            if not found else f"{len(found)} pages start so; give more of the id"))
    return found[0]


def _page_id(page: ScannedPage) -> str:
    # unique per read, also for the same file dropped twice (the second is noted, not merged)
    return "PG-" + os.urandom(6).hex()


def _size(path: Path) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0


def outcome(page: PageState) -> Outcome:
    p = page.placement
    flags = tuple(f.text for f in p.flags)
    what = ""
    if p.form_id:
        title = TITLES.get(p.kind or "", p.kind or "form")
        of = f" page {p.page} of {p.pages}" if p.page and p.pages else \
            (f" page {p.page}" if p.page else " (page not known)")
        what = f"{title} {p.form_id}{of}"
    if p.status == FILED:
        line = f"filed: {what}, patient {p.patient_id}"
    elif p.status == NOT_IN_REGISTRY:
        line = f"filed, NOT IN REGISTRY: {what}, under patient {p.patient_id} encounter " \
               f"{p.encounter_id}"
    elif p.status == INDEXED:
        line = f"indexed by hand: {what or 'patient ' + str(p.patient_id)}"
    elif p.status == QUEUED:
        line = f"queued for indexing ({p.why})"
    elif p.status == DUPLICATE:
        line = f"duplicate, kept once{': ' + what if what else ''}"
    else:
        line = p.status
    return Outcome(page.page_id, page.where(), p.status, f"{page.where()}: {line}", flags)
