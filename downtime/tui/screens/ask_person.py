"""Who are these initials? Asked when the unit's staff list has nobody, or several people,
with them: the clerk picks one (1-9) or types the name as the paper or the unit says. The
answer holds for the rest of the session (reconcile.keying.People), never guessed."""

from __future__ import annotations

import re

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from reconcile.entries import Person
from reconcile.staff import StaffMember


class AskPersonScreen(ModalScreen[Person | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, initials: str, candidates: tuple[StaffMember, ...],
                 unit: str | None) -> None:
        super().__init__()
        self.initials = initials
        self.candidates = candidates
        self.unit = unit

    def compose(self) -> ComposeResult:
        where = f"unit {self.unit}" if self.unit else "this unit"
        with Vertical(id="ask-box"):
            if self.candidates:
                yield Static(Text(f"{self.initials}: {len(self.candidates)} people of {where} "
                                  "have these initials. Who wrote it?", style="bold"))
                for n, m in enumerate(self.candidates[:9], 1):
                    yield Static(Text(f"  {n}  {m.name}" + (f" ({m.role})" if m.role else "")))
                yield Static("Type the number, or the person's name; Enter.")
            else:
                yield Static(Text(f"{self.initials}: nobody on {where}'s staff list has "
                                  "these initials. Who wrote it?", style="bold"))
                yield Static("Type the person's name (and role) as the unit tells you; "
                             "Enter. Asked once this session.")
            yield Input(id="who", placeholder="1, or a name")
            yield Static("", id="ask-message")

    def on_mount(self) -> None:
        self.query_one("#who", Input).focus()

    @on(Input.Submitted, "#who")
    def answered(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if text.isdigit() and 1 <= int(text) <= min(9, len(self.candidates)):
            self.dismiss(self.candidates[int(text) - 1].person(self.initials))
        elif re.fullmatch(r"[^\W\d_][\w .,'()-]*", text) and not re.search(r"\d", text) \
                and len(text.replace(".", "").replace(" ", "")) > len(self.initials) + 1:
            self.dismiss(Person(name=text, initials=self.initials))
        else:
            self.query_one("#ask-message", Static).update(Text(
                "A number from the list, or the whole name (letters: not initials again, no "
                "times).",
                style="bold red"))

    def action_cancel(self) -> None:
        self.dismiss(None)
