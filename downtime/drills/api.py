"""What a drill step's action is, as the engine (runner) and the actions (actions/) agree on it.

An action is one of a fixed, documented set (docs/drills.md). Each is registered once with
`register(ActionSpec(...))`: its name, the parameters it takes (required and optional), the
figures it measures (so that a script's rollback criterion naming a figure no action
measures is refused before anything runs), and the function that does it.

The function is called as `run(ctx, params)` with the step's parameters (checked against the
spec before the drill starts) and returns a `StepResult`. It does real work (a real sandbox
server, builds, CUPS, agents, scans), in `ctx.workdir`, and raises nothing on purpose: a
step that fails says so in its result (outcome "failed", detail in one line), and what it
learned goes into `figures` (measured numbers, merged into the drill's figures under the
names the spec declares) and `evidence` (hashes and ids for the report: snapshot ids,
audit heads, Bundle hashes). A ToolkitError escaping an action is taken as the step
failing with that line; anything else is a bug and fails the drill (exit 2).

A fault (section 2 of the issue) is injected by the step that names it (`fault = "..."` in
the step, or the `fault` action); the action reports each fault it met as a `FaultOutcome`:
what was injected, what the docs say should happen, what happened, and whether that was as
expected. A fault not handled as expected fails the drill.

`ctx.shared` is where steps hand things on (the sandbox, the snapshot path, the episode, the
printed packets...): keys are documented per action in docs/drills.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Outcome = Literal["ok", "failed"]


@dataclass(frozen=True)
class FaultOutcome:
    fault: str  # the fault's name (docs/drills.md lists them)
    expected: str  # the handling the docs promise, in words
    actual: str  # what happened, in words
    handled: bool  # actual is as expected


@dataclass
class StepResult:
    outcome: Outcome = "ok"
    detail: str = ""  # one line: what was done, or why it failed
    figures: dict[str, float] = field(default_factory=dict)
    evidence: dict[str, str] = field(default_factory=dict)
    faults: list[FaultOutcome] = field(default_factory=list)


@dataclass
class DrillContext:
    """What a running drill gives its steps."""

    workdir: Path  # the drill's own folder: every file a step makes goes under it
    seed: int  # the script's seed: simulated paper, sampling and faults follow from it
    figures: dict[str, float]  # measured so far (read: a step may use an earlier figure)
    shared: dict[str, Any]  # handed on between steps (see the module docstring)
    log: Callable[[str], None]  # one line into the drill's activity journal
    headless: bool = True
    time_scale: float = 1.0  # a compressed drill (72 h in minutes) says how much


ActionFn = Callable[[DrillContext, Mapping[str, Any]], StepResult]


@dataclass(frozen=True)
class ActionSpec:
    name: str
    run: ActionFn
    summary: str  # one line for `drill check` and docs/drills.md
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    figures: tuple[str, ...] = ()  # the figures it measures
    faults: tuple[str, ...] = ()  # the faults a step of this action may name


ACTIONS: dict[str, ActionSpec] = {}


def register(spec: ActionSpec) -> ActionSpec:
    if spec.name in ACTIONS:
        raise ValueError(f"drill action {spec.name!r} registered twice")
    ACTIONS[spec.name] = spec
    return spec
