"""A drill script: TOML (docs/drills.md lists every key), read into a `Script`, or refused
with every problem on its own line (`LINE: reason`) before anything runs.

What is refused: TOML that does not parse; a key the format does not have; a step without
an id, an owner or an expected duration; an unknown action; a parameter the action does not
take, or one it needs left out (per its ActionSpec); a fault the action cannot inject; a
`needs` naming no step, or a cycle of them; a criterion or tolerance that is not an
expression, or names a figure no step measures; a rollback path that does not exist; a
gate without a pre-approved sign-off when the run is headless.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snapshots.errors import ToolkitError

from .api import ActionSpec
from .criteria import Expression, ExpressionError
from .lines import Lines
from .validate import Checker

_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m(?!s))?\s*"
                       r"(?:(\d+(?:\.\d+)?)s)?\s*$")


class DrillScriptError(ToolkitError):
    """The script cannot be run; `problems` holds each one with its line."""

    reason = "drill-script"
    exit_status = 3

    def __init__(self, source: Path | str, problems: list[Problem]) -> None:
        self.source = str(source)
        self.problems = problems
        n = len(problems)
        # one line per problem, as a compiler says them (FILE:LINE: reason), under a heading
        super().__init__(f"{source}: {n} problem{'s' if n != 1 else ''}, nothing was run\n"
                         + "\n".join(p.at(source) for p in problems))


@dataclass(frozen=True)
class Problem:
    line: int
    text: str

    def at(self, source: Path | str) -> str:
        return f"{source}:{self.line}: {self.text}"


@dataclass(frozen=True)
class Step:
    id: str
    owner: str
    expected_seconds: float  # in drill time (time_scale applies)
    action: str
    params: Mapping[str, Any]
    needs: tuple[str, ...] = ()
    fault: str | None = None
    title: str = ""
    phase: str = ""  # the phase's id, or the rollback path's
    line: int = 0

    @property
    def figure_id(self) -> str:
        """The step's id as it is written in a figure's name (`overrun.final_sync`)."""
        return self.id.replace("-", "_")


@dataclass(frozen=True)
class Phase:
    id: str
    title: str
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Probe:
    name: str
    action: str
    params: Mapping[str, Any]
    tolerance: Expression
    line: int = 0


@dataclass(frozen=True)
class Criterion:
    name: str
    when: Expression
    path: str  # the rollback path it takes when it trips
    line: int = 0


@dataclass(frozen=True)
class Script:
    name: str
    source: Path
    seed: int
    time_scale: float
    phases: tuple[Phase, ...]
    description: str = ""
    steady_state_title: str = ""
    steady_after: str | None = None  # the phase that sets the drill's world up: the
    # hypothesis is first checked once it is done (else before the first step)
    probes: tuple[Probe, ...] = ()
    criteria: tuple[Criterion, ...] = ()
    paths: Mapping[str, Phase] = field(default_factory=dict)  # the rollback paths by id
    rollback: str | None = None  # the path a gate's "stop the line" (abort) takes
    on_failure: str | None = None  # the path run when a step fails (the drill still fails)

    def steps(self) -> list[Step]:
        return [s for p in self.phases for s in p.steps]

    def all_steps(self) -> list[Step]:
        return self.steps() + [s for p in self.paths.values() for s in p.steps]


def duration_seconds(value: object) -> float | None:
    """`90`, `"90s"`, `"5m"`, `"1h30m"` as seconds; None when it is none of these."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if value >= 0 else None
    if not isinstance(value, str) or not value.strip():
        return None
    m = _DURATION.match(value)
    if not m or not any(m.groups()):
        return None
    h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    return h * 3600 + mi * 60 + s


