"""`scan`: the printed pages scanned as a scanner makes them and taken into a reconciliation
episode, as `downtime reconcile open`, `collect` and `scan` do.

The episode (reconcile/episode.py) is opened on first use in workdir/reconcile for the
outage's window (ctx.shared["paper_window"], else the outage start to now) and the units
with workstations, encrypted to the HIM clerks' identity and escrow; each workstation's form
registry is collected into it (reconcile/collect.py), so the pages' forms are known. Then
every page of every packet `print-packets` printed (ctx.shared["printed"], in memory) is
rasterised and put through the scanner simulation (downtime/drills/scansim.py: grey, a skew
of up to 1.5 degrees, grain, JPEG; `dpi`, default 200), written as one multi-page PDF per
packet into workdir/scan-inbox and taken in with reconcile/intake.py `scan_files`, which
stores each page encrypted in the episode and removes the scanner's file (no plaintext left).
`pages` (optional) scans only the first pages of each packet. Figures: `pages_scanned`,
`pages_filed`, `pages_not_filed` (queued, not in the registry, or set aside), `scan_seconds`.

ctx.shared: "episode" (the open Episode), "filer" (its reconcile.filing.Filer).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ..api import ActionSpec, DrillContext, StepResult, register
from .paper import PAPER_WINDOW
from .sandbox import OUTAGE_STARTED
from .site import failed, site_of, timer, whole

EPISODE = "episode"
FILER = "filer"
CLERK_WHO = "drill-him-clerk"


def episode_of(ctx: DrillContext) -> tuple[Any, Any]:
    """The drill's reconciliation episode and its Filer, opened on first use."""
    from reconcile.episode import Window, open_episode
    from reconcile.filing import Filer

    if EPISODE in ctx.shared:
        return ctx.shared[EPISODE], ctx.shared[FILER]
    site = site_of(ctx)
    window = ctx.shared.get(PAPER_WINDOW)
    if window is None:
        started = ctx.shared.get(OUTAGE_STARTED)
        now = datetime.now(UTC)
        window = (datetime.fromtimestamp(started, UTC) if started else now, None)
    units = sorted({w.unit for w in site.workstations}) or site.units
    episode = open_episode(ctx.workdir / "reconcile", Window(window[0], window[1]), units,
                           [str(site.him.to_public()), *site.recipients["escrow"]],
                           [site.him], CLERK_WHO)
    filer = Filer(episode)
    ctx.shared[EPISODE], ctx.shared[FILER] = episode, filer
    return episode, filer


def collect_registries(ctx: DrillContext) -> int:
    """Every workstation's form registry into the episode; the new registry events."""
    from reconcile.collect import collect

    site = site_of(ctx)
    _, filer = episode_of(ctx)
    report = collect(filer, [w.folder for w in site.workstations], [site.him],
                     {w.name: w.unit for w in site.workstations})
    return sum(r.new_events for r in report.workstations)


def run_scan(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    from downtime.drills.scansim import Scan, scan_pages, to_pdf
    from reconcile.intake import scan_files
    from reconcile.rules import FILED

    printed = ctx.shared.get("printed") or []
    if not printed:
        return failed("nothing printed to scan: a `print-packets` step first")
    dpi = whole(params, "dpi", 200, least=100)
    limit = params.get("pages")
    _, filer = episode_of(ctx)
    with timer() as took:
        collect_registries(ctx)
        inbox = ctx.workdir / "scan-inbox"
        inbox.mkdir(exist_ok=True)
        rng = random.Random(ctx.seed)
        paths = []
        for n, (unit, _ws, pdf, pages, _records) in enumerate(printed):
            count = min(pages, int(limit)) if limit else pages
            how = [Scan(dpi=dpi, skew=round(rng.uniform(-1.5, 1.5), 2), seed=rng.randrange(10**6))
                   for _ in range(count)]
            path = inbox / f"scan-{unit}-{n + 1:03d}.pdf"
            path.write_bytes(to_pdf(scan_pages(pdf, how)))
            paths.append(path)
        results = list(scan_files(filer, paths, workers=1, remove=True))
    outcomes = [o for r in results for o in r.outcomes]
    filed = sum(1 for o in outcomes if o.status == FILED)
    aside = sum(1 for r in results if r.set_aside)
    figures = {"pages_scanned": len(outcomes), "pages_filed": filed,
               "pages_not_filed": len(outcomes) - filed + aside, "scan_seconds": took[0]}
    detail = f"{len(outcomes)} pages scanned from {len(paths)} packets, {filed} filed"
    if aside or filed < len(outcomes):
        first = next((line for r in results for line in r.lines()
                      if "filed" not in line.lower()), "")
        return failed(f"{detail}; not filed: {first}", figures=figures)
    return StepResult(detail=detail, figures=figures)


register(ActionSpec(
    name="scan", run=run_scan, optional=("dpi", "pages"),
    summary="the printed packets scanned (simulated scanner) into the reconciliation "
            "episode, the workstations' form registries collected first",
    figures=("pages_scanned", "pages_filed", "pages_not_filed", "scan_seconds")))
