"""The live view of a running drill (`downtime drill run FILE` on a terminal): its steps with
their timers against the expected durations, the rollback criteria as they are measured,
faults and their handling, and a gate's sign-off asked on screen.

Its own small app (like harlequin's: one app, one job), not a screen of the chart viewer:
it needs no snapshot and no unlock. The drill runs in a thread worker (runner.run_drill);
the runner tells this app of every change through call_from_thread, and a gate waits in the
worker on the person's answer (GateScreen) while the screen stays live. q asks the drill to
stop after the step running (it cannot be pulled from under an action), then quits."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Footer, Header, Input, RichLog, Static
from textual.worker import get_current_worker

from forms.drill_report import duration

from ...drills.api import ActionSpec
from ...drills.engine_actions import GateAnswer, GateRequest
from ...drills.runner import DrillRun, run_drill
from ...drills.script import Script
from ..errors import WorkerErrors, in_thread

MARK = {"waiting": "·", "running": "▶", "ok": "✓", "failed": "✗", "skipped": "–"}

CSS = """
#status { height: 4; padding: 0 1; border: heavy $primary; }
#steps { height: 1fr; }
#lower { height: 12; }
#criteria { width: 3fr; }
#events { width: 2fr; border-left: solid $primary; }
GateScreen { align: center middle; }
#gate { width: 72; height: auto; border: thick $warning; padding: 1 2; background: $surface; }
#gate-buttons { height: 3; margin-top: 1; }
#gate-buttons Button { margin-right: 1; }
"""


class GateScreen(ModalScreen[GateAnswer]):
    """A gate's sign-off: who (their name), and the decision."""

    BINDINGS = [Binding("escape", "nothing", show=False)]  # a gate is answered, not dismissed

    def __init__(self, request: GateRequest) -> None:
        super().__init__()
        self.request = request

    def compose(self) -> ComposeResult:
        r = self.request
        with Vertical(id="gate"):
            yield Static(Text(f"GATE {r.step}: sign-off by the {r.role}", style="bold"))
            yield Static(Text(r.question))
            if r.paused:
                yield Static(Text("The line is stopped. Resume, or abort (rollback path).",
                                  style="bold"))
            yield Input(placeholder=f"your name ({r.role})", id="name")
            with Horizontal(id="gate-buttons"):
                yield Button("Resume" if r.paused else "Approve", id="approve",
                             variant="success")
                if not r.paused:
                    yield Button(f"Stop the line ({r.stop})", id="stop", variant="warning")
                yield Button("Abort", id="abort", variant="error")

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()

    def action_nothing(self) -> None:
        self.notify("Sign the gate: your name, then a decision.")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        name = self.query_one("#name", Input).value.strip()
        if not name:
            self.notify("Type your name first: the sign-off is recorded with it.",
                        severity="warning")
            self.query_one("#name", Input).focus()
            return
        self.dismiss(GateAnswer(event.button.id, name))  # type: ignore[arg-type]


