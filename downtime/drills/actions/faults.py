"""`fault` (kind = ...): a fault injected on purpose, its expected handling in words, and a
check of what actually happened (FaultOutcome.handled). docs/drills-faults.md has each.

    source-down        the sandbox stopped mid-build          faults_source.py
    slow-source        every answer late                       faults_source.py
    disk-full          the builder's store on a full tmpfs     faults_source.py
    corrupt-snapshot   a damaged snapshot in an inbox          faults_agent.py
    replayed-snapshot  an older signed snapshot in an inbox    faults_agent.py
    wrong-key          a snapshot signed by another key        faults_agent.py
    expired-key        a workstation's key replaced            faults_agent.py
    clock-skew         a workstation's clock ahead (faketime)  faults_agent.py
    printer-offline    the CUPS queue disabled                 here
    submit-5xx         503s on submit                          here
    submit-429         429s on submit                          here

A step of another action may name its fault instead (`fault = "source-down"` in a `build`
step: the spec's `faults` say which); it runs the same check. Parameters of each fault are
the step's other parameters (`workstation`, `seconds`, `times`, `skew`, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..api import ACTIONS, ActionSpec, DrillContext, StepResult, register
from . import faults_agent, faults_source
from .faults_source import outcome
from .printing import ensure_cups, print_packet
from .reconcile import ready_entries, submit, submit_figures
from .sandbox import running
from .scan import episode_of
from .site import DrillActionError, site_of, whole, why

PRINTER_OFFLINE = ("printing to a stopped queue fails at once in one line (the printer is "
                   "stopped, how to start it); no form is registered as printed; once the "
                   "queue is started again the packet prints")


def printer_offline(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    """The drill's queue disabled (`cupsdisable`), a packet printed from one workstation."""
    from forms.printing import PrintError
    from forms.registry import read_registry

    site = site_of(ctx)
    cups = ensure_cups(ctx)
    ws = next((w for w in site.workstations if w.store.is_dir()), None)
    if ws is None:
        raise DrillActionError("printer-offline: no workstation with a snapshot to print from")

    def printed_events() -> int:
        records = read_registry(ws.folder / "registry", [site.him]) \
            if (ws.folder / "registry").is_dir() else []
        return sum(1 for r in records if r.event == "printed")

    before = printed_events()
    done = cups.admin("cupsdisable", "-r", "drill: printer offline", cups.queue)
    if done.returncode != 0:
        raise DrillActionError(f"cupsdisable {cups.queue}: {done.stderr.strip()}")
    try:
        print_packet(ctx, ws, cups.queue)
        error = ""
    except PrintError as e:
        error = str(e)
    finally:
        cups.admin("cupsenable", cups.queue)
    marked = printed_events() - before
    one_line = bool(error) and "\n" not in error and "stopped" in error
    actual = (f"print failed: {error}" if error else "the packet went to the stopped queue") + \
        f"; {marked} forms marked printed"
    return outcome("printer-offline", PRINTER_OFFLINE, actual, one_line and marked == 0,
                   {"print_failures": 1 if error else 0})


def _submit_fault(kind: str) -> Callable[[DrillContext, Mapping[str, Any]], StepResult]:
    def inject(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
        sandbox = running(ctx)
        episode, _ = episode_of(ctx)
        if not ready_entries(episode):
            raise DrillActionError(f"submit-{kind}: no decided entries to submit (back-entry "
                                   "and decide first)")
        times = whole(params, "times", 2, least=1)
        extra = {"status": int(params.get("status", 503))} if kind == "5xx" else {}
        sandbox.set_fault(kind, retry_after=params.get("retry_after", 1), times=times,
                          match="/fhir", **extra)
        try:
            done = submit(ctx, sandbox.base_url, retries=whole(params, "retries", 3))
        except Exception as e:  # noqa: BLE001 - the fault's check says what went wrong
            done, error = None, why(e)
        else:
            error = ""
        left = [f for f in sandbox.status()["faults"] if f.get("kind") == kind]
        sandbox.clear_faults(kind)
        expected = (f"the FHIR client waits as told (Retry-After) and retries: the {times} "
                    f"{'429' if kind == '429' else 'HTTP ' + str(extra.get('status'))} "
                    "answers are met and every Bundle is accepted in the end")
        if done is None:
            return outcome(f"submit-{kind}", expected, f"submit failed: {error}", False)
        figures = submit_figures(done)
        actual = f"{done.bundles - done.rejected} of {done.bundles} Bundles accepted" + (
            f"; refused: {done.first_problem}" if done.rejected else "") + (
            "; the fault was used up (retried through)" if not left else
            "; the fault was not met")
        return outcome(f"submit-{kind}", expected, actual, done.rejected == 0 and not left,
                       figures)

    return inject


FAULTS: dict[str, Callable[[DrillContext, Mapping[str, Any]], StepResult]] = {
    "source-down": faults_source.source_down,
    "slow-source": faults_source.slow_source,
    "disk-full": faults_source.disk_full,
    "corrupt-snapshot": faults_agent.corrupt_snapshot,
    "replayed-snapshot": faults_agent.replayed_snapshot,
    "wrong-key": faults_agent.wrong_key,
    "expired-key": faults_agent.expired_key,
    "clock-skew": faults_agent.clock_skew,
    "printer-offline": printer_offline,
    "submit-5xx": _submit_fault("5xx"),
    "submit-429": _submit_fault("429"),
}


def inject(ctx: DrillContext, kind: str, params: Mapping[str, Any]) -> StepResult:
    if kind not in FAULTS:
        raise DrillActionError(f"fault {kind!r}: one of {', '.join(FAULTS)}")
    ctx.log(f"injecting fault {kind}")
    return FAULTS[kind](ctx, params)


def run_fault(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    return inject(ctx, str(params.get("kind", "")), params)


FAULT_OPTIONS = ("workstation", "seconds", "timeout_seconds", "after_seconds", "times",
                 "retry_after", "status", "retries", "skew")


def _with_named_fault(spec: ActionSpec) -> None:
    """A step of `spec` that names a fault runs that fault's check instead."""
    plain = spec.run

    def run(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
        fault = params.get("fault")
        if fault:
            if fault not in spec.faults:
                raise DrillActionError(f"{spec.name}: fault {fault!r} is not one of this "
                                       f"action's ({', '.join(spec.faults)})")
            return inject(ctx, str(fault), {k: v for k, v in params.items() if k != "fault"})
        return plain(ctx, params)

    optional = tuple(dict.fromkeys((*spec.optional, "fault", *FAULT_OPTIONS)))
    ACTIONS[spec.name] = ActionSpec(spec.name, run, spec.summary, spec.required, optional,
                                    spec.figures, spec.faults)


for _spec in list(ACTIONS.values()):
    if _spec.faults and _spec.name != "fault":
        _with_named_fault(_spec)

register(ActionSpec(
    name="fault", run=run_fault, required=("kind",),
    optional=FAULT_OPTIONS,
    summary="a fault injected on purpose, checked against its documented handling",
    figures=("slow_build_seconds", "print_failures", "bundles_submitted", "bundles_rejected",
             "submit_reject_share", "entries_submitted", "entries_held"),
    faults=tuple(FAULTS)))
