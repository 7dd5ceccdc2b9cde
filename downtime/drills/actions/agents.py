"""`install-agents` and `readiness`: simulated unit workstations and their every-shift check.

`install-agents` (workstations = N, units = [...], default every unit of the hospital):
N workstations, dealt round the units, each a folder workdir/ws/ws-<unit>-<n> with its
`downtime.toml` (paths, the drill's printer), its own passphrase-protected identity and the
pinned builder key under keys/, an inbox and a store; then the agent's install step (one
pass of `downtime agent --once`: downtime.agent.process_inbox) over what the share holds. A
workstation key made here is in the recipients of builds from now on (a snapshot built
before it cannot be opened there: install before the build). Figures: `agents_installed`,
`snapshots_installed`.

`readiness`: on each workstation, an agent pass (what its timer runs), then `agent status`
(downtime.agent.status with check_setup: the identity, the pinned key, the printer known to
CUPS and enabled), then the unit's newest snapshot opened with the workstation's identity
(readable: decrypted, its census read). A workstation is downtime-ready when status says
READY and the snapshot opened; its time is kept the first time it is. Figures:
`workstations_ready`, `units_ready`, `units_total`, and `units_ready_at` (epoch seconds
the last unit was confirmed downtime-ready, only when every one is; a unit ready before
the outage is confirmed again after it): the engine's RTO runs from `outage_started_at`
to it. The step fails naming the first workstation that is not ready.
Evidence: `ready.<unit>` (seconds after the outage start, or "ready").
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping
from typing import Any

from ..api import ActionSpec, DrillContext, StepResult, register
from .build import publish_into
from .printing import ensure_cups
from .sandbox import OUTAGE_STARTED
from .site import Site, Workstation, failed, site_of, whole, why


def workstation_config(ws: Workstation, printer: str) -> str:
    return (f'[paths]\nstore = "store"\ninbox = "inbox"\nidentity = "keys/{ws.name}.age"\n'
            f'trusted_builder_key = "keys/builder.pub"\nregistry = "registry"\n'
            f'audit_log = "audit.log"\n[print]\nprinter = "{printer}"\n')


def make_workstation(site: Site, unit: str, printer: str) -> Workstation:
    taken = {w.name for w in site.workstations}
    names = [n for n in _unit_keys(site, unit) if n not in taken]
    name = names[0] if names else site.add_workstation_key(unit).name
    folder = site.root / "ws" / name
    (folder / "keys").mkdir(parents=True, exist_ok=True)
    (folder / "inbox").mkdir(exist_ok=True)
    for file in (f"{name}.age", f"{name}.age.pub", "builder.pub"):
        shutil.copy2(site.keys / file, folder / "keys" / file)
    ws = Workstation(name, unit, folder, folder / "keys" / f"{name}.age",
                     identity=site.identities.get(name))
    (folder / "downtime.toml").write_text(workstation_config(ws, printer))
    site.workstations.append(ws)
    return ws


def _keys_for(site: Site, dealt: list[str]) -> None:
    """The workstation keys the dealt workstations lack, made in one batch (their KDFs side
    by side) before the workstations are set up one by one."""
    taken = [w.name for w in site.workstations]
    missing = []
    for unit in dealt:
        free = [n for n in _unit_keys(site, unit) if n not in taken]
        if free:
            taken.append(free[0])
        else:
            missing.append(unit)
    if missing:
        site.add_workstation_keys(missing)


def _unit_keys(site: Site, unit: str) -> list[str]:
    from downtime.provision import workstation_name

    return [workstation_name(unit, n + 1) for n in range(len(site.recipients["units"]
                                                             .get(unit, [])))]


def agent_pass(site: Site, ws: Workstation) -> list[Any]:
    """One `downtime agent --once` pass on the workstation; its results."""
    from downtime.agent import process_inbox

    results = process_inbox(ws.inbox, ws.store, site.trusted, settle_seconds=0)
    if any(r.status == "installed" for r in results):
        ws.installed_at = time.time()
    return results


def run_install(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    site = site_of(ctx)
    units = list(params.get("units") or site.units)
    unknown = [u for u in units if u not in site.units]
    if unknown:
        return failed(f"unit(s) {', '.join(unknown)} not in the hospital "
                      f"({', '.join(site.units)})")
    count = whole(params, "workstations", len(units), least=1)
    cups = ensure_cups(ctx)
    dealt = [units[i % len(units)] for i in range(count)]
    _keys_for(site, dealt)
    made = [make_workstation(site, unit, cups.queue) for unit in dealt]
    installed = 0
    for ws in made:
        if site.share.is_dir():
            publish_into(site.share, [ws.inbox])
        installed += sum(1 for r in agent_pass(site, ws) if r.status == "installed")
    return StepResult(detail=f"{len(made)} workstations on {len(set(w.unit for w in made))} "
                             f"units, {installed} snapshots installed",
                      figures={"agents_installed": len(made), "snapshots_installed": installed},
                      evidence={"workstations": " ".join(w.name for w in made)})


def check_workstation(ctx: DrillContext, ws: Workstation) -> list[str]:
    """What keeps the workstation from being downtime-ready (empty: it is ready)."""
    from downtime.agent import check_setup, status
    from snapshots import chart
    from snapshots.sealed import open_snapshot
    from snapshots.store import newest_for_unit

    site = site_of(ctx)
    cups = ensure_cups(ctx)
    agent_pass(site, ws)
    setup = check_setup(ws.identity_file, ws.folder / "keys" / "builder.pub", cups.queue)
    report = status(ws.store, setup=setup, inbox=ws.inbox)
    problems = list(report.problems)
    if problems:
        return problems
    try:
        identity = ws.opened_identity(site.passphrase)
        newest = newest_for_unit(ws.store, identity.recipient, ws.unit)
        if newest is None:
            return [f"no snapshot for unit {ws.unit} opens with {ws.name}'s identity"]
        snapshot = open_snapshot(newest.path, site.trusted, [identity])
        try:
            chart.census(snapshot.db, ws.unit)
        finally:
            snapshot.close()
    except Exception as e:  # noqa: BLE001 - any failure to read is "not ready", in words
        return [f"the snapshot does not open: {why(e)}"]
    return []


def run_readiness(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    site = site_of(ctx)
    if not site.workstations:
        return failed("no workstations: an `install-agents` step first")
    not_ready: list[str] = []
    started = ctx.shared.get(OUTAGE_STARTED)
    for ws in site.workstations:
        problems = check_workstation(ctx, ws)
        if problems:
            not_ready.append(f"{ws.name}: {problems[0]}")
        elif ws.ready_at is None or (started and ws.ready_at < started):
            ws.ready_at = time.time()  # ready for this outage: confirmed after it began
    units = sorted({w.unit for w in site.workstations})
    ready_units = [u for u in units if all(w.ready_at and not _listed(w, not_ready)
                                           for w in site.workstations if w.unit == u)]
    figures: dict[str, float] = {"workstations_ready": len(site.workstations) - len(not_ready),
                                 "units_ready": len(ready_units), "units_total": len(units)}
    evidence = {}
    for unit in ready_units:
        at = max(w.ready_at for w in site.workstations if w.unit == unit)
        evidence[f"ready.{unit}"] = f"{max(0.0, at - started):.1f} s" if started else "ready"
    if units and len(ready_units) == len(units):  # the engine's RTO: outage start to this
        figures["units_ready_at"] = max(w.ready_at for w in site.workstations)
    if not_ready:
        return failed(f"{len(not_ready)} of {len(site.workstations)} workstations not "
                      f"downtime-ready: {not_ready[0]}", figures=figures, evidence=evidence)
    return StepResult(detail=f"all {len(site.workstations)} workstations on {len(units)} "
                             "units downtime-ready", figures=figures, evidence=evidence)


def _listed(ws: Workstation, not_ready: list[str]) -> bool:
    return any(line.startswith(f"{ws.name}: ") for line in not_ready)


register(ActionSpec(
    name="install-agents", run=run_install, optional=("workstations", "units"),
    summary="N simulated unit workstations (config, identity, inbox, store), the agent's "
            "install step over the share",
    figures=("agents_installed", "snapshots_installed")))

register(ActionSpec(
    name="readiness", run=run_readiness, optional=("fault",),
    summary="on each workstation an agent pass and `agent status` (and the snapshot opened): "
            "downtime-ready or why not; RTO after an outage",
    figures=("workstations_ready", "units_ready", "units_total", "units_ready_at"),
    faults=("corrupt-snapshot", "replayed-snapshot", "wrong-key", "expired-key",
            "clock-skew")))
