"""`downtime browse`: the Textual app a nurse or pharmacist uses while the EHR is down.

make_app() builds it, from the settings tree, for the CLI and the tests alike. Flow:
UnlockScreen -> CensusScreen -> ChartScreen. Screens ask for what should happen by messages
(messages.py) and read the session and the workstation (workstation.py: the blocking work of
unlocking, opening, printing and auditing), which they run in thread workers whose failures
reach them through one handler (errors.py).
Idle for `idle_lock_minutes` -> everything is closed and the unlock screen comes back. The
store is watched for a newer snapshot; the app offers to switch and keeps the patient. A
declined offer is not forgotten: the data-age bar says newer data is there until F5 switches.
"""

from __future__ import annotations

import gc
import importlib.util
from concurrent.futures import Future

from textual import events
from textual.app import App
from textual.binding import Binding
from textual.worker import Worker

from snapshots.audit import AuditError
from snapshots.chart import DataAge, data_age

from ..config import Config
from .errors import WorkerErrors, in_thread
from .messages import BreakGlass, OpenChart, OpenPrint, Unlocked
from .screens.census import CensusScreen
from .screens.chart import ChartScreen
from .screens.switch import SwitchScreen
from .screens.unlock import UnlockScreen
from .session import Clock, Session, choose, signature
from .workstation import Kdf, Workstation


