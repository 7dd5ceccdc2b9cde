"""The clerk's start: unlock with the HIM identity (browse's unlock screen, its rules on
names and passphrases unchanged), then scan a page's QR code (a handheld scanner types the
payload and Enter) or type its form id; F4 the needs-indexing queue."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Vertical
from textual.screen import Screen
from textual.widgets import Input, Label, Static
from textual.worker import Worker

from ..errors import WorkerErrors, in_thread
from ..widgets import KeysBar
from .unlock import UnlockScreen


class ClerkUnlockScreen(UnlockScreen):
    def on_mount(self) -> None:  # after UnlockScreen's own (Textual calls each class's)
        self.query_one("#unlock-title", Static).update("DOWNTIME BACK-ENTRY")
        self.query_one("#unlock-sub", Static).update(
            "Type the paper back into the episode. Health-information station.")
        self.query(Label)[1].update("HIM station passphrase")

    def refresh_age(self) -> None:
        """No snapshot's age here: what unlocking opens is the episode."""
        self.query_one("#age", Static).update(" locked · unlocking opens the open episode")


class FormPickScreen(WorkerErrors, Screen):
    BINDINGS = [Binding("f4", "queue", "Needs indexing"),
                Binding("ctrl+l", "app.lock", "Lock"),
                Binding("ctrl+q", "app.quit", "Quit")]

    def compose(self) -> ComposeResult:
        with Center(), Vertical(id="pick-box"):
            yield Static("SCAN A PAGE", id="pick-title")
            yield Static("Scan the QR code of the page to type (the scanner types it), or "
                         "type its form id and page: DT-XXXXXXXXXX 2")
            yield Input(id="form", placeholder="scan, or DT-XXXXXXXXXX [page]")
            yield Static("", id="pick-message")
            yield Static("", id="pick-episode")
        yield KeysBar("Enter open · F4 needs indexing · Ctrl+L lock · Ctrl+Q quit", id="keys")

    def on_mount(self) -> None:
        self.query_one("#form", Input).focus()
        self.show_episode()

    def on_screen_resume(self) -> None:
        self.query_one("#form", Input).focus()
        self.show_episode()

    def show_episode(self) -> None:
        s = self.app.session
        if s is None:
            return
        state = s.state
        self.query_one("#pick-episode", Static).update(Text(
            f"episode {s.episode.id} · {state.window.text() if state.window else ''} · "
            f"{len(state.entries)} lines typed · clerk {s.user}", style="dim"))

    def say(self, text: str, error: bool = False) -> None:
        widget = self.query_one("#pick-message", Static)
        widget.update(Text(text))
        widget.set_class(error, "error")

    @on(Input.Submitted, "#form")
    def scanned(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.say("opening…")
            self.open_page(event.value)

    @in_thread(group="open-page")
    def open_page(self, text: str) -> None:
        opened = self.app.session.open_page(text)
        self.app.call_from_thread(self._opened, opened)

    def _opened(self, opened) -> None:  # noqa: ANN001 - clerk.Opened
        self.query_one("#form", Input).value = ""
        self.say("")
        self.app.open_entry(opened)

    def worker_failed(self, worker: Worker, text: str, error: BaseException | None) -> None:
        self.say(text, error=True)  # the text stays in the field, to be fixed

    def action_queue(self) -> None:
        from .indexing import IndexingScreen

        self.app.push_screen(IndexingScreen())
