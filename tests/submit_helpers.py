"""An episode ready to submit (tests and the submission benchmark): the forms issued (a
registry collected), their pages scanned and filed (encrypted copies), back-entries recorded
and marked ready (`conflicts-checked` with no conflicts; the real checks are
reconcile/conflicts.py's), registrations decided."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyrage

from reconcile.backentry import ToRecord, record_entries
from reconcile.bundles import ScannedPage
from reconcile.entries import Entry
from reconcile.episode import Episode
from reconcile.filing import Filer
from reconcile.state import derive
from tests import back_entry_data as data
from tests.reconcile_helpers import Payload, new_episode, page, record


def fill(episode: Episode, entries: Sequence[Entry], pages: Sequence[ScannedPage], *,
         ready: bool = True, unit: str = "4W") -> None:
    """Issue the pages' forms, file the pages, record the entries (and check them clear)."""
    forms = {}
    for p in pages:
        forms.setdefault(p.form_id, (p.kind or "mar", p.patient_id, p.encounter_id, 0))
        kind, pat, enc, n = forms[p.form_id]
        forms[p.form_id] = (kind, pat, enc, max(n, p.page))
    records = [record(f, kind, pat, enc, unit=unit, pages=n)
               for f, (kind, pat, enc, n) in forms.items()]
    episode.journal.append("registry-collected", {
        "workstation": f"ws-{unit}-1", "source": "share", "records": records,
        "seen": len(records)}, episode.who)
    filer = Filer(episode)
    for p in pages:
        kind, pat, enc, n = forms[p.form_id]
        filer.file_pages([page(f"{p.form_id}-p{p.page}.png",
                               Payload(p.form_id, kind, pat, enc, p.page, n), data=p.data)])
    state = derive(episode.journal.read())
    record_entries(episode.journal, state.entries, [ToRecord(e, "tui") for e in entries],
                   episode.who)
    if ready:
        mark_ready(episode, entries)


def mark_ready(episode: Episode, entries: Sequence[Entry]) -> None:
    episode.journal.append("conflicts-checked", {
        "against": {"url": "http://127.0.0.1:1/fhir", "at": "2026-12-03T10:00:00Z"},
        "entries": [{"key": e.key, "revision": e.revision, "conflicts": []}
                    for e in entries]}, episode.who)


def transcribed(episode: Episode, pages: Sequence[ScannedPage], lines: int = 1) -> None:
    episode.journal.append_many([("page-transcribed", {
        "form_id": p.form_id, "page": p.page, "lines": lines, "person": "Dana Reyes"})
        for p in pages], episode.who)


def decide_registration(episode: Episode, entry: Entry, decision: str,
                        patient_id: str | None = None) -> None:
    episode.journal.append("registration-decided", {
        "key": entry.key, "downtime_mrn": entry.patient_id, "decision": decision,
        "patient_id": patient_id, "grade": "certain" if patient_id else None,
        "person": "Dana Reyes"}, episode.who)


def patients_episode(folder: Path, patients: Sequence[tuple[str, str]], seed: int = 1,
                     registration: bool = True
                     ) -> tuple[Episode, pyrage.x25519.Identity, list[Entry], list[ScannedPage]]:
    """One page of each kind for each EHR patient, and (with `registration`) a downtime
    registration decided `create`; everything ready."""
    episode, ident = new_episode(folder)
    entries, pages = [], []
    for n, (pid, enc) in enumerate(patients):
        e, p = data.one_of_each(pid, enc, seed=seed * 100 + n)
        entries += e
        pages += p
    if registration:
        e, p = data.registration(mrn=f"DT9{seed:05d}", number=f"DTE9{seed:05d}", seed=seed)
        entries += e
        pages += p
    fill(episode, entries, pages)
    if registration:
        decide_registration(episode, e[0], "create")
    return episode, ident, entries, pages