class DowntimeApp(WorkerErrors, App):
    CSS_PATH = "downtime.tcss"
    TITLE = "Downtime chart viewer"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [Binding("f5", "switch", "Switch to newer data", show=False)]

    def __init__(self, workstation: Workstation, *, watch_seconds: float = 5.0,
                 timers: bool = True) -> None:
        super().__init__()
        self.workstation = workstation
        self.clock: Clock = workstation.clock
        self.watch_seconds = watch_seconds
        self.timers = timers
        self.session: Session | None = None
        self.last_activity = self.clock()
        self.offered: tuple | None = None  # the newer snapshots already offered
        self.newer: list | None = None  # newer snapshots found and not switched to yet
        self.unlock_screen = UnlockScreen()
        self.chart_screen: ChartScreen | None = None
        self.audit_warning_shown: str | None = None  # check_audit_writer()

    # --- lifecycle ----------------------------------------------------------------------------

    def on_mount(self) -> None:
        freeze_long_lived()  # the libraries: unlock's census read is collected without them
        self.push_screen(self.unlock_screen)
        if self.timers:
            self.set_interval(1.0, self.check_idle_lock)
            self.set_interval(self.watch_seconds, self.check_store)
            self.set_interval(30.0, self.refresh_ages)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key | events.MouseDown):
            self.last_activity = self.clock()
        await super().on_event(event)

    def on_unlocked(self, message: Unlocked) -> None:
        session = message.session
        self.session = session
        self.last_activity = self.clock()
        self.offered = None
        self.newer = None
        self.audit("unlock", detail=f"{session.identity.name}: {session.label}")
        warning = session.fallback_warning()
        self.workstation.passed_over([path for path, _ in session.passed_over])
        if warning:
            self.audit("snapshot-fallback", detail="; ".join(
                f"{path.name}: {why}" for path, why in session.passed_over))
            self.notify(warning, severity="error", timeout=30)
        self.chart_screen = ChartScreen()
        self.install_screen(self.chart_screen, "chart")
        self.push_screen(CensusScreen())
        self.call_after_refresh(self._prewarm_chart)

    async def _prewarm_chart(self) -> None:
        """Mount the (empty) chart screen once, unseen, so the first chart opens fast."""
        chart = self.chart_screen
        if chart is None or chart.is_mounted or not isinstance(self.screen, CensusScreen):
            return
        focused = self.focused
        with self.batch_update():  # mounted and styled, never drawn: no empty chart flashes
            await self.push_screen(chart)
            if self.screen is chart and not chart.patient_id:
                await self.pop_screen()
                if focused is not None and focused.is_mounted:
                    focused.focus()
        freeze_long_lived()

    def action_lock(self) -> None:
        self.lock("by user")

    async def action_quit(self) -> None:
        self.lock("quit")  # the audit log shows the session ended, not just stopped
        await super().action_quit()

    def lock(self, why: str = "idle") -> None:
        if self.session is None:
            return
        self.audit("lock", detail=why)
        user = self.session.user
        self.session.close()
        self.session = None
        gc.unfreeze()  # the session's objects may go now, cycles among them too
        self.newer = None
        while len(self.screen_stack) > 2:  # [default, unlock, ...]
            self.pop_screen()
        if self.chart_screen is not None:
            self.uninstall_screen("chart")
            self.chart_screen = None
        self.unlock_screen.reset(user)

    def _fatal_error(self) -> None:
        """Textual's crash report (the app exits on an unhandled exception), less the local
        variables Textual prints for every frame: they hold what was typed (the passphrase
        field's text) and patient data, and the report goes to the terminal and to whatever
        keeps its output. Same report otherwise (Textual 8: App._fatal_error)."""
        import rich
        from rich.segment import Segments
        from rich.traceback import Traceback

        self.bell()
        report = Traceback(show_locals=False, width=None, suppress=[rich])
        self._exit_renderables.append(Segments(self.console.render(report,
                                                                   self.console.options)))
        self._close_messages_no_wait()

    def check_idle_lock(self) -> None:
        if self.session is None:
            return
        idle = (self.clock() - self.last_activity).total_seconds()
        if idle >= self.workstation.idle_lock_minutes * 60:
            self.lock(f"idle {int(idle // 60)} min")

    # --- audit --------------------------------------------------------------------------------

    def audit(self, action: str, *, user: str | None = None, patient_id: str | None = None,
              detail: str | None = None) -> None:
        """An entry written now; a failure to write it is shown, never silent."""
        try:
            self.workstation.audit(action, self.session, user=user, patient_id=patient_id,
                                   detail=detail)
        except AuditError as e:
            self._audit_failed(e)
        self.check_audit_writer()

    def audit_soon(self, action: str, *, patient_id: str | None = None,
                   detail: str | None = None) -> Future[None]:
        """audit() from a worker, written by the workstation's audit thread (each entry is
        fsynced: too slow for the event loop); done once written or its failure shown."""
        return self.workstation.audit_soon(
            action, self.session, lambda e: self.call_from_thread(self._audit_failed, e),
            patient_id=patient_id, detail=detail,
            on_written=lambda: self.call_from_thread(self.check_audit_writer))

    def _audit_failed(self, error: AuditError) -> None:
        self.notify(f"AUDIT LOG NOT WRITTEN: {error}", severity="error", timeout=15)

    def check_audit_writer(self) -> None:
        """Say, once each time it changes, that entries go to the unauthenticated spool (the
        agent's audit writer cannot be reached), and when they reach the writer again; the
        data-age bar says it meanwhile (notice())."""
        warning = self.workstation.audit_warning
        if warning == self.audit_warning_shown:
            return
        if warning:
            self.notify(f"AUDIT ENTRIES NOT AUTHENTICATED: {warning}. Charts stay open; "
                        "tell IT.", severity="error", timeout=30)
        else:
            self.notify("The audit writer is reachable again: the entries kept meanwhile "
                        "were handed to it.", timeout=10)
        self.audit_warning_shown = warning
        self.refresh_ages()

    # --- data age -----------------------------------------------------------------------------

    def data_age(self) -> DataAge | None:
        return self.workstation.data_age(self.session)

    def newest_data_age(self) -> DataAge | None:
        return self.workstation.newest_data_age()

    def notice(self) -> str | None:
        """What the data-age bar must say besides the age: newer data waiting, or older data
        shown because the newest snapshot would not open."""
        if self.session is None:
            return None
        if self.audit_warning_shown:
            return "AUDIT ENTRIES NOT AUTHENTICATED — tell IT"
        if self.newer:
            return "NEWER DATA AVAILABLE — F5 to switch"
        if self.session.passed_over:
            return "NEWEST SNAPSHOT UNREADABLE — older data shown, tell IT"
        return None

    def refresh_ages(self) -> None:
        for screen in self.screen_stack:
            if hasattr(screen, "refresh_age") and screen.is_mounted:
                screen.refresh_age()

    # --- charts -------------------------------------------------------------------------------

    def on_open_chart(self, message: OpenChart) -> None:
        if self.session is None:
            return
        chart = self.chart_screen
        chart.open(message.patient_id)  # logs chart-open in its worker, before reading it
        if not chart.is_mounted:  # not prewarmed yet: mount it, it loads on mount
            self.push_screen(chart)

    def on_break_glass(self, message: BreakGlass) -> None:
        if self.session is None:
            return
        self.session.broken_glass.add(message.patient_id)
        self.audit("break-glass", patient_id=message.patient_id, detail=message.reason)
        self.notify("Restricted records shown. This access is logged.", severity="warning")
        if self.chart_screen is not None and self.chart_screen.patient_id == \
                message.patient_id:
            self.chart_screen.render_tabs()

    def on_open_print(self, message: OpenPrint) -> None:
        if self.session is None:
            return
        patient_id, unit = message.patient_id, message.unit
        if importlib.util.find_spec("forms") is None or \
                importlib.util.find_spec("forms.jobs") is None:
            self.notify("Printing is not available on this workstation "
                        "(the forms package is not installed).", severity="warning")
            return
        if self.workstation.registry is None:
            self.notify("Printing needs a form registry: set paths.registry in the config.",
                        severity="warning", timeout=8)
            return
        from .screens.print_dialog import PrintScreen

        if patient_id:
            row = next((r for r in self.session.census if r.patient_id == patient_id), None)
            unit = row.unit if row else unit
            title = f"{row.name} ({unit})" if row else patient_id
        else:
            title = f"unit {unit}"
        if not unit:
            self.notify("Choose a unit first (F3).", severity="warning")
            return
        self.push_screen(PrintScreen(patient_id, unit, title))

    # --- newer snapshots ----------------------------------------------------------------------

    def check_store(self) -> None:
        if self.session is not None:
            self._look_for_newer()

    @in_thread(group="store")
    def _look_for_newer(self) -> None:
        session = self.session
        if session is None:
            return
        newer = choose(self.workstation.store, session.identity.recipient, skip=session.skip)
        if newer and signature(newer) != signature(session.snapshots) and \
                max(s.manifest.sequence for s in newer) > \
                max(s.manifest.sequence for s in session.snapshots):
            self.call_from_thread(self._offer, newer)

    def _offer(self, newer) -> None:
        sig, ws = signature(newer), self.workstation
        if self.offered == sig or self.session is None:
            return
        self.offered = sig
        self.newer = newer
        self.refresh_ages()
        ages = ", ".join(f"{s.manifest.scope} #{s.manifest.sequence}: "
                         f"{data_age(s.manifest.as_of, self.clock(), ws.stale_minutes).text}"
                         for s in newer)
        current = f"now showing {self.session.label}: {self.data_age().text}"

        def answer(yes: bool) -> None:
            if yes:
                self.switch_snapshot()

        self.push_screen(SwitchScreen(f"{ages}\n({current})"), answer)

    def action_switch(self) -> None:
        if self.session is None:
            return
        if not self.newer:
            self.notify("No newer snapshot to switch to.", timeout=3)
            return
        self.switch_snapshot()

    @in_thread(group="switch")
    def switch_snapshot(self) -> None:
        old = self.session
        if old is None:
            return
        new = self.workstation.open_session(old.user, old.identity)
        self.call_from_thread(self._switched, old, new)

    def worker_failed(self, worker: Worker, text: str, error: BaseException | None) -> None:
        if worker.group == "switch":  # the old session stays open: it is still good data
            text = f"Could not open the newer snapshot: {text}"
        self.notify(text, severity="error", timeout=10)

    def _switched(self, old: Session, new: Session) -> None:
        new.broken_glass = set(old.broken_glass)
        self.session = new
        self.newer = None
        self.audit("snapshot-switch", detail=f"{old.label} -> {new.label}")
        old.close()
        gc.unfreeze()
        freeze_long_lived()
        for screen in self.screen_stack:
            if isinstance(screen, CensusScreen):
                screen.snapshot_switched()
            elif isinstance(screen, ChartScreen):
                if new.snapshot_for(screen.patient_id) is None:
                    self.notify("This patient is not in the newer snapshot (discharged or "
                                "moved); showing the census.", severity="warning", timeout=10)
                else:
                    screen.load()
        while isinstance(self.screen, ChartScreen) and \
                new.snapshot_for(self.screen.patient_id) is None:
            self.pop_screen()
        self.notify(f"Switched to {new.label}.")
        warning = new.fallback_warning()
        if warning:
            self.notify(warning, severity="error", timeout=30)
        self.refresh_ages()


def freeze_long_lived() -> None:
    """Leave what an unlocked session keeps (the census, the screens, the libraries) out of
    Python's cyclic garbage collections: with them a full collection took 50-180 ms, and
    one landing on a chart open or a keystroke was what a nurse would notice. (Reference
    counting still frees them; lock() unfreezes, so cycles among them go then.)"""
    gc.freeze()


def make_app(config: Config, *, clock: Clock | None = None,
             passphrase_kdf: Kdf | None = None, watch_seconds: float = 5.0,
             timers: bool = True) -> DowntimeApp:
    """The app for `downtime browse` and the tests: the settings tree, taken whole (with the
    command's flags applied); tests inject the clock and the KDF. ConfigError or KeyFileError
    when a path it needs is missing or a key does not load."""
    return DowntimeApp(Workstation(config, clock=clock, passphrase_kdf=passphrase_kdf),
                       watch_seconds=watch_seconds, timers=timers)
