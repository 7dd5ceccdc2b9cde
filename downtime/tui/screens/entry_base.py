"""What every back-entry screen shares: the patient header, the scanned page beside the fields
(drawn in the terminal where it can be; F6 hands it to the system viewer), the lines typed
so far (re-opening a page shows them), one input line, the message line that refuses bad
input in one line (the text stays to be fixed: nothing typed is lost), the person asked
for initials the staff list does not settle (once a session), F9 page done.

A kind's screen (entry_kinds.py, entry_forms.py) says how a typed line becomes an entry
(`build`) and how the table shows the lines; journal writes and page decryption run in
workers (errors.py routes their failures to the message line).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, Static
from textual.worker import Worker

from reconcile.entries import Entry, EntryError
from reconcile.keying import AskWho, KeyingError

from ..errors import WorkerErrors, in_thread
from ..formatting import allergy_line
from ..widgets import KeysBar, PlainTable
from .ask_person import AskPersonScreen

if TYPE_CHECKING:
    from ..clerk import Banner, ClerkSession, Opened

PAGE_PANE_MIN_WIDTH = 120  # narrower terminals show the page on F7, not beside the fields


def banner_text(b: Banner, width: int) -> Text:
    """Name, MRN, DOB, bed; the allergy line as the chart shows it, or plainly that it is
    not known here (never "none")."""
    line = Text()
    line.append(f" {b.name} ", style="bold reverse")
    line.append(f"  MRN {b.mrn or '—'}", style="bold")
    line.append(f"  DOB {b.birth_date or 'not available'}")
    line.append(f"  Bed {b.bed or '—'}", style="bold")
    if b.name_alert:
        line.append("  ⚠ NAME ALERT", style="bold black on yellow")
    if b.allergy is not None:
        allergies = allergy_line(b.allergy, width)
    else:
        allergies = Text(" ALLERGIES NOT AVAILABLE HERE — check the paper and the chart ",
                         style="bold black on yellow")
    source = Text(f" {b.source}", style="dim" if b.allergy is not None else "bold")
    return Text("\n").join([line, allergies, source])


class LineInput(Input):
    """The input line. Enter is taken here, in key order: the line is what was typed before
    it, and the input is empty for the next at once. (Input's own Enter is a binding, run
    after keys already queued: in a burst, a scanner's or a fast typist's, the next line's
    first characters were read as this line's end.)"""

    class Entered(Message):
        def __init__(self, value: str) -> None:
            super().__init__()
            self.value = value

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            value, self.value = self.value, ""
            self.post_message(self.Entered(value))
            return
        await super()._on_key(event)


class EntryScreen(WorkerErrors, Screen):
    BINDINGS = [
        Binding("escape", "back", "Back / cancel edit"),
        Binding("f2", "edit", "Correct line"),
        Binding("f6", "viewer", "Page in viewer"),
        Binding("f7", "toggle_page", "Page pane"),
        Binding("f9", "done", "Page done"),
        Binding("up", "move(-1)", show=False, priority=True),
        Binding("down", "move(1)", show=False, priority=True),
        Binding("shift+up", "move_line(-1)", show=False, priority=True),
        Binding("shift+down", "move_line(1)", show=False, priority=True),
    ]
    HINT = ""
    KEYS = "Enter record · ↑↓ line · F2 correct · F6 page in viewer · F9 page done · Esc back"

    def __init__(self, opened: Opened) -> None:
        super().__init__()
        self.opened = opened
        self.editing: Any = None  # the Recorded being corrected, or None: a new line
        self.confirming: str | None = None  # the text whose unusual values await Enter again
        self.busy = False
        self.asking = False  # who-is-it asked about a line
        self.waiting: list[str] = []  # lines Entered while one before was written or asked
        self.shown_page = False

    @property
    def session(self) -> ClerkSession:
        return self.app.session

    def compose(self) -> ComposeResult:
        t = self.opened.target
        yield Static(id="entry-banner")
        with Horizontal(id="entry-body"):
            with Vertical(id="entry-fields"):
                yield Static(f" {self.TITLE} {t.form_id} page {t.page}", id="entry-title")
                yield PlainTable(id="lines", cursor_type="row", zebra_stripes=True)
                yield Static(Text(self.HINT), id="entry-hint")
                yield from self.compose_input()
                yield Static("", id="entry-message")
            with Vertical(id="entry-page"):
                yield Static("", id="entry-page-note")
        yield KeysBar(self.KEYS, id="keys")

    def compose_input(self) -> ComposeResult:
        yield LineInput(id="line", placeholder=self.PLACEHOLDER)

    def on_mount(self) -> None:
        # the one on_mount of the entry screens (Textual calls each class's own): the kinds
        # hook in through prepare() and mounted()
        self.prepare()
        self.query_one("#entry-banner", Static).update(
            banner_text(self.opened.banner, self.app.size.width or 80))
        table = self.query_one("#lines", PlainTable)
        table.add_columns(*self.COLUMNS)
        self.fill()
        self.show_page_pane(self.app.size.width >= PAGE_PANE_MIN_WIDTH)
        if self.opened.done:
            self.say(f"page marked done by {self.opened.done.get('person')}: corrections "
                     "still go in as new revisions")
        self.focus_input()
        self.mounted()

    def prepare(self) -> None:
        """Before the table is filled."""

    def mounted(self) -> None:
        """Once the screen is filled."""

    def focus_input(self) -> None:
        self.query_one("#line", Input).focus()

    # --- the table ----------------------------------------------------------------------------

    def fill(self) -> None:
        """(Re)draw the lines; keep the cursor where it was."""
        table = self.query_one("#lines", PlainTable)
        row = table.cursor_row
        table.clear()
        self.keys: list[Any] = []
        for key, cells in self.table_rows():
            self.keys.append(key)
            table.add_row(*cells)
        if self.keys:
            table.move_cursor(row=min(max(row, 0), len(self.keys) - 1))

    def selected(self) -> Any:
        table = self.query_one("#lines", PlainTable)
        return self.keys[table.cursor_row] if self.keys and table.cursor_row >= 0 else None

    def action_move(self, by: int) -> None:
        self.action_move_line(by)

    def action_move_line(self, by: int) -> None:
        """One line of the table up or down (every line, typed ones too)."""
        table = self.query_one("#lines", PlainTable)
        if self.keys:
            table.move_cursor(row=min(max(table.cursor_row + by, 0), len(self.keys) - 1))

    # --- typing -------------------------------------------------------------------------------

    def say(self, text: str, error: bool = False) -> None:
        widget = self.query_one("#entry-message", Static)
        widget.update(Text(text))
        widget.set_class(error, "error")

    @on(Input.Submitted, "#line")
    def submitted(self, event: Input.Submitted) -> None:
        """Enter pressed: LineInput has already taken the line (LineInput.Entered)."""
        event.stop()

    @on(LineInput.Entered)
    def entered(self, event: LineInput.Entered) -> None:
        self.line_entered(event.value)

    def line_entered(self, text: str) -> None:
        """Enter in the input line (a kind with fields takes it as one field's value)."""
        self.submit(text)

    def submit(self, text: str) -> None:
        if self.busy or self.asking:  # typed ahead: taken in order once the line before is
            self.waiting.append(text)
            return
        if not text.strip():
            self.say("Type the line as written on the paper (see the hint above).", True)
            return
        now = self.session.now()
        try:
            entry, unusual = self.build(text, now)
        except AskWho as ask:
            self.ask(ask, text)
            return
        except (KeyingError, EntryError) as e:
            self.confirming = None
            self.give_back(text)
            self.say(str(e) + self.still_waiting(), error=True)
            return
        if unusual and self.confirming != text:
            self.confirming = text
            self.give_back(text)
            self.say("CHECK: " + "; ".join(unusual) + ". Enter again to record it as "
                     "written, or fix the line." + self.still_waiting(), error=True)
            return
        self.confirming = None
        self.busy = True
        self.pending = text
        self.clear_typed()  # what is typed from now on is the next line's
        self.record([entry])

    def clear_typed(self) -> None:
        """Nothing to do: LineInput emptied itself at the Enter (what is there now was typed
        after it, for the next line)."""

    def still_waiting(self) -> str:
        n = len(self.waiting)
        return f" ({n} line{'s' if n > 1 else ''} typed after it wait: taken once this one " \
            "is recorded)" if n else ""

    def next_waiting(self) -> None:
        if self.waiting and not self.busy and not self.asking:
            self.submit(self.waiting.pop(0))

    def give_back(self, text: str) -> None:
        """A line refused (or waiting to be confirmed) goes back into the input to be fixed,
        before anything typed since its Enter: nothing typed is lost."""
        for field in self.query("#line"):
            if field.value != text:
                field.value = text + (" " + field.value if field.value else "")
            field.cursor_position = len(text)

    def ask(self, ask: AskWho, text: str) -> None:
        unit = self.opened.target.unit

        def answered(person: Any) -> None:
            self.asking = False
            if person is None:
                self.give_back(text)
                self.say(f"{ask.initials}: not recorded until you say who it is."
                         + self.still_waiting(), True)
                self.focus_input()
                return
            self.session.people.answer(unit, ask.initials, person)
            self.focus_input()
            self.submit(text)

        self.asking = True
        self.app.push_screen(AskPersonScreen(ask.initials, ask.candidates, unit), answered)

    def build(self, text: str, now: Any) -> tuple[Entry, list[str]]:
        raise NotImplementedError

    @in_thread(group="record")
    def record(self, entries: list[Entry]) -> None:
        new = self.session.record(entries, self.opened.page_id)
        typed = self.session.typed(self.opened.target)
        self.app.call_from_thread(self._recorded, entries, new, typed)

    def _recorded(self, entries: list[Entry], new: int, typed: dict) -> None:
        self.busy = False
        self.opened.typed = typed
        e = entries[0]
        if not new:
            self.say(f"line {e.source.line}: already typed as it stands (nothing added)")
        elif e.revision:
            self.say(f"line {e.source.line}: correction recorded (revision {e.revision})")
        else:
            self.say(f"line {e.source.line} recorded")
        self.editing = None
        self.after_record()
        self.fill()
        self.focus_input()
        self.next_waiting()

    def after_record(self) -> None:
        pass

    def worker_failed(self, worker: Worker, text: str, error: BaseException | None) -> None:
        """The journal write failed: the line goes back into the input (or, when the next
        one is being typed already, the message quotes it), so nothing typed is lost."""
        self.busy = False
        pending = getattr(self, "pending", "")
        if worker.group == "record" and pending:
            field = self.query(Input).first()
            if not field.value and field.id == "line":
                field.value = pending
                self.say(f"NOT RECORDED: {text}", error=True)
            else:
                self.say(f"NOT RECORDED: {pending!r}: {text}", error=True)
            return
        self.say(text, error=True)

    # --- corrections --------------------------------------------------------------------------

    def action_edit(self) -> None:
        rec = self.selected_recorded()
        if rec is None:
            self.say("Choose a typed line (↑↓) to correct.", True)
            return
        self.editing = rec
        self.load_for_edit(rec)
        self.say(f"correcting line {rec.entry.source.line} (revision "
                 f"{rec.entry.revision + 1} when recorded); Esc to cancel")

    def selected_recorded(self) -> Any:
        key = self.selected()
        return self.opened.typed.get(key) if isinstance(key, int) else None

    def load_for_edit(self, rec: Any) -> None:
        field = self.query_one("#line", Input)
        field.value = self.line_text(rec.entry)
        field.cursor_position = len(field.value)
        self.focus_input()

    def revision(self) -> int:
        return self.editing.entry.revision + 1 if self.editing is not None else 0

    def action_back(self) -> None:
        if self.editing is not None:
            self.editing = None
            for field in self.query("#line"):
                field.value = ""
            self.say("correction cancelled")
            return
        self.session.remove_viewer_copies()
        self.app.pop_screen()

    # --- the page -----------------------------------------------------------------------------

    def action_done(self) -> None:
        self.mark_done(len(self.opened.typed))

    @in_thread(group="record")
    def mark_done(self, lines: int) -> None:
        self.session.page_done(self.opened.target, lines)
        self.app.call_from_thread(self.say, f"page {self.opened.target.page} marked done "
                                  f"({lines} lines)")

    def action_viewer(self) -> None:
        if self.opened.page_id is None:
            self.say("This page is not scanned into the episode yet: type from the paper.",
                     True)
            return
        self.open_viewer()

    @in_thread(group="page")
    def open_viewer(self) -> None:
        self.session.open_in_viewer(self.opened.page_id, self.app.viewer)
        self.app.call_from_thread(self.say, "page opened in the viewer (its copy is in "
                                  "memory, removed when you leave this form)")

    def action_toggle_page(self) -> None:
        self.show_page_pane(not self.shown_page)

    def show_page_pane(self, show: bool) -> None:
        pane = self.query_one("#entry-page")
        note = self.query_one("#entry-page-note", Static)
        pane.display = show
        self.shown_page = show
        if not show:
            return
        if self.opened.page_id is None:
            note.update(Text("This page is not scanned into the episode yet.", style="bold"))
        elif not self.query("#page-image"):
            note.update(Text("loading the scanned page…"))
            self.load_page()

    @in_thread(group="page")
    def load_page(self) -> None:
        image = self.session.page_image(self.opened.page_id)
        self.app.call_from_thread(self._show_image, image)

    def _show_image(self, image: Any) -> None:
        note = self.query_one("#entry-page-note", Static)
        widget = page_widget(image)
        if widget is None:
            note.update(Text("This terminal cannot draw the page: F6 opens it in the "
                             "viewer."))
            return
        note.update(Text("the scanned page · F6 opens it in the viewer", style="dim"))
        self.query_one("#entry-page").mount(widget)


def page_widget(image: Any) -> Any:
    """The page as a widget (textual-image: Kitty/Sixel where the terminal has them, else
    half-cell blocks), or None when textual-image is not installed."""
    try:
        from textual_image.widget import Image
    except ImportError:
        return None
    return Image(image, id="page-image")
