"""Unlock: who you are, and the passphrase of this workstation's identity.

What is typed in the name field goes into the audit log (and its FHIR export); what is typed
in the passphrase field must go nowhere. The two meet when someone types the passphrase into
the name field, which is what a nurse does who types it straight away after a lock if the
name field has the focus. So:

- after a lock the last user's name stays filled in and the passphrase field has the focus:
  going on is just typing the passphrase; someone else goes back (Shift+Tab) and types their
  name over the old one;
- a name is written to the log only once it is known not to be the passphrase: the
  passphrase field opened the identity (and the name is not the same text), or the name
  itself does not open it (a second KDF, in the worker, on a failed attempt only), or a
  successful unlock has logged that name already. Otherwise the attempt is logged without
  it, the name field is cleared (it shows the passphrase in clear) and the screen says why.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Vertical
from textual.screen import Screen
from textual.widgets import Button, Input, Label, Static
from textual.worker import Worker

from snapshots.errors import ToolkitError
from snapshots.keys import WrongPassphrase

from ..errors import WorkerErrors, in_thread
from ..messages import Unlocked
from ..widgets import DataAgeBar

if TYPE_CHECKING:
    from ..session import Session

# what the audit log holds as `user` instead of a name that is (or may be) the passphrase
NOT_RECORDED = "(not recorded: the passphrase was typed in the name field)"
SAME_AS_PASSPHRASE = "(not recorded: the name typed was the same as the passphrase typed)"
NOT_CHECKED = "(not recorded: could not check that it was not the passphrase)"
HIDDEN = (NOT_RECORDED, SAME_AS_PASSPHRASE)  # the name field showed a passphrase: clear it

WRONG = "Wrong passphrase. Try again, or ask the charge nurse."
IN_NAME_FIELD = ("That was the passphrase, typed in the name field. It was not recorded. "
                 "Type your name or badge number, Tab, then the passphrase.")
SAME_FIELDS = ("Not tried: the name and the passphrase were the same. Nothing typed was "
               "recorded. Type your name or badge number, Tab, then the passphrase.")
FORM_CODE_TYPED = ("That was a page's code, scanned before unlocking: it was not kept or "
                   "recorded. Unlock first (your name, Tab, the passphrase), then scan the "
                   "page again.")
# a page's QR as a handheld scanner types it (forms/qr.py: DTF2|form id|kind|patient|...),
# or a form id alone: it names a patient, so it is neither a name to log nor a passphrase
_FORM_CODE = re.compile(r"\s*(DTF\d\||DT-[A-Z2-9]{10}\b)")


def is_form_code(text: str) -> bool:
    return _FORM_CODE.match(text) is not None


class NameInput(Input):
    """The name field. Keys already on their way to it when Tab or Enter moved the focus on
    belong to the passphrase field: Textual queues each key to the widget focused when the
    key arrives, so in a burst (a badge scanner, an auto-typing tool, a fast typist) the
    passphrase after "name<Tab>" was typed in clear into the name field. Once Tab or Enter
    has gone through, what is still queued here is handed to the passphrase field, until the
    name field has the focus again."""

    handing_on = False

    async def _on_key(self, event: events.Key) -> None:
        if self.handing_on:
            event.stop()
            event.prevent_default()
            self.screen.query_one("#passphrase", Input).post_message(
                events.Key(event.key, event.character))
            return
        if event.key in ("tab", "enter"):
            self.handing_on = True
        await super()._on_key(event)

    def _on_focus(self, event: events.Focus) -> None:
        self.handing_on = False
        super()._on_focus(event)


class UnlockScreen(WorkerErrors, Screen):
    BINDINGS = [Binding("ctrl+q", "app.quit", "Quit", show=True)]

    def __init__(self) -> None:
        super().__init__()
        self.busy = False  # an unlock is running: another Enter must not start a second one
        # names a successful unlock has written to the log: logging one again on a failed
        # attempt tells nothing new, so it is logged without the second KDF (the common case
        # of a mistyped passphrase after a lock costs one KDF, not two)
        self.logged_users: set[str] = set()

    def compose(self) -> ComposeResult:
        with Center(), Vertical(id="unlock-box"):
            yield Static("DOWNTIME CHART VIEWER", id="unlock-title")
            yield Static("Read-only copy of the record while the EHR is down.",
                         id="unlock-sub")
            yield Label("Your name or badge number")
            yield NameInput(placeholder="e.g. badge 4411", id="user")
            yield Label("Workstation passphrase")
            # not selected on focus: keys the name field hands on (above) may be in it by then,
            # and the next key would replace them
            yield Input(placeholder="passphrase", password=True, id="passphrase",
                        select_on_focus=False)
            yield Button("Unlock", id="unlock", variant="primary")
            yield Static("", id="unlock-message")
            yield Static(f"{self.app.workstation.identity_path.name.removesuffix('.age')} · "
                         "Tab next field"
                         " · Enter unlock · Ctrl+Q quit", id="unlock-hint")
        yield DataAgeBar(id="age")

    def on_mount(self) -> None:
        self.query_one("#user", Input).focus()  # the first unlock: nobody to go on as yet
        self.refresh_age()

    def refresh_age(self) -> None:
        self.query_one("#age", DataAgeBar).show(self.app.newest_data_age(),
                                                 "locked", "")
        self.check_store_files()

    @in_thread(group="store-files")
    def check_store_files(self) -> None:
        """Verify, off the event loop, the files whose age the bar shows; show it again if a
        newest one turned out damaged (then an older one's age is the one that counts)."""
        workstation = self.app.workstation
        before = workstation.newest_data_age()
        workstation.check_store_files()
        if workstation.newest_data_age() != before:
            self.app.call_from_thread(self._show_age)

    def _show_age(self) -> None:
        if self.is_mounted:
            self.query_one("#age", DataAgeBar).show(self.app.newest_data_age(), "locked", "")

    @on(Input.Submitted, "#user")
    def _next(self) -> None:
        name = self.query_one("#user", NameInput)
        if is_form_code(name.value):
            self._form_code_refused()
            return
        self.query_one("#passphrase", Input).focus()

    def _form_code_refused(self) -> None:
        """A page scanned at the unlock screen: gone from both fields, nothing tried or
        logged, the name field ready (keys still queued for it stay in it)."""
        name = self.query_one("#user", NameInput)
        name.value = ""
        name.handing_on = False
        self.query_one("#passphrase", Input).value = ""
        self.message(FORM_CODE_TYPED, error=True)
        name.focus()

    @on(Input.Submitted, "#passphrase")
    @on(Button.Pressed, "#unlock")
    def submit(self) -> None:
        if self.busy:
            return
        raw_name = self.query_one("#user", Input).value
        passphrase = self.query_one("#passphrase", Input).value
        if is_form_code(raw_name) or is_form_code(passphrase):
            self._form_code_refused()
        elif not raw_name.strip():
            self.message("Type your name or badge number first.", error=True)
            self.query_one("#user", Input).focus()
        elif not passphrase:
            self.message("Type the workstation passphrase.", error=True)
            self.query_one("#passphrase", Input).focus()
        elif passphrase in (raw_name, raw_name.strip()):
            # one of the two is a passphrase (right or wrong): neither may be logged, and
            # trying it would log a session under the passphrase as the user's name
            self._failed(SAME_AS_PASSPHRASE, SAME_FIELDS)
        else:
            self.busy = True
            self.message("Unlocking… (checking the passphrase takes a second)")
            self.query_one("#unlock", Button).disabled = True
            self.unlock(raw_name, passphrase)

    def message(self, text: str, error: bool = False) -> None:
        widget = self.query_one("#unlock-message", Static)
        widget.update(Text(text))
        widget.set_class(error, "error")

    # Named "unlock", not after its arguments (the passphrase). A failure the toolkit means
    # (a wrong passphrase, a key or snapshot that does not open) is handled here, where the
    # name typed can still be checked against the KDF; anything else goes to worker_failed.
    @in_thread(group="unlock", description="unlock")
    def unlock(self, raw_name: str, passphrase: str) -> None:
        app, workstation = self.app, self.app.workstation
        try:
            identity = workstation.try_passphrase(passphrase)
        except WrongPassphrase:
            app.call_from_thread(self._failed, self.name_for_log(raw_name), WRONG)
            return
        except ToolkitError as e:
            app.call_from_thread(self._failed, self.name_for_log(raw_name), cannot_open(e))
            return
        name = raw_name.strip()  # the passphrase opened the identity: this is not it
        try:
            session = workstation.open_session(name, identity)
        except ToolkitError as e:
            app.call_from_thread(self._failed, name, cannot_open(e))
            return
        app.call_from_thread(self._opened, session)

    def worker_failed(self, worker: Worker, text: str, error: BaseException | None) -> None:
        """A fault nobody meant: whether the name typed was the passphrase cannot be told."""
        self._failed(NOT_CHECKED, cannot_open(error))

    def name_for_log(self, raw_name: str) -> str:
        """Blocking (called from the unlock worker, after a failed attempt): the name typed if
        it is not the passphrase, else what the log holds in its place. The name is tried as
        the passphrase as typed and trimmed (the trimmed form is what would be logged)."""
        name = raw_name.strip()
        if name in self.logged_users:
            return name
        for text in dict.fromkeys((name, raw_name)):
            try:
                self.app.workstation.try_passphrase(text)
            except WrongPassphrase:
                continue
            except Exception:  # noqa: BLE001 - cannot tell, so it is not logged
                return NOT_CHECKED
            return NOT_RECORDED
        return name

    def _opened(self, session: Session) -> None:
        self.busy = False
        self.logged_users.add(session.user)
        self.post_message(Unlocked(session))

    def _failed(self, user: str, text: str) -> None:
        self.busy = False
        shown = IN_NAME_FIELD if user == NOT_RECORDED else text
        self.app.audit("unlock-failed", user=user, detail=log_detail(text))
        self.message(shown, error=True)
        self.query_one("#unlock", Button).disabled = False
        self.query_one("#passphrase", Input).value = ""
        if user in HIDDEN:  # it showed a passphrase in clear: gone from the screen too
            self.query_one("#user", Input).value = ""
            self.query_one("#user", Input).focus()
        else:
            self.query_one("#passphrase", Input).focus()

    def reset(self, last_user: str) -> None:
        """After a lock (Ctrl+L or idle): going on as `last_user` is typing the
        passphrase, which has the focus, so what is typed at once goes into the hidden field;
        someone else goes back to the name (Shift+Tab selects it, typing replaces it)."""
        self.busy = False
        self.query_one("#user", Input).value = last_user
        self.query_one("#passphrase", Input).value = ""
        self.query_one("#unlock", Button).disabled = False
        self.message(f"Locked. To go on as {last_user}, type the passphrase.\n"
                     "Someone else: Shift+Tab, then your name.")
        self.query_one("#passphrase", Input).focus()
        self.refresh_age()


def log_detail(text: str) -> str:
    """The first sentence of what the screen said, for the log: "Wrong passphrase", or the
    whole "Cannot open: /store/unit-4W-000012.dtsnap: truncated: ..." (a file name's dots
    do not end it), capped in length."""
    return re.split(r"\.(?:\s|$)", text.strip(), maxsplit=1)[0][:300]


def cannot_open(error: BaseException | None) -> str:
    """What the screen and the log say when the identity or the snapshots do not open. Only
    the toolkit's own errors are quoted (they name files); anything else could quote what it
    was given, so only its kind is named."""
    if isinstance(error, ToolkitError | OSError):
        return f"Cannot open: {error}"
    return f"Cannot open: unexpected {type(error).__name__}. Tell IT."
