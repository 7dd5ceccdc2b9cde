"""`build` and `publish`: snapshots from the sandbox, as the builder service makes them.

`build` (mode = "full" | "incremental"): one run of the builder service
(downtime/builder/service.py `Builder.run_once`) pulling from the sandbox through the FHIR
client (Bulk export), sealing per-unit and whole-house snapshots into workdir/builder/store.
An incremental build asks the server for what changed since the newest house snapshot. A
run that fails changes nothing (the last good snapshots stay in force) and the step fails
with the builder's one line. Figures: `build_seconds`, `snapshot_age_seconds` (the newest
house snapshot's data age when the step ends), `snapshots_built`, `snapshot_sequence`.
Evidence: `snapshot_id` (the house snapshot's), `snapshot_ids` (every one written).

`publish`: each scope's newest snapshot copied into the share (workdir/share) and into the
inbox of every installed workstation, under a hidden name and then renamed (an agent never
sees half a file), as the builder's `[builder] publish` does. Figure:
`snapshots_published`. Evidence: `published` (the ids).

ctx.shared: "build" (the last BuildJobResult), "build_error" (the last failed run's line).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from snapshots.fhir_client.settings import ClientSettings
from snapshots.manifest import Manifest
from snapshots.store import StoredSnapshot, newest_per_scope

from ..api import ActionSpec, DrillContext, StepResult, register
from .sandbox import running
from .site import DrillActionError, Site, failed, number, site_of, timer, whole

BUILD = "build"
BUILD_ERROR = "build_error"


def data_time(manifest: Manifest) -> float:
    return datetime.fromisoformat(manifest.as_of.replace("Z", "+00:00")).timestamp()


def newest_house(site: Site) -> StoredSnapshot | None:
    if not site.store.is_dir():
        return None
    return newest_per_scope(site.store).get("house")


def builder_for(ctx: DrillContext, params: Mapping[str, Any]) -> Any:
    """The site's builder service, pulling from the sandbox."""
    from downtime.builder.service import Builder
    from downtime.builder.settings import BuilderSettings
    from downtime.config import Config, RecipientSettings

    site = site_of(ctx)
    table = site.recipients
    config = Config(recipients=RecipientSettings(
        escrow=tuple(table["escrow"]), pharmacy=tuple(table["pharmacy"]),
        builder=tuple(table["builder"]),
        units={u: tuple(r) for u, r in table["units"].items()}))
    remote = ClientSettings(url=running(ctx).base_url, mode="bulk",
                            retries=whole(params, "retries", 2),
                            timeout_seconds=number(params, "timeout_seconds", 10, least=0.1),
                            export_deadline_minutes=number(params, "deadline_minutes", 2,
                                                           least=0.01))
    return Builder(config, site.store, site.signing, site.builder_identity, remote=remote,
                   settings=BuilderSettings(per_unit=True, publish=()))


def run_build_step(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    """One builder run; a failed run is a failed step (the last good snapshots stay)."""
    mode = params.get("mode", "full")
    if mode not in ("full", "incremental"):
        raise DrillActionError(f"build mode = {mode!r}: full or incremental")
    builder = builder_for(ctx, params)
    with timer() as took:
        result = builder.run_once(full=mode == "full")
    figures: dict[str, float] = {"build_seconds": took[0]}
    site = site_of(ctx)
    house = newest_house(site)
    if house is not None:
        import time

        figures["snapshot_age_seconds"] = round(time.time() - data_time(house.manifest), 1)
    if result is None:
        error = builder.status["last_run"]["error"]
        ctx.shared[BUILD_ERROR] = error
        return failed(f"{mode} build failed: {error}", figures=figures)
    ctx.shared[BUILD] = result
    ctx.shared.pop(BUILD_ERROR, None)
    house_written = next(m for _, m in result.written if m.scope == "house")
    figures.update(snapshots_built=len(result.written),
                   snapshot_sequence=house_written.sequence)
    kind = builder.status["last_run"]["kind"]
    return StepResult(
        detail=f"{kind} build: {len(result.written)} snapshots, sequence "
               f"{house_written.sequence}, {result.report['census']['in_snapshot']} patients "
               f"in {took[0]:.1f} s",
        figures=figures,
        evidence={"snapshot_id": house_written.snapshot_id,
                  "snapshot_ids": " ".join(m.snapshot_id for _, m in result.written)})


def publish_into(source: Path, folders: list[Path]) -> list[Manifest]:
    """Each scope's newest snapshot of `source` into every folder, atomically."""
    newest = newest_per_scope(source)
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        for snap in newest.values():
            target = folder / snap.path.name
            part = folder / f".{snap.path.name}.part"
            shutil.copyfile(snap.path, part)
            with open(part, "rb") as f:
                os.fsync(f.fileno())
            os.replace(part, target)
    return [s.manifest for s in newest.values()]


def run_publish(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    site = site_of(ctx)
    if newest_house(site) is None:
        return failed("nothing to publish: no snapshot built yet (a `build` step first)")
    from snapshots.pruning import prune

    folders = [site.share, *(w.inbox for w in site.workstations)]
    published = publish_into(site.store, folders)
    for scope in sorted({m.scope for m in published}):
        prune(site.share, scope, site.trusted, keep=3, whole_file=False)
    return StepResult(detail=f"{len(published)} snapshots published to the share and "
                             f"{len(site.workstations)} workstation inboxes",
                      figures={"snapshots_published": len(published)},
                      evidence={"published": " ".join(sorted(m.snapshot_id
                                                             for m in published))})


register(ActionSpec(
    name="build", run=run_build_step, optional=("mode", "retries", "timeout_seconds",
                                                 "deadline_minutes", "fault"),
    summary="a full or incremental snapshot build from the sandbox (the builder service's "
            "run: pull, seal, sign)",
    figures=("build_seconds", "snapshot_age_seconds", "snapshots_built", "snapshot_sequence"),
    faults=("source-down", "slow-source", "disk-full")))

register(ActionSpec(
    name="publish", run=run_publish,
    summary="the newest snapshots into the share and every workstation's inbox (atomic)",
    figures=("snapshots_published",)))
