"""Offer to switch to a newer snapshot that the agent has just installed."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class SwitchScreen(ModalScreen[bool]):
    BINDINGS = [Binding("y", "answer(True)", "Switch now", show=True),
                Binding("enter", "answer(True)", show=False),
                Binding("n", "answer(False)", "Not now", show=True),
                Binding("escape", "answer(False)", show=False)]

    def __init__(self, description: str) -> None:
        super().__init__()
        self.description = description

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static("NEWER DATA AVAILABLE", classes="dialog-title")
            yield Static(Text(self.description))
            yield Static("The patient on screen stays on screen.\n\n"
                         "Y / Enter: switch now     N / Esc: not now", classes="hint")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
