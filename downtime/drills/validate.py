"""The checks a drill script must pass before anything runs, each problem kept with its line
(script.py builds the Script; this collects what is wrong with it)."""

from __future__ import annotations

import graphlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import figures as F
from .api import ActionSpec

if TYPE_CHECKING:
    from .lines import Lines
    from .script import Probe, Script, Step

GATE = "gate"
ENGINE_PARAMS = {"fault"}  # what the engine itself hands an action beside its own params


class Checker:
    def __init__(self, lines: Lines, actions: Mapping[str, ActionSpec], *,
                 headless: bool) -> None:
        from .script import Problem

        self.lines = lines
        self.actions = actions
        self.headless = headless
        self.problems: list[Problem] = []
        self._problem = Problem
        self._step_at: dict[str, tuple] = {}

    def problem(self, at: tuple, text: str) -> None:
        self.problems.append(self._problem(self.lines.of(at), text))

    # -- the shape of the TOML
    def keys(self, data: Mapping[str, Any], at: tuple, allowed: set[str]) -> None:
        for key in data:
            if key not in allowed:
                where = ".".join(str(a) for a in at if isinstance(a, str)) or "the script"
                self.problem(at + (key,), f"unknown key {key!r} in {where} (it has: "
                                          f"{', '.join(sorted(allowed))})")

    def text(self, data: Mapping[str, Any], at: tuple, *, required: bool = False) -> str | None:
        value = data.get(at[-1])
        if value is None:
            if required:
                self.problem(at[:-1], f"{at[-1]} is missing")
            return None
        if not isinstance(value, str) or not value.strip():
            self.problem(at, f"{at[-1]} must be a non-empty string")
            return None
        return value.strip()

    def integer(self, data: Mapping[str, Any], at: tuple, *, default: int) -> int:
        value = data.get(at[-1], default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(at, f"{at[-1]} must be a whole number")
            return default
        return value

    def tables(self, data: Mapping[str, Any], at: tuple, *,
               required: bool = False) -> list[dict]:
        value = data.get(at[-1])
        if value is None:
            if required:
                table = ".".join(str(a) for a in at if isinstance(a, str))
                self.problem(at[:-1], f"no {at[-1]} (at least one [[{table}]])")
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.problem(at, f"{at[-1]} must be an array of tables")
            return []
        return value

    # -- what a step or probe asks of its action
    def step(self, step: Step, at: tuple) -> None:
        if step.id in self._step_at:
            self.problem(at + ("id",), f"step id {step.id!r} is used twice")
        self._step_at.setdefault(step.id, at)
        spec = self._action(step.action, at, f"step {step.id!r}")
        if spec is None:
            return
        self._params(spec, step.params, at, f"step {step.id!r}")
        if step.fault is not None and step.fault not in spec.faults:
            self.problem(at + ("fault",), f"step {step.id!r}: action {spec.name!r} cannot "
                         f"inject fault {step.fault!r} (it can: "
                         f"{', '.join(spec.faults) or 'none'})")
        if step.action == GATE and self.headless and "signed_by" not in step.params:
            self.problem(at + ("params",), f"gate {step.id!r} has no pre-approved sign-off (params "
                             "signed_by) and the run is headless: nobody can sign it")

    def probe(self, probe: Probe, at: tuple) -> None:
        spec = self._action(probe.action, at, f"probe {probe.name!r}")
        if spec is None:
            return
        self._params(spec, probe.params, at, f"probe {probe.name!r}")
        for name in probe.tolerance.figures:
            if name not in spec.figures:
                self.problem(at + ("tolerance",), f"probe {probe.name!r}: tolerance names "
                             f"figure {name!r}, which action {spec.name!r} does not measure "
                             f"(it measures: {', '.join(spec.figures) or 'nothing'})")

    def _action(self, name: str, at: tuple, what: str) -> ActionSpec | None:
        if not name:
            return None
        spec = self.actions.get(name)
        if spec is None:
            self.problem(at + ("action",), f"{what}: unknown action {name!r} (the actions: "
                         f"{', '.join(sorted(self.actions))})")
        return spec

    def _params(self, spec: ActionSpec, params: Mapping[str, Any], at: tuple,
                what: str) -> None:
        for key in params:
            if key not in spec.required and key not in spec.optional:
                self.problem(at + ("params", key), f"{what}: action {spec.name!r} takes no "
                             f"parameter {key!r} (it takes: "
                             f"{', '.join(spec.required + spec.optional) or 'none'})")
        for key in spec.required:
            if key not in params:
                self.problem(at + ("params",) if params else at,
                             f"{what}: action {spec.name!r} needs parameter {key!r}")

    # -- the script as a whole
    def whole(self, script: Script) -> None:
        self._needs(script)
        self._paths(script)
        self._figures(script)

    def _needs(self, script: Script) -> None:
        for path_steps in [script.steps()] + [list(p.steps) for p in script.paths.values()]:
            ids = {s.id for s in path_steps}
            graph = {}
            for s in path_steps:
                for n in s.needs:
                    if n not in ids:
                        where = "of its rollback path" if s.phase in script.paths \
                            else "of the drill"
                        self.problem(self._step_at.get(s.id, ()) + ("needs",),
                                     f"step {s.id!r} needs {n!r}, which is no step {where}")
                graph[s.id] = [n for n in s.needs if n in ids]
            try:
                graphlib.TopologicalSorter(graph).prepare()
            except graphlib.CycleError as e:
                cycle = e.args[1]
                self.problem(self._step_at.get(cycle[0], ()) + ("needs",),
                             "a cycle in needs: " + " -> ".join(cycle))

    def _paths(self, script: Script) -> None:
        named = [(("rollback",), script.rollback, "rollback"),
                 (("on_failure",), script.on_failure, "on_failure")]
        named += [(("criteria", i, "rollback"), c.path, f"criterion {c.name!r}")
                  for i, c in enumerate(script.criteria)]
        for at, path, what in named:
            if path and path not in script.paths:
                self.problem(at, f"{what} names rollback path {path!r}, which the script does "
                             f"not have (it has: {', '.join(script.paths) or 'none'})")
        phases = [p.id for p in script.phases]
        if script.steady_after is not None and script.steady_after not in phases:
            self.problem(("steady_state", "after_phase"), f"steady_state.after_phase names "
                         f"phase {script.steady_after!r}, which the script does not have (it "
                         f"has: {', '.join(phases)})")
        gates = [s for s in script.steps() if s.action == GATE]
        if gates and script.rollback is None and script.paths:
            self.problem((), "the script has gates but no rollback = \"...\": where does "
                             "\"stop the line\" (abort) at a gate go?")

    def _figures(self, script: Script) -> None:
        measured = {f for s in script.steps() if s.action in self.actions
                    for f in self.actions[s.action].figures}
        known = measured | F.derivable(measured, [s.figure_id for s in script.steps()])
        for i, c in enumerate(script.criteria):
            for name in c.when.figures:
                if name not in known:
                    self.problem(("criteria", i, "when"), f"criterion {c.name!r} names figure "
                                 f"{name!r}, which no step of the drill measures")
