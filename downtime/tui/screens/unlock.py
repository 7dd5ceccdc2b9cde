"""Unlock: who you are, and the passphrase of this workstation's identity."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Vertical
from textual.screen import Screen
from textual.widgets import Button, Input, Label, Static

from snapshots.keys import KeyFileError, WrongPassphrase
from snapshots.sealed import SnapshotError

from ..widgets import DataAgeBar


class UnlockScreen(Screen):
    BINDINGS = [Binding("ctrl+q", "app.quit", "Quit", show=True)]

    def compose(self) -> ComposeResult:
        with Center(), Vertical(id="unlock-box"):
            yield Static("DOWNTIME CHART VIEWER", id="unlock-title")
            yield Static("Read-only copy of the record while the EHR is down.",
                         id="unlock-sub")
            yield Label("Your name or badge number")
            yield Input(placeholder="e.g. badge 4411", id="user")
            yield Label("Workstation passphrase")
            yield Input(placeholder="passphrase", password=True, id="passphrase")
            yield Button("Unlock", id="unlock", variant="primary")
            yield Static("", id="unlock-message")
            yield Static(f"{self.app.identity_path.name.removesuffix('.age')} · Tab next field"
                         " · Enter unlock · Ctrl+Q quit", id="unlock-hint")
        yield DataAgeBar(id="age")

    def on_mount(self) -> None:
        self.query_one("#user", Input).focus()  # the first unlock: nobody to go on as yet
        self.refresh_age()

    def refresh_age(self) -> None:
        self.query_one("#age", DataAgeBar).show(self.app.newest_data_age(),
                                                 "locked", "")

    @on(Input.Submitted, "#user")
    def _next(self) -> None:
        self.query_one("#passphrase", Input).focus()

    @on(Input.Submitted, "#passphrase")
    @on(Button.Pressed, "#unlock")
    def submit(self) -> None:
        user = self.query_one("#user", Input).value.strip()
        passphrase = self.query_one("#passphrase", Input).value
        if not user:
            self.message("Type your name or badge number first.", error=True)
            self.query_one("#user", Input).focus()
            return
        if not passphrase:
            self.message("Type the workstation passphrase.", error=True)
            self.query_one("#passphrase", Input).focus()
            return
        self.message("Unlocking… (checking the passphrase takes a second)")
        self.query_one("#unlock", Button).disabled = True
        self.unlock(user, passphrase)

    def message(self, text: str, error: bool = False) -> None:
        widget = self.query_one("#unlock-message", Static)
        widget.update(Text(text))
        widget.set_class(error, "error")

    @work(thread=True, exclusive=True, group="unlock", description="unlock")  # not the passphrase
    def unlock(self, user: str, passphrase: str) -> None:
        app = self.app
        try:
            session = app.open_session(user, passphrase)
        except WrongPassphrase:
            app.call_from_thread(self._failed, user,
                                 "Wrong passphrase. Try again, or ask the charge nurse.")
            return
        except (KeyFileError, SnapshotError, OSError) as e:
            app.call_from_thread(self._failed, user, f"Cannot open: {e}")
            return
        app.call_from_thread(app.unlocked, session)

    def _failed(self, user: str, text: str) -> None:
        self.app.audit("unlock-failed", user=user, detail=text.split(".")[0])
        self.message(text, error=True)
        self.query_one("#unlock", Button).disabled = False
        field = self.query_one("#passphrase", Input)
        field.value = ""
        field.focus()

    def reset(self, last_user: str) -> None:
        """After a lock (Ctrl+L or idle): going on as `last_user` is typing the
        passphrase, which has the focus, so what is typed at once goes into the hidden field;
        someone else goes back to the name (Shift+Tab selects it, typing replaces it)."""
        self.query_one("#user", Input).value = last_user
        self.query_one("#passphrase", Input).value = ""
        self.query_one("#unlock", Button).disabled = False
        self.message(f"Locked. To go on as {last_user}, type the passphrase.\n"
                     "Someone else: Shift+Tab, then your name.")
        self.query_one("#passphrase", Input).focus()
        self.refresh_age()
