"""`parity`: the migration parity check (docs/parity.md; snapshots/parity, the engine of
`downtime parity`) between the legacy EHR, the running sandbox, and a target.

`target` (default "hospital"): "hospital" is the demo hospital's export on disk (what the
sandbox was loaded from: the records as they would arrive in the new system), "sandbox" the
sandbox itself (no difference expected), or any folder, file or http(s) URL of a FHIR
source. `seed` (default the drill's) chooses the sampled charts. Both sides are built
through the snapshot canonical model in memory; the JSON report names patients, so it is
kept encrypted to escrow only (workdir/parity/report-<n>.json.age). Figures, from the
report's: `identity_mismatch_share`, `charts_lacking_medication_share` (the report's
`lacking_medication_history_share`: charts with a medication history on the legacy side and
none on the target), `charts_differing_share`, `parity_differences`, `parity_passed` (1 when
every [parity] criterion holds). Evidence: `parity_report_sha256` (of the JSON report's
bytes, before encryption).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..api import ActionSpec, DrillContext, StepResult, register
from .sandbox import running
from .site import DrillActionError, site_of, timer


def _target(ctx: DrillContext, given: str) -> Any:
    from snapshots.fhir_client import ClientSettings
    from snapshots.parity import ParitySource

    if given == "sandbox":
        return ParitySource("target", server=ClientSettings(url=running(ctx).base_url))
    if given.startswith(("http://", "https://")):
        return ParitySource("target", server=ClientSettings(url=given))
    path = site_of(ctx).hospital if given == "hospital" else Path(given)
    if path is None or not path.exists():
        raise DrillActionError(f"parity target {given!r}: no such source")
    return ParitySource("target", path=path)


def run_parity_step(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    import pyrage

    from snapshots.fhir_client import ClientSettings
    from snapshots.parity import ParitySettings, ParitySource, run_parity
    from snapshots.settings import BuildSettings

    site = site_of(ctx)
    legacy = ParitySource("legacy", server=ClientSettings(url=running(ctx).base_url,
                                                          retries=2, timeout_seconds=30))
    target = _target(ctx, str(params.get("target", "hospital")))
    settings = replace(ParitySettings(), seed=int(params.get("seed", ctx.seed)))
    with timer() as took:
        result = run_parity(legacy, target, settings,
                            BuildSettings(as_of=datetime.now(UTC).replace(microsecond=0)))
    report = json.dumps(result.to_json(), indent=2, sort_keys=True).encode()
    folder = ctx.workdir / "parity"
    folder.mkdir(exist_ok=True)
    out = folder / f"report-{len(list(folder.glob('report-*'))) + 1}.json.age"
    out.write_bytes(pyrage.encrypt(report, [pyrage.x25519.Recipient.from_str(r)
                                            for r in site.recipients["escrow"]]))
    f = result.figures
    figures = {"identity_mismatch_share": f["identity_mismatch_share"],
               "charts_lacking_medication_share": f["lacking_medication_history_share"],
               "charts_differing_share": f["charts_differing_share"],
               "parity_differences": len(result.differences),
               "parity_passed": 1.0 if result.passed else 0.0}
    verdict = "passed" if result.passed else \
        f"failed ({', '.join(c.figure for c in result.failed())})"
    return StepResult(detail=f"parity {verdict}: {result.patients_compared} patients, "
                             f"{len(result.differences)} differences, in {took[0]:.1f} s",
                      figures=figures,
                      evidence={"parity_report_sha256": hashlib.sha256(report).hexdigest()})


register(ActionSpec(
    name="parity", run=run_parity_step, optional=("target", "seed"),
    summary="the migration parity check, the legacy sandbox against a target (the export, "
            "the sandbox, or any FHIR source)",
    figures=("identity_mismatch_share", "charts_lacking_medication_share",
             "charts_differing_share", "parity_differences", "parity_passed")))
