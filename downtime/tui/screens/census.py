"""The census: every current inpatient the identity may see; type to filter; Enter opens."""

from __future__ import annotations

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Input, Static

from snapshots.chart import CensusRow

from ..census_columns import PADDING, census_cells, census_columns, surname
from ..errors import WorkerErrors, in_thread
from ..messages import OpenChart, OpenPrint
from ..row_table import RowTable
from ..widgets import DataAgeBar, KeysBar

SORTS = [("bed", lambda r: (r.unit, r.bed or "", r.name)),
         ("name", lambda r: (r.name.upper(), r.bed or "")),
         ("MRN", lambda r: (r.mrn, r.name)),
         ("attending", lambda r: (surname(r.attending).upper() if r.attending else "~",
                                  (r.attending or "").upper(), r.bed or "")),
         ("allergy", lambda r: ({"allergies": 0, "unknown": 1, "nka": 2}[r.allergy.kind]
                                if not r.allergy.not_loaded else 1, r.bed or ""))]


class CensusScreen(WorkerErrors, Screen):
    BINDINGS = [
        Binding("enter", "open", "Open chart", show=True, priority=True),
        Binding("down", "move(1)", "Down", show=False, priority=True),
        Binding("up", "move(-1)", "Up", show=False, priority=True),
        Binding("pagedown", "move(10)", show=False, priority=True),
        Binding("pageup", "move(-10)", show=False, priority=True),
        Binding("f2", "sort", "Sort", show=True),
        Binding("f3", "unit", "Unit", show=True),
        Binding("escape", "clear", "Clear filter", show=True),
        Binding("ctrl+p", "print", "Print", show=True),
        Binding("ctrl+l", "app.lock", "Lock", show=True),
        Binding("ctrl+q", "app.quit", "Quit", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.sort_index = 0
        self.unit_index = 0  # 0 = all units
        self.matches: list[str] | None = None
        self.shown: list[CensusRow] = []
        self.updates = 0  # counts table refreshes (tests and benchmarks wait on it)
        self._sorted: list[CensusRow] = []
        self._sorted_key: tuple | None = None
        self._sorted_src: list[CensusRow] | None = None
        self._layout_key: tuple | None = None  # (width, unit) the columns are for
        self._layout_src: list[CensusRow] | None = None  # and the census

    def compose(self) -> ComposeResult:
        yield Static("", id="census-title")
        yield Input(placeholder="Type a name, MRN or bed to filter…", id="filter")
        yield RowTable(census_columns(80, []), census_cells, padding=PADDING, id="census")
        yield Static("", id="census-legend")
        yield DataAgeBar(id="age")
        yield KeysBar("Enter open · ↑↓ move · Esc clear · F2 sort · F3 unit · ^P print"
                      " · ^L lock")

    def on_mount(self) -> None:
        self.query_one("#filter", Input).focus()
        # 80 columns: NKDA (no known drug allergies) says nothing of other allergies; "!" an
        # allergy record of the source that did not load
        self.query_one("#census-legend", Static).update(Text.assemble(
            ("ALG", "bold white on red"), " allergies ", ("NKA", "green"), " none ",
            ("NKDA", "green"), " none to drugs ", ("???", "bold black on yellow"), " no info ",
            ("!", "bold black on yellow"), " not loaded ", ("⚠", "bold black on yellow"),
            " name alert"))
        self.refresh_table()

    @property
    def session(self):
        return self.app.session

    @property
    def unit(self) -> str | None:
        units = self.session.units if self.session else []
        return units[self.unit_index - 1] if 0 < self.unit_index <= len(units) else None

    def refresh_table(self, keep_patient: str | None = None,
                      filtered: list[CensusRow] | None = None) -> None:
        """Show the census of the chosen unit, in the chosen order, filtered by the last
        search (`filtered`: that already worked out); the cursor stays on `keep_patient`
        (default: the patient it is on)."""
        if self.session is None:
            return
        rows = filtered if filtered is not None else only(self._sorted_rows(), self.matches)
        current = self.current_patient() if keep_patient is None else keep_patient
        at = next((i for i, r in enumerate(rows) if r.patient_id == current), 0) \
            if current else 0
        self.shown = rows
        self._fit_columns()
        self.query_one("#census", RowTable).set_rows(rows, cursor=at)
        # one line high whatever it says: no relayout of the screen on every keystroke
        self.query_one("#census-title", Static).update(self._title(), layout=False)
        self.refresh_age()
        self.updates += 1

    def _fit_columns(self) -> None:
        """Columns for the width there is and the unit's census (all of it, not the rows a
        filter leaves: the columns stay put while typing)."""
        if self.session is None:
            return
        key = (self.size.width or 80, self.unit)
        if key != self._layout_key or self._layout_src is not self.session.census:
            self._layout_key, self._layout_src = key, self.session.census
            self.query_one("#census", RowTable).set_columns(
                census_columns(key[0], self._sorted_rows()))

    def on_resize(self, event: events.Resize) -> None:
        self._fit_columns()

    def _sorted_rows(self) -> list[CensusRow]:
        """The unit's census in the chosen order, sorted once per census, order and unit
        (holding the census list itself, not its id, so a new snapshot's census can never
        be mistaken for the old one)."""
        census, unit = self.session.census, self.unit
        cache_key = (self.sort_index, unit)
        if self._sorted_src is not census or self._sorted_key != cache_key:
            base = [r for r in census if not unit or r.unit == unit]
            self._sorted = sorted(base, key=SORTS[self.sort_index][1])
            self._sorted_key, self._sorted_src = cache_key, census
        return self._sorted

    def _title(self) -> Text:
        units = self.session.units
        where = self.unit or ("all units" if len(units) > 1 else (units[0] if units else ""))
        title = Text.assemble((f" Census — {where} ", "bold reverse"),
                              f"  {len(self.shown):,} of {len(self.session.census):,} "
                              f"patients  sorted by {SORTS[self.sort_index][0]}")
        filt = self.query_one("#filter", Input).value.strip()
        if filt:
            title.append(f"  filter: “{filt}”", style="bold")
        if self.matches is not None and not self.shown:
            title.append("  — no patient matches; Esc clears", style="bold yellow")
        return title

    def refresh_age(self) -> None:
        self.query_one("#age", DataAgeBar).show(self.app.data_age(), self.session.label
                                                 if self.session else "",
                                                 self.session.user if self.session else "",
                                                 self.app.notice())

    def snapshot_switched(self) -> None:
        """A newer snapshot is open: run the typed filter again on it (patient ids differ)."""
        text = self.query_one("#filter", Input).value
        if text.strip():
            self.search(text)
        else:
            self.refresh_table()

    def current_patient(self) -> str | None:
        row = self.query_one("#census", RowTable).cursor_row
        return self.shown[row].patient_id if row < len(self.shown) else None

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.search(event.value)

    def search(self, text: str) -> None:
        if self.session is not None:
            self._search(text, self._sorted_rows())

    @in_thread(group="filter", description="census filter")
    def _search(self, text: str, rows: list[CensusRow]) -> None:
        """The query and the filtering of the sorted census (`rows`, never changed in place)
        off the event loop, so all a keystroke leaves to it is drawing the result."""
        session = self.session
        if session is None:
            return
        matches = session.search(text)
        self.app.call_from_thread(self._apply, text, matches, rows, only(rows, matches))

    def _apply(self, text: str, matches: list[str] | None, rows: list[CensusRow],
               filtered: list[CensusRow]) -> None:
        if not self.is_mounted or self.app.session is None:
            return  # locked while the search ran
        if self.query_one("#filter", Input).value != text:
            return  # a newer keystroke is on its way
        self.matches = matches
        if rows is not self._sorted_rows():  # sorted or another unit meanwhile: filter again
            filtered = only(self._sorted_rows(), matches)
        self.refresh_table(keep_patient="", filtered=filtered)  # starts at its first match

    def action_move(self, delta: int) -> None:
        table = self.query_one("#census", RowTable)
        table.move_cursor(table.cursor_row + delta)

    def action_open(self) -> None:
        pid = self.current_patient()
        if pid:
            self.post_message(OpenChart(pid))

    @on(RowTable.Selected, "#census")
    def _selected(self, event: RowTable.Selected) -> None:
        if 0 <= event.index < len(self.shown):
            self.post_message(OpenChart(self.shown[event.index].patient_id))

    def action_sort(self) -> None:
        self.sort_index = (self.sort_index + 1) % len(SORTS)
        self.refresh_table(keep_patient="")  # another order: from its first row

    def action_unit(self) -> None:
        units = self.session.units if self.session else []
        if len(units) <= 1:
            self.app.notify("This workstation sees one unit.", timeout=3)
            return
        self.unit_index = (self.unit_index + 1) % (len(units) + 1)
        self.refresh_table(keep_patient="")  # another list: from its first row

    def action_clear(self) -> None:
        self.query_one("#filter", Input).value = ""
        self.matches = None
        self.refresh_table()

    def action_print(self) -> None:
        """The unit packet (census, face sheets, MARs…) of the unit shown or highlighted."""
        units = self.session.units if self.session else []
        unit = self.unit
        if unit is None and len(units) == 1:
            unit = units[0]
        if unit is None:
            pid = self.current_patient()
            row = next((r for r in self.shown if r.patient_id == pid), None)
            unit = row.unit if row else None
        self.post_message(OpenPrint(None, unit))


def only(rows: list[CensusRow], matches: list[str] | None) -> list[CensusRow]:
    """`rows` (in their order) whose patient is among `matches`; all of them for None."""
    if matches is None:
        return rows
    wanted = set(matches)
    return [r for r in rows if r.patient_id in wanted]
