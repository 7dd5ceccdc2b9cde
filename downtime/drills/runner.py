"""Runs a checked drill script: the steady-state hypothesis, then the phases' steps in order
(a step waits for what it `needs`), each timed against its expected duration, the rollback
criteria checked after each step, and the steady state again at the end.

A criterion that trips, or "stop the line" with abort at a gate, takes the rollback path the
script names and the drill ends rolled back (exit 1). A step that fails, or a fault not
handled as the docs say, fails the drill (exit 2; the script's `on_failure` path, if any,
still runs to put the site back). A steady state that does not hold before the drill means
it could not start (exit 3). Everything is written to the journal as it happens, and an
observer (the TUI, the terminal) is told after every change.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from snapshots.errors import ToolkitError

from . import figures as F
from .api import ActionSpec, DrillContext, FaultOutcome, StepResult
from .criteria import NotMeasured
from .engine_actions import ASK, DECISION, GATES, STEP, WHY, GateAnswer, GateRecord, GateRequest
from .journal import Journal
from .script import Criterion, Probe, Script, Step

PASSED, ROLLED_BACK, FAILED, COULD_NOT_START = 0, 1, 2, 3
Status = Literal["waiting", "running", "ok", "failed", "skipped"]


@dataclass
class StepRun:
    step: Step
    path: str = "main"  # "main", or the id of the rollback path it belongs to
    status: Status = "waiting"
    started: float | None = None  # epoch seconds
    ended: float | None = None
    seconds: float = 0.0  # real
    overrun: float = 0.0  # share over the expected duration, in drill time
    detail: str = ""
    evidence: dict[str, str] = field(default_factory=dict)
    faults: list[FaultOutcome] = field(default_factory=list)

    def scale(self, time_scale: float) -> float:
        """Drill seconds per real second for this step: a compressed drill compresses what
        the systems do, not people: a gate waits in real time."""
        return 1.0 if self.step.action == "gate" else time_scale


@dataclass
class CriterionState:
    criterion: Criterion
    values: dict[str, float] = field(default_factory=dict)  # the figures it read
    measured: bool = False
    tripped: bool = False
    tripped_after: str | None = None  # the step after which it tripped


@dataclass
class ProbeReading:
    probe: Probe
    when: Literal["before", "after"]
    held: bool
    values: dict[str, float]
    detail: str


@dataclass
class DrillRun:
    """The state of a drill, as the TUI shows it and the report tells it."""

    script: Script
    folder: Path
    status: Literal["starting", "running", "passed", "rolled back", "failed",
                    "could not start"] = "starting"
    exit_status: int | None = None
    started: float | None = None
    ended: float | None = None
    steps: list[StepRun] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)
    criteria: list[CriterionState] = field(default_factory=list)
    probes: list[ProbeReading] = field(default_factory=list)
    gates: list[GateRecord] = field(default_factory=list)
    waiting_gate: GateRequest | None = None
    path_taken: str | None = None
    decision: str = ""  # "go live", "roll back", "stopped", "completed"
    why: str = ""

    def faults(self) -> list[tuple[str, FaultOutcome]]:
        return [(r.step.id, f) for r in self.steps for f in r.faults]

    def running(self) -> StepRun | None:
        return next((r for r in self.steps if r.status == "running"), None)


class Observer(Protocol):
    def __call__(self, run: DrillRun, event: str) -> None: ...


Asker = Callable[[GateRequest], GateAnswer]


class _Stop(Exception):  # noqa: N818 - control flow inside the runner
    def __init__(self, status: int, decision: str, why: str, path: str | None = None):
        self.status, self.decision, self.why, self.path = status, decision, why, path


def run_drill(script: Script, folder: Path, actions: Mapping[str, ActionSpec], *,
              ask: Asker | None = None, headless: bool = True,
              observer: Observer | None = None, config: Any = None,
              cancel: threading.Event | None = None) -> DrillRun:
    """Run `script` with its work under `folder`/work and its journal in `folder`."""
    return _Runner(script, folder, actions, ask, headless, observer, config, cancel).run()


class _Runner:
    def __init__(self, script: Script, folder: Path, actions: Mapping[str, ActionSpec],
                 ask: Asker | None, headless: bool, observer: Observer | None,
                 config: Any, cancel: threading.Event | None) -> None:
        self.script, self.actions, self.cancel = script, actions, cancel
        self.observer = observer or (lambda run, event: None)
        self.run_state = DrillRun(script, folder)
        self.run_state.steps = [StepRun(s) for s in ordered(list(script.steps()))]
        self.run_state.criteria = [CriterionState(c) for c in script.criteria]
        (folder / "work").mkdir(parents=True, exist_ok=True)
        self.journal = Journal(folder / "journal.jsonl")
        shared: dict[str, Any] = {GATES: self.run_state.gates, "config": config}
        if ask is not None:
            shared[ASK] = self._asking(ask)
        self.ctx = DrillContext(folder / "work", script.seed, self.run_state.figures, shared,
                                self._log, headless, script.time_scale)

    def _asking(self, ask: Asker) -> Asker:
        def asked(request: GateRequest) -> GateAnswer:
            self.run_state.waiting_gate = request
            self.journal.write("gate", request.step, "asked", detail=request.question)
            self._tell("gate")
            try:
                return ask(request)
            finally:
                self.run_state.waiting_gate = None
                self._tell("gate")
        return asked

    def _log(self, line: str) -> None:
        self.journal.write("log", str(self.ctx.shared.get(STEP, "drill")), "note", detail=line)

    def _tell(self, event: str) -> None:
        self.observer(self.run_state, event)

    # -- the drill
    def run(self) -> DrillRun:
        state = self.run_state
        state.started = time.time()
        state.status = "running"
        self.journal.write("drill", self.script.name, "start", seed=self.script.seed,
                           time_scale=self.script.time_scale)
        self._tell("start")
        try:
            if self.script.steady_after is None:
                self._before()
            self._main()
            decided = self.ctx.shared.get(DECISION)
            self._finish(PASSED, *(decided or ("completed", "every step done, no rollback "
                                                           "criterion tripped")))
        except _Stop as stop:
            self._finish(stop.status, stop.decision, stop.why, stop.path)
        finally:
            self._teardown()
            self.journal.close()
        return state

    def _teardown(self) -> None:
        """What the site actions started (the sandbox, the drill's cupsd) stopped, whatever
        the outcome; a failure to stop is journaled, never hides the drill's verdict."""
        try:
            from .actions import finish
        except ModuleNotFoundError as e:  # an engine without the site actions
            if e.name != f"{__package__}.actions":
                raise
            return
        try:
            finish(self.ctx)
        except Exception as e:  # noqa: BLE001 - the verdict stands; the journal says why
            self.journal.write("drill", self.script.name, "note",
                               detail=f"stopping the drill's services: {bug_text(e)}")

    def _before(self) -> None:
        if not self._steady("before"):
            where = "before the drill" if self.script.steady_after is None else \
                f"once phase {self.script.steady_after!r} had set the drill up"
            raise _Stop(COULD_NOT_START, "stopped", f"the steady state did not hold {where}: "
                        + self._unheld("before"))

    def _main(self) -> None:
        setup = {s.id for p in self.script.phases if p.id == self.script.steady_after
                 for s in p.steps}
        for run in [r for r in self.run_state.steps if r.path == "main"]:
            if self.cancel is not None and self.cancel.is_set():
                raise _Stop(FAILED, "stopped", f"stopped by the operator before step "
                                               f"{run.step.id!r}", self.script.on_failure)
            self._step(run)
            if run.status == "failed":
                raise _Stop(FAILED, "stopped", f"step {run.step.id!r} failed: {run.detail}",
                            self.script.on_failure)
            unhandled = [f for f in run.faults if not f.handled]
            if unhandled:
                f = unhandled[0]
                raise _Stop(FAILED, "stopped", f"fault {f.fault!r} at step {run.step.id!r} "
                            f"was not handled as expected ({f.expected}): {f.actual}",
                            self.script.on_failure)
            self._after_gate(run)
            self._check_criteria(run.step.id)
            if setup and run.step.id in setup:
                setup.discard(run.step.id)
                if not setup:
                    self._before()

    def _after_gate(self, run: StepRun) -> None:
        if run.step.action != "gate" or not self.run_state.gates:
            return
        gate = self.run_state.gates[-1]
        if gate.step == run.step.id and gate.decision == "aborted":
            raise _Stop(ROLLED_BACK, "roll back", f"{gate.name} ({gate.role}) stopped the "
                        f"line at gate {run.step.id!r}", self.script.rollback)

    def _check_criteria(self, after: str) -> None:
        F.derive(self.run_state.figures, self.script.time_scale)
        tripped = None
        for state in self.run_state.criteria:
            self._measure(state)
            if state.measured and state.tripped and state.tripped_after is None:
                state.tripped_after = after
                self.journal.write("criterion", state.criterion.name, "tripped",
                                   detail=state.criterion.when.text, values=state.values)
                tripped = tripped or state
        self._tell("criteria")
        if tripped is not None:
            c = tripped.criterion
            values = ", ".join(f"{k} = {v:g}" for k, v in tripped.values.items())
            raise _Stop(ROLLED_BACK, "roll back", f"criterion {c.name!r} tripped after step "
                        f"{after!r}: {c.when.text} ({values})", c.path)

    def _measure(self, state: CriterionState) -> None:
        figures = self.run_state.figures
        try:
            value = state.criterion.when.value(figures)
        except NotMeasured:
            return
        state.measured = True
        state.values = {f: figures[f] for f in state.criterion.when.figures}
        state.tripped = bool(value)

    def _finish(self, status: int, decision: str, why: str, path: str | None = None) -> None:
        state = self.run_state
        if path and path in self.script.paths:
            state.path_taken = path
            self.ctx.shared[WHY] = why
            self.journal.write("rollback", path, "start", detail=why)
            if not self._path(path) and status != FAILED:
                status, why = FAILED, f"{why}; then the rollback path {path!r} failed"
            self.journal.write("rollback", path, "end")
        for run in state.steps:
            if run.status == "waiting":
                run.status = "skipped"
        if status != COULD_NOT_START and not self._steady("after") and status != FAILED:
            status, why = FAILED, f"{why}; then the steady state did not hold after the " \
                                  f"drill: {self._unheld('after')}"
        for criterion in state.criteria:
            self._measure(criterion)
        state.exit_status, state.decision, state.why = status, decision, why
        state.status = {PASSED: "passed", ROLLED_BACK: "rolled back", FAILED: "failed",
                        COULD_NOT_START: "could not start"}[status]
        state.ended = time.time()
        self.journal.write("drill", self.script.name, "end", outcome=state.status,
                           detail=f"{decision}: {why}", exit_status=status)
        self._tell("end")

    def _path(self, path: str) -> bool:
        runs = [StepRun(s, path=path) for s in ordered(list(self.script.paths[path].steps))]
        self.run_state.steps.extend(runs)
        self._tell("path")
        for run in runs:
            self._step(run)
            if run.status == "failed" or any(not f.handled for f in run.faults):
                return False
        decided = self.ctx.shared.get(DECISION)
        if decided is None or decided[0] != "roll back":
            self.ctx.shared[DECISION] = ("roll back", path)
        return True

    # -- steps and probes
    def _step(self, run: StepRun) -> None:
        step = run.step
        run.status, run.started = "running", time.time()
        self.ctx.shared[STEP] = step.id
        self.journal.write("step", step.id, "start", owner=step.owner, action=step.action,
                           expected_seconds=step.expected_seconds, path=run.path,
                           fault=step.fault)
        self._tell("step")
        params = dict(step.params)
        if step.fault is not None:
            params["fault"] = step.fault
        started = time.monotonic()
        result = self._call(self.actions[step.action], params)
        run.seconds = time.monotonic() - started
        run.ended = time.time()
        self._absorb(run, result)
        self.journal.write("step", step.id, "end", outcome=run.status, detail=run.detail,
                           seconds=round(run.seconds, 3), overrun=round(run.overrun, 4),
                           figures=result.figures, evidence=run.evidence)
        for f in run.faults:
            self.journal.write("fault", f.fault, "handled" if f.handled else "not handled",
                               outcome="ok" if f.handled else "failed", step=step.id,
                               expected=f.expected, actual=f.actual)
        self.ctx.shared.pop(STEP, None)
        self._tell("step")

    def _call(self, spec: ActionSpec, params: dict[str, Any]) -> StepResult:
        try:
            result = spec.run(self.ctx, params)
        except ToolkitError as e:
            return StepResult("failed", str(e))
        except Exception as e:  # noqa: BLE001 - a bug of the action: told by kind and line
            return StepResult("failed", bug_text(e))
        if not isinstance(result, StepResult):
            return StepResult("failed", f"action {spec.name!r} returned no StepResult (a bug)")
        return result

    def _absorb(self, run: StepRun, result: StepResult) -> None:
        step = run.step
        spec = self.actions[step.action]
        for name, value in result.figures.items():
            if name in spec.figures:
                self.run_state.figures[name] = float(value)
            else:
                self.journal.write("step", step.id, "note", detail=f"figure {name!r} ignored: "
                                   f"action {spec.name!r} does not declare it")
        run.status = "ok" if result.outcome == "ok" else "failed"
        run.detail, run.evidence, run.faults = result.detail, dict(result.evidence), \
            list(result.faults)
        if step.fault is not None and not any(f.fault == step.fault for f in run.faults):
            run.faults.append(FaultOutcome(step.fault, "reported by the step that injects it",
                                           "the action reported nothing of it", False))
        run.overrun = F.overrun(step.expected_seconds,
                                run.seconds * run.scale(self.script.time_scale))
        if run.path == "main":
            self.run_state.figures[F.OVERRUN + step.figure_id] = run.overrun
            self.run_state.figures[F.MAX_OVERRUN] = max(
                run.overrun, self.run_state.figures.get(F.MAX_OVERRUN, 0.0))

    def _steady(self, when: Literal["before", "after"]) -> bool:
        held = True
        for probe in self.script.probes:
            self.journal.write("probe", probe.name, "start", when=when)
            result = self._call(self.actions[probe.action], dict(probe.params))
            values = {k: float(v) for k, v in result.figures.items()}
            try:
                ok = result.outcome == "ok" and bool(probe.tolerance.value(values))
            except NotMeasured as e:
                ok, result.detail = False, f"{result.detail} (not measured: {e})".strip()
            self.run_state.probes.append(ProbeReading(probe, when, ok, values, result.detail))
            self.journal.write("probe", probe.name, "end", outcome="ok" if ok else "failed",
                               detail=result.detail, when=when, values=values)
            held = held and ok
        self._tell("probe")
        return held

    def _unheld(self, when: str) -> str:
        return ", ".join(f"{r.probe.name} ({r.probe.tolerance.text})"
                         for r in self.run_state.probes if r.when == when and not r.held)


def ordered(steps: list[Step]) -> list[Step]:
    """The steps in the script's order, except that a step comes after what it needs (the
    script check has refused cycles and unknown names)."""
    done: set[str] = set()
    left = list(steps)
    out: list[Step] = []
    while left:
        step = next(s for s in left if all(n in done for n in s.needs))
        left.remove(step)
        done.add(step.id)
        out.append(step)
    return out


def bug_text(error: BaseException) -> str:
    """A bug in an action, by its kind and the line that raised it, never its message (it
    could quote patient data)."""
    frames = traceback.extract_tb(error.__traceback__)
    root = str(Path(__file__).resolve().parents[2])  # the toolkit's own code, not a library's
    ours = [f for f in frames if f.filename.startswith(root)] or frames
    where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"
    return f"a fault of the program: {type(error).__name__} at {where}"
