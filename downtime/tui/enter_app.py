"""`downtime reconcile enter`: the back-entry app a clerk types the paper into.

Flow: ClerkUnlockScreen (the HIM identity of [reconcile], browse's unlock rules) ->
FormPickScreen (scan a QR, or type a form id; F4 the needs-indexing queue) -> the form kind's
screen (MAR, orders, vitals, note, registration). Blocking work (opening the episode,
journal writes, decrypting pages) runs in the screens' thread workers (errors.py). Idle for
`idle_lock_minutes` -> the session closes (viewer copies removed) and unlock comes back.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual import events
from textual.app import App
from textual.binding import Binding

from snapshots.audit import AuditError

from ..config import Config
from .clerk import ClerkSession, ClerkStation, EpisodeOpener, Kdf, Opened
from .errors import WorkerErrors
from .messages import Unlocked
from .screens.entry_forms import NoteScreen, RegistrationScreen
from .screens.entry_kinds import MarScreen, OrdersScreen, VitalsScreen
from .screens.form_pick import ClerkUnlockScreen, FormPickScreen
from .session import Clock

SCREENS = {"mar": MarScreen, "vitals": VitalsScreen, "orders": OrdersScreen,
           "note": NoteScreen, "registration": RegistrationScreen}


class EnterApp(WorkerErrors, App):
    CSS_PATH = "downtime.tcss"
    TITLE = "Downtime back-entry"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [Binding("ctrl+l", "lock", "Lock", show=False)]

    def __init__(self, station: ClerkStation, *, timers: bool = True,
                 viewer: Sequence[str] | None = None) -> None:
        super().__init__()
        self.workstation = station  # the name the shared unlock screen reads
        self.clock: Clock = station.clock
        self.timers = timers
        self.viewer = list(viewer) if viewer else None  # None: xdg-open
        self.session: ClerkSession | None = None
        self.last_activity = self.clock()
        self.unlock_screen = ClerkUnlockScreen()

    def on_mount(self) -> None:
        self.push_screen(self.unlock_screen)
        if self.timers:
            self.set_interval(1.0, self.check_idle_lock)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key | events.MouseDown):
            self.last_activity = self.clock()
        await super().on_event(event)

    def on_unlocked(self, message: Unlocked) -> None:
        self.session = message.session
        self.last_activity = self.clock()
        self.audit("unlock", detail=f"back-entry {self.session.episode.id}")
        self.push_screen(FormPickScreen())

    def open_entry(self, opened: Opened) -> None:
        t = opened.target
        self.audit("chart-open", patient_id=t.patient_id,
                   detail=f"back-entry {t.form_id} page {t.page}")
        self.push_screen(SCREENS[t.kind](opened))

    def check_idle_lock(self) -> None:
        if self.session is None:
            return
        idle = (self.clock() - self.last_activity).total_seconds()
        if idle >= self.workstation.idle_lock_minutes * 60:
            self.lock(f"idle {int(idle // 60)} min")

    def action_lock(self) -> None:
        self.lock("by user")

    async def action_quit(self) -> None:
        self.lock("quit")
        await super().action_quit()

    def lock(self, why: str) -> None:
        if self.session is None:
            return
        self.audit("lock", detail=why)
        user = self.session.user
        self.session.close()
        self.session = None
        while len(self.screen_stack) > 2:  # [default, unlock, ...]
            self.pop_screen()
        self.unlock_screen.reset(user)

    def audit(self, action: str, *, user: str | None = None, patient_id: str | None = None,
              detail: str | None = None) -> None:
        try:
            self.workstation.audit(action, self.session, user=user, patient_id=patient_id,
                                   detail=detail)
        except AuditError as e:
            self.notify(f"AUDIT LOG NOT WRITTEN: {e}", severity="error", timeout=15)

    def newest_data_age(self) -> None:  # the unlock screen's data-age bar: none here
        return None


def make_enter_app(config: Config, open_episode: EpisodeOpener, *, clock: Clock | None = None,
                   passphrase_kdf: Kdf | None = None, timers: bool = True,
                   viewer: Sequence[str] | None = None) -> EnterApp:
    """The app for `downtime reconcile enter` and the tests (which inject the clock, the KDF
    and the viewer command)."""
    return EnterApp(ClerkStation(config, open_episode, clock=clock,
                                 passphrase_kdf=passphrase_kdf), timers=timers, viewer=viewer)