class DrillApp(WorkerErrors, App):
    CSS = CSS
    TITLE = "Drill"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [Binding("q", "quit_drill", "Stop / quit")]

    def __init__(self, script: Script, folder: Path, actions: Mapping[str, ActionSpec], *,
                 config: Any = None, timers: bool = True) -> None:
        super().__init__()
        self.script, self.folder, self.actions, self.config = script, folder, actions, config
        self.result: DrillRun | None = None
        self.live: DrillRun | None = None
        self.cancel = threading.Event()
        self.done = threading.Event()  # the worker's drill has ended (result set)
        self.closed = threading.Event()  # the view is gone: a gate asked now is aborted
        self.timers = timers
        self._seen_faults = 0
        self._seen_gates = 0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="status")
        yield DataTable(id="steps", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="lower"):
            yield DataTable(id="criteria", cursor_type="none")
            yield RichLog(id="events", wrap=True, markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"Drill: {self.script.name}"
        steps = self.query_one("#steps", DataTable)
        for label, key in (("", "mark"), ("step", "id"), ("owner", "owner"),
                           ("action", "action"), ("expected", "expected"),
                           ("elapsed", "elapsed"), ("over", "over"), ("detail", "detail")):
            steps.add_column(label, key=key)
        criteria = self.query_one("#criteria", DataTable)
        for label in ("criterion", "rolls back when", "measured", ""):
            criteria.add_column(label)
        self._status("starting")
        self.run_worker_drill()
        if self.timers:
            self.set_interval(0.5, self._tick)

    @in_thread(group="drill", description="the drill")
    def run_worker_drill(self) -> None:
        try:
            self.result = run_drill(self.script, self.folder, self.actions, ask=self._ask,
                                    headless=False, observer=self._observed,
                                    config=self.config, cancel=self.cancel)
        finally:
            self.done.set()
        self._to_view(self._ended, self.result)

    # -- from the worker
    def _gone(self) -> bool:
        """The view has closed (its worker cancelled): nobody to show to or ask; the drill
        stops after the step running."""
        gone = self.closed.is_set() or get_current_worker().is_cancelled
        if gone:
            self.cancel.set()
        return gone

    def _to_view(self, callback: Any, *args: Any) -> bool:
        """Run `callback` on the event loop; False when the view has gone meanwhile."""
        if self._gone():
            return False
        try:
            self.call_from_thread(callback, *args)
        except RuntimeError:  # the app stopped running between the check and the call
            self.closed.set()
            self.cancel.set()
            return False
        return True

    def _observed(self, run: DrillRun, event: str) -> None:
        self._to_view(self._show, run, event)

    def _ask(self, request: GateRequest) -> GateAnswer:
        answered = threading.Event()
        answer: list[GateAnswer] = []

        def done(value: GateAnswer | None) -> None:
            answer.append(value or GateAnswer("abort", "(nobody)"))
            answered.set()
        if not self._to_view(self.push_screen, GateScreen(request), done):
            return GateAnswer("abort", "(the drill's view was closed)")
        while not answered.wait(0.2):
            if self._gone():
                return GateAnswer("abort", "(the drill's view was closed)")
        return answer[0]

    # -- on the event loop
    def _show(self, run: DrillRun, event: str) -> None:
        self.live = run
        self._steps(run)
        self._criteria(run)
        self._events(run, event)
        self._status(run.status)

    def _steps(self, run: DrillRun) -> None:
        table = self.query_one("#steps", DataTable)
        scale = run.script.time_scale
        for r in run.steps:
            key = f"{r.path}:{r.step.id}"
            elapsed = r.seconds if r.status != "running" else time.time() - (r.started or 0)
            cells = (MARK[r.status], r.step.id + ("" if r.path == "main" else " ↩"),
                     r.step.owner, r.step.action + (f" ⚡{r.step.fault}" if r.step.fault else ""),
                     duration(r.step.expected_seconds),
                     duration(elapsed * r.scale(scale)) if r.started else "",
                     f"{r.overrun:.0%}" if r.overrun else "", r.detail[:60])
            if key not in table.rows:
                table.add_row(*cells, key=key)
            else:
                for column, value in zip(("mark", "id", "owner", "action", "expected",
                                          "elapsed", "over", "detail"), cells, strict=True):
                    table.update_cell(key, column, value, update_width=True)

    def _criteria(self, run: DrillRun) -> None:
        table = self.query_one("#criteria", DataTable)
        table.clear()
        for c in run.criteria:
            values = ", ".join(f"{k}={v:g}" for k, v in c.values.items()) or "not yet"
            state = Text("TRIPPED", style="bold red") if c.tripped else \
                Text("held" if c.measured else "—")
            table.add_row(c.criterion.name, c.criterion.when.text, values, state)

    def _events(self, run: DrillRun, event: str) -> None:
        log = self.query_one("#events", RichLog)
        faults = run.faults()
        for step, f in faults[self._seen_faults:]:
            log.write(Text(f"fault {f.fault} at {step}: "
                           f"{'handled' if f.handled else 'NOT HANDLED'}: {f.actual}",
                           style="" if f.handled else "bold red"))
        self._seen_faults = len(faults)
        if event == "gate" and run.waiting_gate is not None:
            log.write(Text(f"gate {run.waiting_gate.step}: waiting for the "
                           f"{run.waiting_gate.role}", style="bold"))
        for g in run.gates[self._seen_gates:]:
            log.write(f"gate {g.step}: {g.decision} by {g.name} ({g.role}) at {g.at}")
        self._seen_gates = len(run.gates)
        if event == "path":
            log.write(Text(f"taking the rollback path {run.steps[-1].path!r}", style="bold"))

    def _status(self, status: str) -> None:
        run = self.live
        line = f"{status.upper()}"
        if run is not None and run.started:
            line += f"   {duration((run.ended or time.time()) - run.started)} real"
            current = run.running()
            if current is not None:
                line += f"   step {current.step.id} ({current.step.owner})"
            if run.waiting_gate is not None:
                line += f"   GATE WAITING: {run.waiting_gate.role}"
            if run.why:
                line += f"\n{run.decision}: {run.why}"
        self.query_one("#status", Static).update(Text(line))

    def _tick(self) -> None:
        if self.live is not None and self.live.running() is not None:
            self._steps(self.live)
            self._status(self.live.status)

    def _ended(self, result: DrillRun) -> None:
        self._show(result, "end")
        self.query_one("#events", RichLog).write(Text(
            f"drill {result.status} (exit {result.exit_status}): press q to write the report "
            "and quit", style="bold"))
        if self.cancel.is_set():
            self.exit()

    def action_quit_drill(self) -> None:
        if self.done.is_set():
            self.exit()
            return
        self.cancel.set()
        self.notify("Stopping after the step running; the drill then fails (stopped by the "
                    "operator).", severity="warning")


def run_in_tui(script: Script, folder: Path, actions: Mapping[str, ActionSpec], *,
               config: Any = None) -> DrillRun:
    """Run the drill with its live view; the run as it ended."""
    app = DrillApp(script, folder, actions, config=config)
    try:
        app.run()
    finally:
        # closed before the drill ended (ctrl+q): it stops after the step running, a gate
        # waiting is aborted, and the report still says what happened
        app.closed.set()
        app.cancel.set()
    app.done.wait()
    assert app.result is not None  # set before done
    return app.result
