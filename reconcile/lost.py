"""Pages marked lost: a form (or one page of it) that will not come back (spilled on, sent
with the patient, shredded by mistake), said so by a named person with a reason. The mark is
a `page-lost` event; taking it back is a `lost-withdrawn` event (typed on the wrong form, or
the page turned up after all), never an edit. A page marked lost that is scanned later is
filed as any other, and the custody says both (it came back after being marked lost), so
nobody is left looking for it and nobody wonders why the mark is there.

Why a named person and not the station user alone: after downtime the clerk at the HIM
station types what a nurse or a charge nurse tells them; the episode can close (issue 12)
only when every issued page is back or marked lost by someone who answers for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .custody import BACK, title
from .filing import Filer, FilingError
from .rules import FormInfo
from .state import lost_mark

MAX_TEXT = 500  # a reason or a name: one line, not a document


@dataclass(frozen=True)
class LostResult:
    line: str
    pages: tuple[int | None, ...]  # the pages the mark covers (None: page count not known)


def mark_lost(filer: Filer, form_id: str, page: int | None, reason: str,
              person: str) -> LostResult:
    """Mark a form (page None: every page not back) or one page of it lost."""
    filer.refresh()
    form = _form(filer, form_id)
    reason, person = _text(reason, "--reason"), _text(person, "--by")
    _check_page(form, page)
    back = _pages_back(filer, form.form_id)
    if page is not None and page in back:
        raise FilingError(f"page {page} of {form.form_id} is back (filed): it is not lost")
    wanted = [page] if page is not None else \
        ([n for n in range(1, form.pages + 1) if n not in back] if form.pages else [None])
    if not wanted:
        raise FilingError(f"every page of {form.form_id} is back: nothing to mark lost")
    filer.state.apply(filer.episode.journal.append("page-lost", {
        "form_id": form.form_id, "page": page, "reason": reason, "person": person},
        filer.episode.who))
    what = f"page {page} of {form.pages or '?'}" if page is not None else (
        "every page not back (" + ", ".join(str(n) for n in wanted) + ")"
        if form.pages else "the whole form (its page count is not known)")
    return LostResult(f"marked lost: {_name(form)} {what}, by {person}: {reason}",
                      tuple(wanted))


def withdraw_lost(filer: Filer, form_id: str, page: int | None, reason: str,
                  person: str) -> LostResult:
    """Take back a lost mark (the same form and page as it was marked)."""
    filer.refresh()
    form = _form(filer, form_id)
    reason, person = _text(reason, "--reason"), _text(person, "--by")
    if (form.form_id, page) not in filer.state.lost:
        marked = sorted(("whole form" if p is None else f"page {p}")
                        for f, p in filer.state.lost if f == form.form_id)
        raise FilingError(f"{form.form_id}" + (f" page {page}" if page else "") +
                          " is not marked lost" + (f" (marked: {', '.join(marked)})"
                                                   if marked else ""))
    filer.state.apply(filer.episode.journal.append("lost-withdrawn", {
        "form_id": form.form_id, "page": page, "reason": reason, "person": person},
        filer.episode.who))
    what = f"page {page}" if page is not None else "the whole form"
    still = lost_mark(filer.state, form.form_id, page)
    note = "; still lost by the whole form's mark" if still else "; waited for again"
    return LostResult(f"lost mark withdrawn: {_name(form)} {what}, by {person}: {reason}"
                      f"{note}", (page,))


def _form(filer: Filer, form_id: str) -> FormInfo:
    typed = form_id.strip()
    # form ids print in capitals; a clerk may type them in lower case
    form = filer.state.forms.get(typed) or filer.state.forms.get(typed.upper())
    if form is None:
        raise FilingError(f"form {form_id!r:.40} is in no collected registry: collect its "
                          "workstation's registry first (a form nobody issued cannot be lost)")
    return form


def _check_page(form: FormInfo, page: int | None) -> None:
    if page is not None and form.pages and not 1 <= page <= form.pages:
        raise FilingError(f"{form.form_id} has {form.pages} page"
                          f"{'s' if form.pages != 1 else ''}, not a page {page}")


def _text(value: str, option: str) -> str:
    text = " ".join((value or "").split())
    if not any(c.isalpha() for c in text):
        raise FilingError(f"{option}: say it in words (who marks it lost, and why)")
    if len(text) > MAX_TEXT:
        raise FilingError(f"{option}: {len(text)} characters, {MAX_TEXT} at most")
    return text


def _pages_back(filer: Filer, form_id: str) -> set[int | None]:
    return {p.placement.page for p in filer.state.placed().values()
            if p.placement.form_id == form_id and p.placement.status in BACK}


def _name(form: FormInfo) -> str:
    person = form.person()
    return f"{title(form.kind)} {person} ({form.form_id})" if person else \
        f"{title(form.kind)} {form.form_id}"
