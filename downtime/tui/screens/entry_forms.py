"""The back-entry screens with fields rather than one line: the progress note (its text,
time and author; Ctrl+S records) and the downtime registration (demographics; the downtime
MRN and encounter number come from the form's QR, not typed). Re-opening shows what was
recorded; recording again with changes is a correction (the next revision)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal
from textual.widget import Widget
from textual.widgets import Input, Static, TextArea

from reconcile.entries import Entry, ProgressNote, Registration
from reconcile.keyed_entries import (
    REG_FIELDS,
    note_entry,
    registration_entry,
    registration_values,
)

from .entry_base import EntryScreen, LineInput


class FieldInput(Input):
    """A field that moves the focus on at Enter or Tab itself, to the next field, and hands
    that field the keys still queued here: Textual queues each key to the widget focused
    when it arrives, so a fast typist's "Doe⏎Jane" would otherwise put "Jane" in the family
    name too (the unlock screen's NameInput does the same for the passphrase)."""

    hand_to: Widget | None = None  # the next field, once Enter or Tab went through

    async def _on_key(self, event: events.Key) -> None:
        if self.hand_to is not None:
            event.stop()
            event.prevent_default()
            self.hand_to.post_message(events.Key(event.key, event.character))
            return
        if event.key in ("tab", "enter"):
            chain = self.screen.focus_chain
            at = chain.index(self) if self in chain else -1
            following = chain[at + 1] if 0 <= at < len(chain) - 1 else None
            if following is not None and not getattr(self, "last_field", False):
                self.hand_to = following
                self.screen.set_focus(following)
                if event.key == "tab":
                    event.stop()
                    event.prevent_default()
                    return
        await super()._on_key(event)

    def _on_focus(self, event: events.Focus) -> None:
        self.hand_to = None
        super()._on_focus(event)


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

    def clear_typed(self) -> None:  # the fields stay: they show what was recorded
        pass

    def give_back(self, text: str) -> None:  # the fields keep what was typed
        pass

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
            yield FieldInput(id="note-time", placeholder="time (0930)")
            yield FieldInput(id="note-author", placeholder="author (initials or name)")
            yield FieldInput(id="note-title", placeholder="note type (Progress note)")
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


class RegistrationScreen(EntryScreen):
    """The registration's fields typed one after the other in the one input line (Enter
    takes the value and goes to the next field; ↑ goes back): one widget takes every key,
    so a fast typist's keys never land in the wrong field."""

    TITLE = "Downtime registration"
    COLUMNS = ("Line", "Downtime MRN", "Encounter", "Name", "Born")
    KEYS = "Enter next field (records after the last) · ↑↓ field · Ctrl+S record · F6 · Esc"
    BINDINGS = [Binding("ctrl+s", "save", "Record", priority=True)]
    PLACEHOLDER = ""

    @property
    def HINT(self) -> str:  # noqa: N802 - the base reads it as a class text
        t = self.opened.target
        return f"Downtime MRN {t.patient_id} · encounter {t.encounter_id} (from the form's QR)"

    def compose_input(self) -> ComposeResult:
        with Grid(id="reg-grid"):
            for name in REG_FIELDS:
                yield Static(Text(f"{LABELS[name]}:", style="bold"))
                yield Static("", id=f"reg-{name}")
        yield LineInput(id="line")

    def prepare(self) -> None:
        self.values = dict.fromkeys(REG_FIELDS, "")
        self.at = 0

    def mounted(self) -> None:
        self.editing = self.opened.typed.get(1)
        if self.editing is not None:
            self.values = registration_values(self.editing.entry)
            self.say("already typed: shown as recorded; changing it and recording it again "
                     "is a correction")
        self.show_fields()

    def show_fields(self) -> None:
        for n, name in enumerate(REG_FIELDS):
            self.query_one(f"#reg-{name}", Static).update(Text(
                ("▶ " if n == self.at else "  ") + self.values[name],
                style="reverse" if n == self.at else ""))
        field = self.query_one("#line", Input)
        field.placeholder = LABELS[REG_FIELDS[self.at]]
        if not field.value:  # else typed already, after the Enter: the next field's
            field.value = self.values[REG_FIELDS[self.at]]
        field.cursor_position = len(field.value)

    def keep(self) -> None:
        self.values[REG_FIELDS[self.at]] = self.query_one("#line", Input).value.strip()

    def line_entered(self, text: str) -> None:
        self.values[REG_FIELDS[self.at]] = text.strip()
        if self.at == len(REG_FIELDS) - 1:
            self.submit("fields")
            return
        self.at += 1
        self.show_fields()

    def action_move(self, by: int) -> None:
        self.keep()
        self.query_one("#line", Input).value = ""
        self.at = min(max(self.at + by, 0), len(REG_FIELDS) - 1)
        self.show_fields()

    def action_save(self) -> None:
        self.keep()
        self.submit("fields")

    def clear_typed(self) -> None:  # the fields stay: they show what was recorded
        pass

    def give_back(self, text: str) -> None:  # the fields keep what was typed
        pass

    def after_record(self) -> None:
        self.editing = self.opened.typed.get(1)

    def action_back(self) -> None:
        self.session.remove_viewer_copies()
        self.app.pop_screen()

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

    def build(self, text: str, now: datetime) -> tuple[Entry, list[str]]:
        return registration_entry(self.values, self.opened.context, now, self.revision()), []
