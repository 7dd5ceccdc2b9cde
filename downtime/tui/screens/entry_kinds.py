"""The one-line back-entry screens: MAR (a row per order printed, its doses under it),
vitals flowsheet (a line per time column), physician orders (a line per order). The line
syntax is reconcile/keyed_entries.py's; docs/back-entry-tui.md lists it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.text import Text
from textual.widgets import Input

from reconcile.entries import Entry, PhysicianOrder, VitalsRow
from reconcile.keyed_entries import (
    ROW_LINES,
    VITALS_COLUMNS,
    MarRow,
    added_row,
    entry_line_text,
    mar_entry,
    next_due,
    next_row_line,
    order_entry,
    rows_with_entries,
    vitals_entry,
    with_due_time,
)
from reconcile.keying import FLOWSHEET, LABELS, KeyingError

from .entry_base import EntryScreen


def _taken_time(typed: dict[int, Any], lines: list[int], when: datetime, editing: Any
                ) -> int | None:
    """The line among `lines` already typed at that time (a page typed twice), if any."""
    for line in lines:
        rec = typed[line]
        if rec.entry.paper_time == when and (editing is None or editing.entry.source.line
                                             != line):
            return line
    return None


def _revised(rec: Any) -> str:
    return f" (rev {rec.entry.revision})" if rec.entry.revision else ""


class MarScreen(EntryScreen):
    TITLE = "Downtime MAR"
    COLUMNS = ("#", "Medication", "Dose / route", "Schedule · typed")
    PLACEHOLDER = "0910 AB   ·   0900 AB h NPO   ·   1415 AB pain 7/10   ·   + drug dose route"
    HINT = ("On the row chosen (↑↓): TIME INITIALS [dose] [h|r reason] — a PRN row: TIME "
            "INITIALS [dose] REASON. '+ metoprolol 25 mg PO [prn]' adds a row written by hand."
            " '.AB': at the next time printed in the row's boxes. Shift+↑↓ choose a typed "
            "dose, F2 correct it.")

    def prepare(self) -> None:
        self.rows = rows_with_entries(self.opened.rows, self.opened.typed)

    def mounted(self) -> None:
        if not self.opened.rows:
            self.say("No orders from the snapshot here: add each row as written on the "
                     "paper: + DRUG DOSE ROUTE [prn]")

    def table_rows(self) -> list[tuple[Any, tuple]]:
        out = []
        for row in self.rows:
            out.append((("row", row.row), (str(row.row), Text(row.drug.text, style="bold"),
                                           f"{row.dose_text} {row.route}", row.schedule)))
            for line, rec in self.opened.typed.items():
                if line // ROW_LINES == row.row:
                    e = rec.entry
                    what = "given" if e.outcome == "given" else f"{e.outcome.upper()}: " \
                        f"{e.reason}"
                    if e.prn_reason:
                        what += f" for {e.prn_reason}"
                    out.append((line, ("", f"  l{line}", f"{e.dose.value:g} {e.dose.unit}",
                                       f"{e.paper_time.astimezone():%H%M} {what} · "
                                       f"{e.written_by.name}{_revised(rec)}")))
        return out

    def action_move(self, by: int) -> None:
        """↑↓ go from order row to order row (what the next dose is typed on); Shift+↑↓
        also stop on the doses typed, to choose one to correct (F2)."""
        table = self.query_one("#lines")
        heads = [i for i, key in enumerate(self.keys) if isinstance(key, tuple)]
        at = table.cursor_row
        ahead = [i for i in heads if (i > at if by > 0 else i < at)]
        if ahead:
            table.move_cursor(row=ahead[0] if by > 0 else ahead[-1])
        self.show_due()

    def action_move_line(self, by: int) -> None:
        super().action_move_line(by)
        self.show_due()

    def show_due(self) -> None:
        """The input says what '.' would type on the row chosen (the next box's time)."""
        row = self.current_row()
        due = next_due(row, self.opened.typed) if row else None
        self.query_one("#line", Input).placeholder = \
            f"next box due {due}: '.AB' types '{due} AB'   ·   {self.PLACEHOLDER}" if due \
            else self.PLACEHOLDER

    def current_row(self) -> MarRow | None:
        key = self.selected()
        number = key[1] if isinstance(key, tuple) else (key // ROW_LINES if key else None)
        return next((r for r in self.rows if r.row == number), None)

    def submit(self, text: str) -> None:
        if text.strip().startswith("+"):
            try:
                row = added_row(text.strip()[1:], self.rows)
            except KeyingError as e:
                self.say(str(e), error=True)
                return
            self.rows.append(row)
            self.fill()
            self.query_one("#lines").move_cursor(row=self.keys.index(("row", row.row)))
            self.clear_typed()
            self.say(f"row {row.row} added: {row.drug.text}; now type its doses")
            return
        super().submit(text)

    def build(self, text: str, now: datetime) -> tuple[Entry, list[str]]:
        typed = self.opened.typed
        if self.editing is not None:
            line = self.editing.entry.source.line
            row = next(r for r in self.rows if r.row == line // ROW_LINES)
        else:
            row = self.current_row()
            if row is None:
                raise KeyingError("no row: add the paper's row first (+ DRUG DOSE ROUTE)")
            line = next_row_line(row, typed)
        text = with_due_time(text, row, typed)
        entry = mar_entry(text, row, self.opened.context, line, now, self.revision())
        same = _taken_time(typed, [n for n in typed if n // ROW_LINES == row.row],
                           entry.paper_time, self.editing)
        if same is not None:
            raise KeyingError(f"{entry.paper_time.astimezone():%H%M} on this row is already "
                              f"typed (line {same}): choose it and F2 to correct it")
        return entry, []

    def line_text(self, entry: Entry) -> str:
        return entry_line_text(entry, {r.row: r for r in self.rows})

    def after_record(self) -> None:
        super().after_record()
        self.rows = rows_with_entries(self.rows, self.opened.typed)

    def fill(self) -> None:
        super().fill()
        self.show_due()


class VitalsScreen(EntryScreen):
    TITLE = "Vitals flowsheet"
    COLUMNS = ("Col", "Time", *(LABELS[m] for m in FLOWSHEET), "By")
    PLACEHOLDER = "1400 37.2 88 120/80 16 98 - - AB"
    HINT = ("One time column: TIME " + " ".join(LABELS[m] for m in FLOWSHEET) +
            " INITIALS; - for a blank cell. 98.6F for °F, 154lb for pounds.")

    def table_rows(self) -> list[tuple[Any, tuple]]:
        out = []
        for line, rec in self.opened.typed.items():
            e: VitalsRow = rec.entry
            by = {r.measure: r for r in e.readings}
            cells = [_cell(by.get(m)) for m in FLOWSHEET]
            out.append((line, (str(line), f"{e.paper_time.astimezone():%H%M}", *cells,
                               e.written_by.name + _revised(rec))))
        out.append(("new", ("+", "(next column)", *[""] * len(FLOWSHEET), "")))
        return out

    def build(self, text: str, now: datetime) -> tuple[Entry, list[str]]:
        typed = self.opened.typed
        if self.editing is not None:
            line = self.editing.entry.source.line
        else:
            line = max(typed, default=0) + 1
            if line > VITALS_COLUMNS:
                raise KeyingError(f"the flowsheet page has {VITALS_COLUMNS} columns, all "
                                  "typed: go on with its next page")
        entry, unusual = vitals_entry(text, self.opened.context, line, now, self.revision())
        same = _taken_time(typed, list(typed), entry.paper_time, self.editing)
        if same is not None:
            raise KeyingError(f"{entry.paper_time.astimezone():%H%M} is already typed (column "
                              f"{same}): choose it and F2 to correct it")
        return entry, unusual

    def line_text(self, entry: Entry) -> str:
        return entry_line_text(entry)


def _cell(r: Any) -> str:
    if r is None:
        return ""
    if r.diastolic is not None:
        return f"{r.value:g}/{r.diastolic:g}"
    return f"{r.value:g}" + {"[degF]": "F", "[lb_av]": "lb"}.get(r.unit, "")


class OrdersScreen(EntryScreen):
    TITLE = "Physician orders"
    COLUMNS = ("Line", "Time", "Order", "Prescriber", "Mode")
    PLACEHOLDER = "1430 ceftriaxone 1 g IV q24h JS   ·   … JS t rb by AB   ·   … prn pain"
    HINT = ("TIME DRUG DOSE ROUTE FREQUENCY PRESCRIBER; a verbal/telephone order: then v|t, "
            "rb (read back) and 'by' the nurse's initials; 'prn REASON' last.")

    def table_rows(self) -> list[tuple[Any, tuple]]:
        out = []
        for line, rec in self.opened.typed.items():
            e: PhysicianOrder = rec.entry
            order = f"{e.drug.text} {e.dose.value:g} {e.dose.unit} {e.route} {e.frequency}"
            if e.prn:
                order += f" PRN {e.prn_reason}"
            mode = e.mode if e.mode == "written" else \
                f"{e.mode}{', read back' if e.read_back else ''} (by {e.written_by.name})"
            out.append((line, (str(line), f"{e.paper_time.astimezone():%H%M}", order,
                               e.ordered_by.name, mode + _revised(rec))))
        out.append(("new", ("+", "", "(next order)", "", "")))
        return out

    def build(self, text: str, now: datetime) -> tuple[Entry, list[str]]:
        line = self.editing.entry.source.line if self.editing is not None else \
            max(self.opened.typed, default=0) + 1
        return order_entry(text, self.opened.context, line, now, self.revision()), []

    def line_text(self, entry: Entry) -> str:
        return entry_line_text(entry)

