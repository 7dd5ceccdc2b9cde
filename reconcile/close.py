"""Closing an episode (`downtime reconcile close`): only when every issued page is accounted
for, that is back (scanned and filed) and transcribed (`page-transcribed`,
reconcile/decisions.py; a page of a form nothing is typed from, such as the census or a face
sheet, once back), or marked lost with a reason by a named person (reconcile/lost.py).
Otherwise it says, in one line and then a list, what is not.

Closing is an `episode-closed` event (reason, person, pages accounted for); the closed
episode takes no new entries, scans nor submissions (`refuse_if_closed`: one line). Nothing is
deleted: the journal, the copies and the custody report stay what the auditor reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from snapshots.errors import ToolkitError

from .custody import BACK, missing_text
from .episode import Episode
from .lost import MAX_TEXT
from .state import EpisodeState, derive, lost_mark

CLOSED = "episode-closed"
# the kinds of form back-entry types from (reconcile/entries.py, `downtime reconcile enter`):
# a page of another kind (census, face sheet, labels, medication list: printed from the
# chart to be read) has nothing to transcribe and is accounted for once back
TRANSCRIBED_KINDS = frozenset({"mar", "orders", "vitals", "note", "registration"})


class CloseError(ToolkitError):
    reason = "close"


@dataclass(frozen=True)
class Unaccounted:
    form_id: str
    page: int | None  # None: the form's page count is not known and no page is back
    unit: str
    text: str  # the page as the paper names it, and what it lacks


def unaccounted(state: EpisodeState) -> list[Unaccounted]:
    """Every issued page (of the episode's units) neither back and transcribed nor lost."""
    back: dict[str, set[int | None]] = {}
    for page in state.placed().values():
        p = page.placement
        if p.status in BACK and p.form_id:
            back.setdefault(p.form_id, set()).add(p.page)
    out = []
    forms = [f for f in state.forms.values() if f.reached_paper and
             (not state.units or f.unit in state.units)]
    for form in sorted(forms, key=lambda f: (f.unit, f.bed or "~", f.patient_name,
                                             f.form_id)):
        got = back.get(form.form_id, set())
        numbers = list(range(1, form.pages + 1)) if form.pages else \
            (sorted(n for n in got if n is not None) or [None])
        for n in numbers:
            if lost_mark(state, form.form_id, n) is not None:
                continue
            if n not in got:
                out.append(Unaccounted(form.form_id, n, form.unit,
                                       f"{missing_text(form, n)}: not back"))
            elif form.kind in TRANSCRIBED_KINDS and \
                    (form.form_id, n) not in state.decisions.transcribed:
                out.append(Unaccounted(form.form_id, n, form.unit,
                                       f"{missing_text(form, n)}: back, not transcribed"))
    return out


def issued_pages(state: EpisodeState) -> int:
    return sum(max(f.pages, 1) for f in state.forms.values() if f.reached_paper and
               (not state.units or f.unit in state.units))


def close_episode(episode: Episode, reason: str, person: str) -> dict:
    """Close the episode (the event's data), or CloseError: one line saying how many pages
    are not accounted for, then each (unit, the page as the paper names it, what it lacks)."""
    state = derive(episode.journal.read())
    if state.closed is not None:
        c = state.closed
        raise CloseError(f"episode {state.episode_id} is already closed (by {c['person']} at "
                         f"{c['at']}: {c['reason']})")
    reason, person = _text(reason, "--reason"), _text(person, "--by")
    left = unaccounted(state)
    if left:
        lines = [f"  {u.unit}: {u.text}" for u in left]
        raise CloseError(f"episode {state.episode_id} cannot be closed: {len(left)} issued "
                         f"page{'s are' if len(left) != 1 else ' is'} not accounted for "
                         "(back and transcribed, or marked lost)\n" + "\n".join(lines))
    data = {"reason": reason, "person": person, "pages": issued_pages(state),
            "entries": len(state.entries.in_force())}
    episode.journal.append(CLOSED, data, episode.who)
    return data


def _text(value: str, option: str) -> str:
    value = " ".join((value or "").split())
    if not value:
        raise CloseError(f"{option} must say something (who closes it, and why)")
    if len(value) > MAX_TEXT:
        raise CloseError(f"{option} is longer than {MAX_TEXT} characters")
    return value
