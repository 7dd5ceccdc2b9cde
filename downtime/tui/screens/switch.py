"""Offer to switch to a newer snapshot that the agent has just installed.

It pops up over whatever the nurse is doing, maybe typing a name into the census filter, so
it answers to no letter key: a typed "n" must not decline it unseen. F5 or Enter switch, Esc
puts it off (the data-age bar keeps saying newer data is there; F5 switches any time)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class SwitchScreen(ModalScreen[bool]):
    BINDINGS = [Binding("f5", "answer(True)", "Switch now", show=True),
                Binding("enter", "answer(True)", show=False),
                Binding("escape", "answer(False)", "Not now", show=True)]

    def __init__(self, description: str) -> None:
        super().__init__()
        self.description = description

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static("NEWER DATA AVAILABLE", classes="dialog-title")
            yield Static(Text(self.description))
            yield Static("The patient on screen stays on screen.\n\n"
                         "F5 / Enter: switch now     Esc: later (F5 any time)",
                         classes="hint")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