def load_script(path: Path, actions: Mapping[str, ActionSpec], *,
                headless: bool = False) -> Script:
    """The script at `path`, checked against `actions`; DrillScriptError with every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        from snapshots.errors import oserror_text

        raise DrillScriptError(path, [Problem(0, oserror_text(e, "cannot read the script"))]) \
            from None
    return parse_script(text, path, actions, headless=headless)


def parse_script(text: str, source: Path, actions: Mapping[str, ActionSpec], *,
                 headless: bool = False) -> Script:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"line (\d+)", str(e))
        raise DrillScriptError(source, [Problem(int(m.group(1)) if m else 1,
                                                f"not TOML: {e}")]) from None
    checker = Checker(Lines(text), actions, headless=headless)
    script = _build(data, source, checker)
    checker.whole(script)
    if checker.problems:
        raise DrillScriptError(source, sorted(checker.problems, key=lambda p: p.line))
    return script


def _build(data: dict, source: Path, c: Checker) -> Script:
    c.keys(data, (), {"name", "description", "seed", "time_scale", "steady_state", "phases",
                      "criteria", "rollback_paths", "rollback", "on_failure"})
    name = c.text(data, ("name",), required=True)
    seed = c.integer(data, ("seed",), default=1)
    scale = data.get("time_scale", 1.0)
    if isinstance(scale, bool) or not isinstance(scale, int | float) or scale <= 0:
        c.problem(("time_scale",), "time_scale must be a number above 0 (drill seconds per "
                                   "real second)")
        scale = 1.0
    phases = tuple(_phase(p, ("phases", i), c) for i, p in
                   enumerate(c.tables(data, ("phases",), required=True)))
    paths = {}
    for i, p in enumerate(c.tables(data, ("rollback_paths",))):
        phase = _phase(p, ("rollback_paths", i), c)
        if phase.id in paths:
            c.problem(("rollback_paths", i, "id"), f"rollback path {phase.id!r} twice")
        paths[phase.id] = phase
    state = data.get("steady_state", {})
    if not isinstance(state, dict):
        c.problem(("steady_state",), "steady_state must be a table")
        state = {}
    c.keys(state, ("steady_state",), {"title", "probes", "after_phase"})
    probes = tuple(_probe(p, ("steady_state", "probes", i), c)
                   for i, p in enumerate(c.tables(state, ("steady_state", "probes"))))
    criteria = tuple(_criterion(p, ("criteria", i), c, data.get("rollback"))
                     for i, p in enumerate(c.tables(data, ("criteria",))))
    return Script(name=name or "", source=source, seed=seed, time_scale=float(scale),
                  phases=phases, description=c.text(data, ("description",)) or "",
                  steady_state_title=c.text(state, ("steady_state", "title")) or "",
                  steady_after=c.text(state, ("steady_state", "after_phase")),
                  probes=probes, criteria=criteria, paths=paths,
                  rollback=c.text(data, ("rollback",)), on_failure=c.text(data, ("on_failure",)))


def _phase(data: dict, at: tuple, c: Checker) -> Phase:
    c.keys(data, at, {"id", "title", "steps"})
    pid = c.text(data, at + ("id",), required=True) or f"#{at[-1] + 1}"
    steps = tuple(_step(s, at + ("steps", i), c, pid)
                  for i, s in enumerate(c.tables(data, at + ("steps",), required=True)))
    return Phase(pid, c.text(data, at + ("title",)) or pid, steps)


def _step(data: dict, at: tuple, c: Checker, phase: str) -> Step:
    c.keys(data, at, {"id", "title", "owner", "expect", "action", "params", "needs", "fault"})
    sid = c.text(data, at + ("id",), required=True) or f"{phase}#{at[-1] + 1}"
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", sid):
        c.problem(at + ("id",), f"step id {sid!r}: lower-case letters, digits, - and _ only")
    expect = duration_seconds(data.get("expect"))
    if expect is None:
        c.problem(at + ("expect",), f"step {sid!r}: expect (its expected duration, e.g. "
                                    "\"5m\", \"1h30m\" or seconds) is " +
                  ("missing" if "expect" not in data else f"not a duration: {data['expect']!r}"))
    elif expect == 0:
        c.problem(at + ("expect",), f"step {sid!r}: expect must be above 0")
    params = data.get("params", {})
    if not isinstance(params, dict):
        c.problem(at + ("params",), f"step {sid!r}: params must be a table")
        params = {}
    needs = data.get("needs", [])
    if isinstance(needs, str):
        needs = [needs]
    if not isinstance(needs, list) or not all(isinstance(n, str) for n in needs):
        c.problem(at + ("needs",), f"step {sid!r}: needs must be a list of step ids")
        needs = []
    owner = data.get("owner")
    owner = owner.strip() if isinstance(owner, str) else None
    if not owner:
        c.problem(at + ("owner",) if "owner" in data else at,
                  f"step {sid!r} has no owner (the role that does it, e.g. \"IT\")")
    step = Step(id=sid, owner=owner or "", expected_seconds=expect or 0.0,
                action=c.text(data, at + ("action",), required=True) or "", params=params,
                needs=tuple(needs), fault=c.text(data, at + ("fault",)),
                title=c.text(data, at + ("title",)) or "", phase=phase, line=c.lines.of(at))
    c.step(step, at)
    return step


def _probe(data: dict, at: tuple, c: Checker) -> Probe:
    c.keys(data, at, {"name", "action", "params", "tolerance"})
    name = c.text(data, at + ("name",), required=True) or f"probe {at[-1] + 1}"
    action = c.text(data, at + ("action",), required=True) or ""
    params = data.get("params", {}) if isinstance(data.get("params", {}), dict) else {}
    tolerance = _expression(data, at + ("tolerance",), c)
    probe = Probe(name, action, params, tolerance, c.lines.of(at))
    c.probe(probe, at)
    return probe


def _criterion(data: dict, at: tuple, c: Checker, default_path: object) -> Criterion:
    c.keys(data, at, {"name", "when", "rollback"})
    name = c.text(data, at + ("name",), required=True) or f"criterion {at[-1] + 1}"
    path = c.text(data, at + ("rollback",)) or (default_path if isinstance(default_path, str)
                                                  else "")
    if not path:
        c.problem(at, f"criterion {name!r} names no rollback path (rollback = \"...\" here "
                      "or at the top of the script)")
    return Criterion(name, _expression(data, at + ("when",), c), path, c.lines.of(at))


def _expression(data: dict, at: tuple, c: Checker) -> Expression:
    text = c.text(data, at, required=True) or "0"
    try:
        return Expression.parse(text)
    except ExpressionError as e:
        c.problem(at, f"{at[-1]}: {e}")
        return Expression.parse("0")
