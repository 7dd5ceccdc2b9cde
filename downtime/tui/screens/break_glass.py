"""Break glass: state why you need this patient's restricted records. The reason is logged."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

MIN_REASON = 8


class BreakGlassScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", show=True)]

    def __init__(self, patient_name: str) -> None:
        super().__init__()
        self.patient_name = patient_name

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="break-glass"):
            yield Static("BREAK GLASS — restricted records", classes="dialog-title")
            yield Static(Text(f"Patient: {self.patient_name}\nSome of this patient's records "
                              "are restricted (e.g. behavioral health). Showing them is logged "
                              "with your name and the reason you give."))
            yield Input(placeholder="Reason, e.g. treating clinician",
                        id="reason")
            yield Static("Enter: show restricted records    Esc: cancel", classes="hint")
            yield Static("", id="reason-message")

    def on_mount(self) -> None:
        self.query_one("#reason", Input).focus()

    @on(Input.Submitted, "#reason")
    def submit(self, event: Input.Submitted) -> None:
        reason = " ".join(event.value.split())
        if len(reason) < MIN_REASON:
            self.query_one("#reason-message", Static).update(
                "Please give a reason (a few words) — it goes in the audit log.")
            return
        self.dismiss(reason)

    def action_cancel(self) -> None:
        self.dismiss(None)
