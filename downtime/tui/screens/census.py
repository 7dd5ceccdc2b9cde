"""The census: every current inpatient the identity may see; type to filter; Enter opens."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Input, Static

from snapshots.chart import CensusRow

from ..formatting import allergy_marker, short
from ..widgets import DataAgeBar, KeysBar, PlainTable

SORTS = [("bed", lambda r: (r.unit, r.bed or "", r.name)),
         ("name", lambda r: (r.name.upper(), r.bed or "")),
         ("MRN", lambda r: (r.mrn, r.name)),
         ("attending", lambda r: ((r.attending or "~").upper(), r.bed or "")),
         ("allergy", lambda r: ({"allergies": 0, "unknown": 1, "nka": 2}[r.allergy.kind],
                                r.bed or ""))]


FIRST_PAGE = 30  # rows put in the table at once: two screenfuls
CHUNK = 50  # rows added per refresh after that (a keystroke never waits for more)
MAX_ROWS = 600  # more than any unit; a whole-house list says how to narrow it instead


class CensusScreen(Screen):
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
        self.generation = 0
        self._sorted: list[CensusRow] = []
        self._sorted_key: tuple | None = None
        self._sorted_src: list[CensusRow] | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="census-title")
        yield Input(placeholder="Type a name, MRN or bed to filter…", id="filter")
        yield PlainTable(id="census", cursor_type="row", zebra_stripes=True)
        yield Static("", id="census-legend")
        yield DataAgeBar(id="age")
        yield KeysBar("Enter open · ↑↓ move · Esc clear · F2 sort · F3 unit · ^P print"
                      " · ^L lock")

    def on_mount(self) -> None:
        table = self.query_one("#census", DataTable)
        for label, key, width in (("Bed", "bed", 9), ("Name", "name", 16), ("Age", "age", 5),
                                  ("MRN", "mrn", 10), ("Attend.", "attending", 7),
                                  ("Alg", "allergy", 5), ("Code", "code", 7),
                                  ("Iso", "iso", 4)):
            table.add_column(label, key=key, width=width)
        table.can_focus = False
        self.query_one("#filter", Input).focus()
        self.query_one("#census-legend", Static).update(Text.assemble(
            ("ALG", "bold white on red"), " allergies  ", ("NKA", "green"),
            " no known allergies  ", ("???", "bold black on yellow"), " no information  ",
            ("⚠", "bold black on yellow"), " name alert"))
        self.refresh_table()

    @property
    def session(self):
        return self.app.session

    def refresh_table(self, keep_patient: str | None = None) -> None:
        session = self.session
        if session is None:
            return
        units = session.units
        unit = units[self.unit_index - 1] if 0 < self.unit_index <= len(units) else None
        name, key = SORTS[self.sort_index]
        # sort once per census, order and unit (holding the census list itself, not its id,
        # so a new snapshot's census can never be mistaken for the old one)
        cache_key = (self.sort_index, unit)
        if self._sorted_src is not session.census or self._sorted_key != cache_key:
            base = [r for r in session.census if not unit or r.unit == unit]
            self._sorted, self._sorted_key = sorted(base, key=key), cache_key
            self._sorted_src = session.census
        rows = self._sorted
        if self.matches is not None:
            wanted = set(self.matches)
            rows = [r for r in rows if r.patient_id in wanted]
        matched = len(rows)
        rows = rows[:MAX_ROWS]
        table = self.query_one("#census", DataTable)
        current = self.current_patient() if keep_patient is None else keep_patient
        table.clear()
        self.generation += 1
        self.shown = rows
        at = next((i for i, r in enumerate(rows) if r.patient_id == current), 0)
        # what is on screen first; the rest follows in chunks so typing stays responsive
        first = max(FIRST_PAGE, at + 1)
        table.add_rows([self._cells(r) for r in rows[:first]])
        if at:
            table.move_cursor(row=at)
        if len(rows) > first:
            self.call_after_refresh(self._fill, self.generation, first)
        where = unit or ("all units" if len(units) > 1 else (units[0] if units else ""))
        filt = self.query_one("#filter", Input).value.strip()
        title = Text.assemble((f" Census — {where} ", "bold reverse"),
                              f"  {len(rows)} of {len(session.census)} patients"
                              f"  sorted by {name}")
        if filt:
            title.append(f"  filter: “{filt}”", style="bold")
        if self.matches is not None and not rows:
            title.append("  — no patient matches; Esc clears", style="bold yellow")
        if matched > len(rows):
            title = Text.assemble((f" {where}: first {len(rows)} of {matched:,} (by {name}) ",
                                   "bold black on yellow"),
                                  " type a name/bed/MRN or F3 for one unit")
        self.query_one("#census-title", Static).update(title)
        self.refresh_age()
        self.updates += 1

    def _fill(self, generation: int, start: int) -> None:
        if generation != self.generation or not self.is_mounted:
            return  # a newer filter replaced this table
        end = start + CHUNK
        self.query_one("#census", DataTable).add_rows(
            [self._cells(r) for r in self.shown[start:end]])
        if end < len(self.shown):
            self.call_after_refresh(self._fill, generation, end)

    def _cells(self, r: CensusRow) -> list:
        name = Text(short(r.name, 16))
        if r.name_alert:
            name = Text.assemble(("⚠", "bold black on yellow"), short(r.name, 15))
        code = r.code_status or "—"
        dnr = code.upper().startswith("DNR")
        code = code.split(" — ")[0].split(" (")[0].replace("Full code", "Full")
        code_cell = Text(short(code, 7),
                         style="bold red" if dnr else "")
        attending = (r.attending or "—").split(",")[0].split()[-1]  # the surname
        return [r.bed or "—", name, f"{r.age} {r.sex}", r.mrn, short(attending, 7),
                allergy_marker(r.allergy), code_cell,
                Text(r.isolation[:4], style="bold yellow") if r.isolation else ""]

    def refresh_age(self) -> None:
        self.query_one("#age", DataAgeBar).show(self.app.data_age(), self.session.label
                                                 if self.session else "",
                                                 self.session.user if self.session else "",
                                                 self.app.notice())

    def snapshot_switched(self) -> None:
        """A newer snapshot is open: run the typed filter again on it (patient ids differ)."""
        text = self.query_one("#filter", Input).value
        if text.strip():
            self.generation += 1
            self.search(text)
        else:
            self.refresh_table()

    def current_patient(self) -> str | None:
        table = self.query_one("#census", DataTable)
        if not self.shown or table.cursor_row is None or table.cursor_row >= len(self.shown):
            return None
        return self.shown[table.cursor_row].patient_id

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.generation += 1  # stop filling the table for the previous text
        self.search(event.value)

    @work(thread=True, exclusive=True, group="filter")
    def search(self, text: str) -> None:
        session = self.session
        if session is None:
            return
        matches = session.search(text)
        self.app.call_from_thread(self._apply, text, matches)

    def _apply(self, text: str, matches: list[str] | None) -> None:
        if not self.is_mounted or self.app.session is None:
            return  # locked while the search ran
        if self.query_one("#filter", Input).value != text:
            return  # a newer keystroke is on its way
        self.matches = matches
        self.refresh_table(keep_patient="")  # a new filter starts at its first match

    def action_move(self, delta: int) -> None:
        table = self.query_one("#census", DataTable)
        if self.shown:
            row = max(0, min(len(self.shown) - 1, (table.cursor_row or 0) + delta))
            table.move_cursor(row=row)

    def action_open(self) -> None:
        pid = self.current_patient()
        if pid:
            self.app.open_chart(pid)

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        if 0 <= event.cursor_row < len(self.shown):
            self.app.open_chart(self.shown[event.cursor_row].patient_id)

    def action_sort(self) -> None:
        self.sort_index = (self.sort_index + 1) % len(SORTS)
        self.refresh_table()

    def action_unit(self) -> None:
        units = self.session.units if self.session else []
        if len(units) <= 1:
            self.app.notify("This workstation sees one unit.", timeout=3)
            return
        self.unit_index = (self.unit_index + 1) % (len(units) + 1)
        self.refresh_table()

    def action_clear(self) -> None:
        self.query_one("#filter", Input).value = ""
        self.matches = None
        self.refresh_table()

    def action_print(self) -> None:
        """The unit packet (census, face sheets, MARs…) of the unit shown or highlighted."""
        units = self.session.units if self.session else []
        unit = units[self.unit_index - 1] if 0 < self.unit_index <= len(units) else None
        if unit is None and len(units) == 1:
            unit = units[0]
        if unit is None:
            pid = self.current_patient()
            row = next((r for r in self.shown if r.patient_id == pid), None)
            unit = row.unit if row else None
        self.app.open_print(None, unit)
