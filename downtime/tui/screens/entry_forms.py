"""The back-entry screens with fields rather than one line: the progress note (its text,
time and author; Ctrl+S records) and the downtime registration (demographics; the downtime
MRN and encounter number come from the form's QR, not typed). Re-opening shows what was
recorded; recording again with changes is a correction (the next revision)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal
from textual.widgets import Input, Label, TextArea

from reconcile.entries import Entry, ProgressNote, Registration
from reconcile.keyed_entries import (
    REG_FIELDS,
    note_entry,
    registration_entry,
    registration_values,
)

from .entry_base import EntryScreen


class _FieldsScreen(EntryScreen):
    KEYS = "Tab next field · Ctrl+S record · F6 page in viewer · F9 page done · Esc back"
    BINDINGS = [Binding("ctrl+s", "save", "Record", priority=True)]

    def mounted(self) -> None:
        self.editing = self.opened.typed.get(1)
        if self.editing is not None:
            self.load(self.editing.entry)
            self.say("already typed: shown as recorded; changing it and Ctrl+S records a "
                     "correction")

    def action_save(self) -> None:
        self.submit("fields")

    def action_move(self, by: int) -> None:  # ↑↓ belong to the fields here
        area = self.focused
        if isinstance(area, TextArea):
            area.action_cursor_down() if by > 0 else area.action_cursor_up()
        elif by > 0:
            self.focus_next()
        else:
            self.focus_previous()

    def after_record(self) -> None:
        self.editing = self.opened.typed.get(1)

    def action_back(self) -> None:
        self.session.remove_viewer_copies()
        self.app.pop_screen()

    def focus_input(self) -> None:
        self.query(Input).first().focus()


class NoteScreen(_FieldsScreen):
    TITLE = "Progress note"
    COLUMNS = ("Line", "Time", "Author", "Note")
    HINT = "The time and the author (initials or name) as signed, then the note's text."

    def compose_input(self) -> ComposeResult:
        with Horizontal(id="note-head"):
            yield Input(id="note-time", placeholder="time (0930)")
            yield Input(id="note-author", placeholder="author (initials or name)")
            yield Input(id="note-title", placeholder="note type (Progress note)")
        yield TextArea(id="note-text")

    def table_rows(self) -> list[tuple[Any, tuple]]:
        rec = self.opened.typed.get(1)
        if rec is None:
            return [("new", ("+", "", "", "(not typed yet)"))]
        e: ProgressNote = rec.entry
        first = e.text.splitlines()[0] if e.text else ""
        return [(1, ("1", f"{e.paper_time.astimezone():%H%M}", e.written_by.name,
                     first[:60] + (f" (rev {e.revision})" if e.revision else "")))]

    def load(self, e: ProgressNote) -> None:
        self.query_one("#note-time", Input).value = f"{e.paper_time.astimezone():%H%M}"
        self.query_one("#note-author", Input).value = e.written_by.initials or \
            e.written_by.name
        self.query_one("#note-title", Input).value = e.title
        self.query_one("#note-text", TextArea).text = e.text

    @on(Input.Submitted)
    def next_field(self) -> None:
        self.focus_next()

    def build(self, text: str, now: datetime) -> tuple[Entry, list[str]]:
        return note_entry(self.query_one("#note-text", TextArea).text,
                          self.query_one("#note-time", Input).value,
                          self.query_one("#note-author", Input).value, self.opened.context,
                          now, self.revision(),
                          self.query_one("#note-title", Input).value), []


LABELS = {"family": "Family name", "given": "Given name(s)", "birth_date": "Date of birth",
          "sex": "Sex (m/f/o/u)", "address": "Address", "city": "City",
          "postal_code": "Postal code", "phone": "Phone", "arrived": "Arrived (time)",
          "registered_by": "Registered by"}


class RegistrationScreen(_FieldsScreen):
    TITLE = "Downtime registration"
    COLUMNS = ("Line", "Downtime MRN", "Encounter", "Name", "Born")
    KEYS = "Enter / Tab next field · Enter on the last (or Ctrl+S) records · F6 viewer · Esc"

    @property
    def HINT(self) -> str:  # noqa: N802 - the base reads it as a class text
        t = self.opened.target
        return f"Downtime MRN {t.patient_id} · encounter {t.encounter_id} (from the form's QR)"

    def compose_input(self) -> ComposeResult:
        with Grid(id="reg-grid"):
            for name in REG_FIELDS:
                yield Label(LABELS[name])
                yield Input(id=f"reg-{name}")

    def table_rows(self) -> list[tuple[Any, tuple]]:
        t = self.opened.target
        rec = self.opened.typed.get(1)
        if rec is None:
            return [("new", ("+", t.patient_id, t.encounter_id, "(not typed yet)", ""))]
        e: Registration = rec.entry
        return [(1, ("1", e.downtime_mrn, e.encounter_number,
                     f"{e.family}, {' '.join(e.given)}" + (f" (rev {e.revision})"
                                                           if e.revision else ""),
                     e.birth_date.isoformat() if e.birth_date else ""))]

    def load(self, e: Registration) -> None:
        for name, value in registration_values(e).items():
            self.query_one(f"#reg-{name}", Input).value = value

    @on(Input.Submitted)
    def next_field(self, event: Input.Submitted) -> None:
        if event.input.id == f"reg-{REG_FIELDS[-1]}":
            self.action_save()
        else:
            self.focus_next()

    def build(self, text: str, now: datetime) -> tuple[Entry, list[str]]:
        values = {n: self.query_one(f"#reg-{n}", Input).value for n in REG_FIELDS}
        return registration_entry(values, self.opened.context, now, self.revision()), []
