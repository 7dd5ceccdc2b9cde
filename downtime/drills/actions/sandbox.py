"""`sandbox`: the EHR stand-in (docs/sandbox.md) for the drill.

op = "up"      the first time: generates the demo hospital (`patients`, default 24, from the
               drill's seed) into workdir/hospital, makes the site's keys, starts the sandbox
               on a free 127.0.0.1 port loaded with it. Later: brings a `down` server back
               (the outage ends). Figures: `sandbox_patients`, `sandbox_resources`.
op = "down"    the outage begins: the FHIR server stops (connections refused); records
               ctx.shared["outage_started"]; figures `outage_started_at` (time.time())
               and `data_age_at_failure_seconds` (the newest house snapshot's data age at
               that moment, real seconds): the engine works out RTO and RPO from them.
op = "fault"   `kind` (slow, 5xx, 429, truncate) with the sandbox's own parameters
               (`seconds`, `status`, `retry_after`, `match`, `share`, `times`).
op = "clear"   every fault lifted (`kind` for one), a down server started again.

ctx.shared: "sandbox" (the running Sandbox), "outage_started", "outage_ended" (time.time()).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ..api import ActionSpec, DrillContext, StepResult, register
from .site import SITE, DrillActionError, make_site, now_utc, site_of, whole

SANDBOX = "sandbox"
OUTAGE_STARTED = "outage_started"
OUTAGE_ENDED = "outage_ended"
FAULT_PARAMS = ("seconds", "status", "retry_after", "match", "share", "times", "keep", "mode")


def running(ctx: DrillContext) -> Any:
    sandbox = ctx.shared.get(SANDBOX)
    if sandbox is None:
        raise DrillActionError("no sandbox running: a `sandbox` step with op = \"up\" comes "
                               "first")
    return sandbox


def _up(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    sandbox = ctx.shared.get(SANDBOX)
    if sandbox is not None:
        sandbox.clear_faults("down")
        ctx.shared[OUTAGE_ENDED] = time.time()
        return StepResult(detail=f"sandbox back up at {sandbox.base_url}")
    from downtime.generator import generate
    from downtime.sandbox import start_sandbox

    patients = whole(params, "patients", 24, least=1)
    as_of = now_utc().replace(second=0, microsecond=0)
    summary = generate(ctx.workdir / "hospital", patients=patients, seed=ctx.seed, as_of=as_of)
    ctx.log(f"generated {summary.inpatients} inpatients (seed {ctx.seed})")
    site = ctx.shared.get(SITE) or make_site(ctx.workdir, list(summary.units))
    site.hospital = ctx.workdir / "hospital"
    ctx.shared[SITE] = site
    sandbox = start_sandbox(ctx.workdir / "sandbox", load=site.hospital, port=0)
    ctx.shared[SANDBOX] = sandbox
    loaded = sum(sandbox.counts().values())
    return StepResult(detail=f"sandbox at {sandbox.base_url}: {summary.inpatients} "
                             f"inpatients, {loaded:,} resources",
                      figures={"sandbox_patients": summary.inpatients,
                               "sandbox_resources": loaded},
                      evidence={"sandbox_url": sandbox.base_url})


def _down(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    sandbox = running(ctx)
    sandbox.down()
    started = time.time()
    ctx.shared[OUTAGE_STARTED] = started
    figures = {"outage_started_at": started}
    from .build import data_time, newest_house

    house = newest_house(site_of(ctx))
    if house is not None:  # the data age at the moment of failure: what the units work from
        figures["data_age_at_failure_seconds"] = round(started - data_time(house.manifest), 1)
    return StepResult(detail=f"sandbox down at {now_utc():%H:%M:%S} UTC: the outage begins",
                      figures=figures)


def _fault(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    sandbox = running(ctx)
    kind = params.get("kind")
    if not kind:
        raise DrillActionError("op = \"fault\" needs kind = slow, 5xx, 429 or truncate")
    described = sandbox.set_fault(str(kind), **{k: params[k] for k in FAULT_PARAMS
                                                if k in params})
    return StepResult(detail=f"sandbox fault {kind} in force: {described}")


def _clear(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    sandbox = running(ctx)
    cleared = sandbox.clear_faults(params.get("kind"))
    if "down" in cleared:
        ctx.shared[OUTAGE_ENDED] = time.time()
    return StepResult(detail=f"cleared: {', '.join(cleared) or 'nothing was in force'}")


OPS = {"up": _up, "down": _down, "fault": _fault, "clear": _clear}


def run(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    op = params.get("op")
    if op not in OPS:
        raise DrillActionError(f"sandbox op = {op!r}: one of {', '.join(OPS)}")
    return OPS[op](ctx, params)


def stop(ctx: DrillContext) -> None:
    """Stop the sandbox (the drill's end)."""
    sandbox = ctx.shared.pop(SANDBOX, None)
    if sandbox is not None:
        sandbox.stop()


register(ActionSpec(
    name="sandbox", run=run, required=("op",),
    optional=("patients", "kind", *FAULT_PARAMS),
    summary="the EHR stand-in: up (generate and load the demo hospital; or end an outage), "
            "down (the outage begins), fault KIND, clear",
    figures=("sandbox_patients", "sandbox_resources", "outage_started_at",
             "data_age_at_failure_seconds")))
