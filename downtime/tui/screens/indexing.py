"""The needs-indexing queue (pages no code named): choose one, say where it belongs (a form
and page, or a patient), and it is filed (reconcile.filing.Filer.index: a page-indexed
event). F6 shows the page in the system viewer."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Input, Static
from textual.worker import Worker

from reconcile.localtime import local_text

from ..errors import WorkerErrors, in_thread
from ..widgets import KeysBar, PlainTable


class IndexingScreen(WorkerErrors, Screen):
    BINDINGS = [Binding("escape", "back", "Back"), Binding("f6", "viewer", "Page in viewer"),
                Binding("up", "move(-1)", show=False, priority=True),
                Binding("down", "move(1)", show=False, priority=True)]

    def compose(self) -> ComposeResult:
        yield Static(" NEEDS INDEXING: pages no code named", id="queue-title")
        yield PlainTable(id="queue", cursor_type="row", zebra_stripes=True)
        yield Static(Text("On the page chosen (↑↓): DT-XXXXXXXXXX PAGE (its form), or patient ID "
                     "[ENCOUNTER]; Enter files it."), id="queue-hint")
        yield Input(id="where", placeholder="DT-XXXXXXXXXX 2   ·   patient MRN0000101")
        yield Static("", id="queue-message")
        yield KeysBar("Enter file · ↑↓ page · F6 page in viewer · Esc back", id="keys")

    last = ""  # what the last page filed became

    def on_mount(self) -> None:
        self.query_one("#queue", PlainTable).add_columns("Page", "Came in", "From", "Why")
        self.load()
        self.query_one("#where", Input).focus()

    @in_thread(group="queue")
    def load(self) -> None:
        pages = self.app.session.queue()
        self.app.call_from_thread(self._show, pages)

    def _show(self, pages) -> None:  # noqa: ANN001 - list[PageState]
        self.pages = pages
        table = self.query_one("#queue", PlainTable)
        table.clear()
        for p in pages:
            table.add_row(p.page_id, local_text(p.at), p.where(), p.placement.why or "")
        if not pages:
            self.say(" · ".join(x for x in (self.last, "Nothing waits for indexing.") if x))

    def action_move(self, by: int) -> None:
        table = self.query_one("#queue", PlainTable)
        if getattr(self, "pages", None):
            table.move_cursor(row=min(max(table.cursor_row + by, 0), len(self.pages) - 1))

    def chosen(self):  # noqa: ANN201 - PageState | None
        table = self.query_one("#queue", PlainTable)
        pages = getattr(self, "pages", [])
        return pages[table.cursor_row] if pages and 0 <= table.cursor_row < len(pages) \
            else None

    def say(self, text: str, error: bool = False) -> None:
        widget = self.query_one("#queue-message", Static)
        widget.update(Text(text))
        widget.set_class(error, "error")

    @on(Input.Submitted, "#where")
    def file_it(self, event: Input.Submitted) -> None:
        page = self.chosen()
        if page is None:
            self.say("No page chosen.", True)
            return
        self.index(page.page_id, event.value)

    @in_thread(group="index")
    def index(self, page_id: str, text: str) -> None:
        outcome = self.app.session.index(page_id, text)
        self.app.call_from_thread(self._indexed, outcome.line)

    def _indexed(self, line: str) -> None:
        self.query_one("#where", Input).value = ""
        self.last = line
        self.say(line)
        self.load()

    def worker_failed(self, worker: Worker, text: str, error: BaseException | None) -> None:
        self.say(text, error=True)

    def action_viewer(self) -> None:
        page = self.chosen()
        if page is not None:
            self.view(page.page_id)

    @in_thread(group="view")
    def view(self, page_id: str) -> None:
        self.app.session.open_in_viewer(page_id, self.app.viewer)

    def action_back(self) -> None:
        self.app.session.remove_viewer_copies()
        self.app.pop_screen()
