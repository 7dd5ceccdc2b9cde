"""Tiny real drill actions for the engine's tests (names start with `t-`, so they never meet
the site actions of downtime/drills/actions/, which `actions()` registers beside them)."""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tests.tmux
from downtime.drills.api import ACTIONS, ActionSpec, DrillContext, FaultOutcome, StepResult
from downtime.drills.catalog import load_actions
from snapshots.errors import ToolkitError

MEASURED = ("identity_mismatch_share", "submit_reject_share", "outage_started_at",
            "units_ready_at", "units_ready", "units_total", "data_age_at_failure_seconds",
            "backentry_entries", "backentry_pages")


def _write(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    """Writes a file in the drill's folder and hands its hash on as evidence."""
    path = ctx.workdir / str(params.get("name", "out.txt"))
    path.write_text(f"seed {ctx.seed}\n")
    ctx.shared["written"] = path
    ctx.log(f"wrote {path.name}")
    return StepResult(detail=f"wrote {path.name}",
                      evidence={"sha256": hashlib.sha256(path.read_bytes()).hexdigest()})


def _measure(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    """Reports the figures its params give; `now` figures are the moment it ran, plus a
    number of seconds."""
    figures = {}
    for name, value in params.items():
        if name.endswith("_at"):
            figures[name] = time.time() + float(value)
        elif name in MEASURED:
            figures[name] = float(value)
    return StepResult(detail="measured " + ", ".join(sorted(figures)), figures=figures)


def _sleep(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    time.sleep(float(params.get("seconds", 0.05)))
    return StepResult(detail="slept")


def _fail(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    how = params.get("how", "outcome")
    if how == "toolkit":
        raise ToolkitError(f"{ctx.workdir / 'x'}: cannot reach the source")
    if how == "bug":
        return {}["no such key"]
    return StepResult("failed", "the step failed on purpose")


def _fault(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    """Injects its fault (a file the step cannot use), then handles it or not."""
    fault = params.get("fault", "corrupt-file")
    if params.get("silent"):
        return StepResult(detail="said nothing of its fault")
    bad = ctx.workdir / "inbox.bin"
    bad.write_bytes(b"\x00not a snapshot")
    handled = bool(params.get("handled", True))
    actual = "refused the corrupt file and kept the last good one" if handled else \
        "installed the corrupt file"
    return StepResult(detail=actual, faults=[FaultOutcome(
        fault, "refused, the last good snapshot kept", actual, handled)])


def _check_written(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    """A probe: the file an earlier step wrote is there (1) or not (0)."""
    path = ctx.workdir / str(params.get("name", "out.txt"))
    return StepResult(detail=f"{path.name} {'there' if path.exists() else 'missing'}",
                      figures={"file_there": float(path.exists())})


TEST_SPECS = [
    ActionSpec("t-write", _write, "write a file", optional=("name",)),
    ActionSpec("t-measure", _measure, "report figures", optional=MEASURED, figures=MEASURED),
    ActionSpec("t-sleep", _sleep, "sleep", optional=("seconds",)),
    ActionSpec("t-fail", _fail, "fail", optional=("how",)),
    ActionSpec("t-fault", _fault, "inject a fault", optional=("handled", "silent"),
               faults=("corrupt-file", "printer-offline")),
    ActionSpec("t-probe", _check_written, "probe a file", optional=("name",),
               figures=("file_there",)),
]


def actions() -> dict[str, ActionSpec]:
    """The engine's actions and the test actions, registered once per process."""
    registered = load_actions()
    for spec in TEST_SPECS:
        if spec.name not in ACTIONS:
            registered[spec.name] = spec
    return registered


def write_script(folder: Path, text: str, name: str = "drill.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


# A script of the tests' own, built from its steps (test_drill_engine.py and the others)
HEAD = '''
name = "test drill"
seed = 11
rollback = "back"
'''
STEP = '''
[[phases.steps]]
id = "{id}"
owner = "{owner}"
expect = "{expect}"
action = "{action}"
{more}
'''
PATH = '''
[[rollback_paths]]
id = "back"
[[rollback_paths.steps]]
id = "undo"
owner = "IT"
expect = "1m"
action = "rollback"
params = { to = "the legacy EHR" }
'''


def step(id: str, action: str, more: str = "", owner: str = "IT", expect: str = "1m") -> str:
    return STEP.format(id=id, action=action, more=more, owner=owner, expect=expect)


def script(*steps: str, criteria: str = "", extra: str = "", probes: str = "") -> str:
    return HEAD + extra + probes + '\n[[phases]]\nid = "main"\n' + "".join(steps) + \
        criteria + PATH


TEXT = script(step("write", "t-write"),
              step("inbox", "t-fault", 'fault = "corrupt-file"'),
              step("sign", "gate", 'params = { role = "CMIO", question = "Go live?" }',
                   owner="CMIO", expect="10m"),
              step("live", "go-live"),
              criteria='[[criteria]]\nname = "overrun"\nwhen = "max_overrun > 0.5"\n')

TMUX = shutil.which("tmux")


class Tmux(tests.tmux.Tmux):
    def __init__(self) -> None:
        super().__init__("drill")
