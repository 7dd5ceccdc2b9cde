"""Print from the TUI: the open patient's forms, or the unit's packet (forms/ does the work)."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, RadioButton, RadioSet, Static
from textual.worker import Worker

from forms.delivery import PrintedNotAudited, PrintedNotRecorded

from ..errors import WorkerErrors, in_thread

PAPER_SIZES = ("Letter", "A4")
PRINTERS_WIDTH = 60  # the dialog's inner width (downtime.tcss: #dialog 64, padding 0 1)
EXTRA_TITLES = {"packet": "Unit packet (census, then every patient's forms)"}


def printers_line(names: list[str], width: int = PRINTERS_WIDTH) -> str:
    """The CUPS queues there are, on the dialog's one line: as many names as fit, then how
    many more (a hospital has hundreds; the printer field completes them as they are typed)."""
    if not names:
        return "no printers set up here"
    line = f"printers here: {', '.join(names)}"
    if len(line) <= width:
        return line
    if len(names) == 1:
        return line[:width - 1] + "…"
    for shown in range(len(names) - 1, 0, -1):
        line = f"printers here: {', '.join(names[:shown])} … +{len(names) - shown} (type to " \
               "complete)"
        if len(line) <= width:
            return line
    return f"{len(names)} printers here: type the start of a name to complete it"


class ChoiceSet(RadioSet):
    """A radio set whose arrow keys choose, as a browser's radio group does, and whose Enter
    prints. Textual's moves only a highlight with the arrows and toggles on Enter: a nurse
    pressing down to "Unit packet", then Enter, got the unit census."""

    BINDINGS = [Binding("down,right", "choose_next", "Next option", show=False),
                Binding("up,left", "choose_previous", "Previous option", show=False),
                Binding("enter", "screen.print", "Print", show=False)]

    # not overriding action_next_button: the set calls that on mount to place its highlight
    def action_choose_next(self) -> None:
        self.action_next_button()
        self.action_toggle_button()

    def action_choose_previous(self) -> None:
        self.action_previous_button()
        self.action_toggle_button()


class PrintScreen(WorkerErrors, ModalScreen[None]):
    BINDINGS = [Binding("escape", "close", "Close", show=True)]

    def __init__(self, patient_id: str | None, unit: str, title: str) -> None:
        super().__init__()
        self.patient_id = patient_id
        self.unit = unit
        self.title_text = title
        self.busy = False
        self.done = 0  # finished jobs (tests wait on it)

    def compose(self) -> ComposeResult:
        from forms.kinds import PATIENT_KINDS, TITLES, UNIT_KINDS

        kinds = PATIENT_KINDS if self.patient_id else UNIT_KINDS
        with Vertical(id="dialog", classes="print"):
            yield Static(Text(f"PRINT — {self.title_text}"), classes="dialog-title")
            with ChoiceSet(id="kind"):
                for i, kind in enumerate(kinds):
                    yield RadioButton(TITLES.get(kind) or EXTRA_TITLES.get(kind, kind),
                                      value=(i == 0), name=kind)
            with ChoiceSet(id="paper"):
                for size in PAPER_SIZES:
                    yield RadioButton(size, value=(size == self.app.workstation.paper),
                                      name=size)
            yield Input(self.app.workstation.default_printer or "",
                        placeholder="Printer (CUPS queue name)", id="printer")
            yield Static("", id="printers")
            yield Input(placeholder="…or save a PDF to this file instead", id="pdf")
            yield Static("↑↓ choose · Tab next · Enter print · Esc close", classes="hint")
            yield Static("", id="print-status")

    def on_mount(self) -> None:
        self.query_one("#kind", RadioSet).focus()
        self.list_printers()

    @in_thread(group="printers")
    def list_printers(self) -> None:
        """The queues there are, so nobody has to know CUPS names by heart."""
        from forms.printing import list_printers

        names = list_printers()
        self.app.call_from_thread(self._show_printers, printers_line(names), names)

    def _show_printers(self, text: str, names: list[str]) -> None:
        if self.is_mounted:
            self.query_one("#printers", Static).update(Text(text))
            # typing the start of a queue's name offers the rest (→ or End takes it)
            self.query_one("#printer", Input).suggester = SuggestFromList(
                names, case_sensitive=False)

    def kind(self) -> str:
        pressed = self.query_one("#kind", RadioSet).pressed_button
        return pressed.name if pressed is not None and pressed.name else "facesheet"

    def paper(self) -> str:
        pressed = self.query_one("#paper", RadioSet).pressed_button
        return pressed.name if pressed is not None and pressed.name else \
            self.app.workstation.paper

    def status(self, text: str, error: bool = False) -> None:
        widget = self.query_one("#print-status", Static)
        widget.update(Text(text))
        widget.set_class(error, "error")

    def action_print(self) -> None:  # Enter on a choice (an input's Enter submits itself)
        self.submit()

    @on(Input.Submitted)
    def submit(self) -> None:
        if self.busy:
            return
        printer = self.query_one("#printer", Input).value.strip() or None
        pdf = self.query_one("#pdf", Input).value.strip() or None
        if bool(printer) == bool(pdf):
            self.status("Type a printer name, or a PDF file to save — one of the two.", True)
            return
        self.busy = True
        self.status("Preparing…")
        self.run_job(self.kind(), printer, Path(pdf).expanduser() if pdf else None,
                     self.paper())

    @in_thread(group="print")
    def run_job(self, kind: str, printer: str | None, pdf: Path | None, paper: str) -> None:
        app, session = self.app, self.app.session
        if session is None:
            return  # locked before the job started
        message = app.workstation.print_job(
            session, kind, self.unit, self.patient_id, printer, pdf,
            lambda d, t: app.call_from_thread(self._progress, f"Preparing… {d} of {t}"),
            paper=paper)
        app.call_from_thread(self._finished, message, False)
        app.call_from_thread(app.check_audit_writer)  # its entries may be in the spool

    def worker_failed(self, worker: Worker, text: str, error: BaseException | None) -> None:
        if worker.group == "printers":  # no CUPS here, or it does not answer: say which
            self._show_printers(text, [])
        elif isinstance(error, PrintedNotRecorded | PrintedNotAudited):
            self._finished(text, True)  # out of the printer: not "Not printed"
        else:  # forms, CUPS, registry or disk: say it plainly
            self._finished(f"Not printed: {text}", True)

    def _progress(self, text: str) -> None:
        if self.is_mounted:
            self.status(text)

    def _finished(self, message: str, error: bool) -> None:
        if not self.is_mounted:
            return  # locked while printing: the result is in the audit log and registry
        self.busy = False
        self.done += 1
        self.status(message, error)

    def action_close(self) -> None:
        self.dismiss(None)
