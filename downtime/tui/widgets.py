"""Widgets every screen shares: the data-age bar and the patient header."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable, Static

from snapshots.chart import DataAge, Header

from .formatting import allergy_line


class DataAgeBar(Static):
    """'data as of 14:05 — 38 min old' (turning into a warning past the threshold)."""

    _shown: tuple | None = None

    def show(self, age: DataAge | None, where: str = "", user: str = "",
             notice: str | None = None) -> None:
        same = (age, where, user, notice)
        if same == self._shown:
            return  # unchanged: no repaint (the census asks on every keystroke)
        self._shown = same
        if age is None:
            self.update("no snapshot open")
            self.set_class(False, "stale")
            return
        text = Text(f" {age.text} ")
        if age.clock_behind:
            # short: the whole warning must fit an 80-column bar (ages and due times shown
            # are wrong while the clock is)
            text = Text(f" ⚠ {age.text}: tell IT ", style="bold")
        elif age.stale:
            text = Text(f" ⚠ {age.text} — check for a newer snapshot ", style="bold")
        if notice:  # more urgent than which snapshot and who: it takes their place
            text.append(f"  {notice} ", style="bold reverse")
        else:
            tail = "  ".join(x for x in (where, user) if x)
            if tail:
                text.append(f"  {tail}")
        self.update(text, layout=False)  # always one line high
        self.set_class(age.doubtful, "stale")


class PatientHeader(Static):
    """Name, MRN, DOB/age, bed, allergies, code status, weight, name alert: never scrolls."""

    def show(self, h: Header) -> None:
        line1 = Text()
        line1.append(f" {h.name} ", style="bold reverse")
        line1.append(f"  MRN {h.mrn}", style="bold")
        line1.append(f"  DOB {h.birth_date or '?'} ({h.age} {h.sex})")
        line1.append(f"  Bed {h.bed or '—'}", style="bold")
        if h.deceased:
            line1.append("  DECEASED", style="bold red")
        line3 = Text(" Code: ")
        line3.append(h.code_status_text, style="bold white on dark_red" if h.code_status and
                     h.code_status.upper().startswith("DNR") else
                     ("bold" if h.code_status else "bold black on yellow"))
        line3.append(f"  Wt: {h.weight or 'not recorded'}")
        if h.isolation:
            line3.append(f"  Isolation: {h.isolation}", style="bold yellow")
        if h.name_alert:
            alike = ", ".join(h.name_alert_with) or "another patient"
            line3.append(f"  ⚠ NAME ALERT: {alike}", style="bold black on yellow")
        lines = [line1, allergy_line(h.allergy, self.size.width or 80), line3]
        others = [n.text for n in h.not_loaded if n.resource_type != "AllergyIntolerance"]
        if others:  # the allergy line says its own; this says the rest, on one line
            lost = Text(" ⚠ ", style="bold white on dark_red")
            lost.append(" " + "; ".join(others), style="bold")
            lost.truncate(max(20, (self.size.width or 80) - 1), overflow="ellipsis")
            lines.append(lost)
        self.update(Text("\n").join(lines))


class KeysBar(Static):
    """The keys of the screen, always on the bottom line (one widget: cheap to restyle)."""


class PlainTable(DataTable):
    """A DataTable whose text cells are never read as Rich markup: a name or a note title
    with "[...]" in it is shown as typed, not styled or dropped."""

    def add_row(self, *cells, **kwargs):
        return super().add_row(*(Text(c) if isinstance(c, str) else c for c in cells),
                               **kwargs)
