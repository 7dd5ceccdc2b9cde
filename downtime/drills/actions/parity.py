"""`parity`: the migration parity check (docs/parity.md; snapshots/parity, the engine of
`downtime parity`) between the legacy EHR, the running sandbox, and a target.

`target` (default "hospital"): "hospital" is the demo hospital's export on disk (what the
sandbox was loaded from: the records as they would arrive in the new system), "sandbox" the
sandbox itself (no difference expected), or any folder, file or http(s) URL of a FHIR
source. `defects` = N (with "hospital"): a migration gone wrong, made from a copy of the
export for the check and removed after it: N inpatients' medication records left out
(charts lacking medication history) and N others' birth dates moved a year (identity
mismatches), chosen from the seed. `seed` (default the drill's) chooses the sampled
charts. Both sides are built through the snapshot canonical model in memory; the JSON
report names patients, so it is kept encrypted to escrow only
(workdir/parity/report-<n>.json.age). Figures, from the report's:
`identity_mismatch_share`, `sampled_lacking_med_history_share` (the report's
`lacking_medication_history_share`: charts with a medication history on the legacy side
and none on the target), `charts_differing_share`, `parity_differences`, `parity_passed`
(1 when every [parity] criterion holds). Evidence: `parity_report_sha256` (of the JSON
report's bytes, before encryption).
"""

from __future__ import annotations

import hashlib
import json
import shutil
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


def _subject(resource: dict) -> str:
    """The patient id a resource's subject names (relative or absolute reference)."""
    reference = (resource.get("subject") or {}).get("reference") or ""
    if not isinstance(reference, str) or "Patient/" not in reference:
        return ""
    return reference.rsplit("Patient/", 1)[1].split("/")[0]


def seeded_target(export: Path, out: Path, defects: int, seed: int) -> Path:
    """A copy of `export` with `defects` charts stripped of medication and `defects`
    patients' birth dates changed (see the module docstring); its folder."""
    import random

    import orjson

    files = {p.name: [orjson.loads(line) for line in p.read_bytes().splitlines() if line]
             for p in sorted(export.glob("*.ndjson"))}
    inpatients = {_subject(e) for e in files.get("Encounter.ndjson", [])
                  if e.get("status") == "in-progress" and e.get("location")
                  and (e.get("class") or {}).get("code") == "IMP"}
    ordered = sorted({_subject(r) for r in files.get("MedicationRequest.ndjson", [])
                      if r.get("status") == "active" and _subject(r) in inpatients})
    chosen = random.Random(seed).sample(ordered, min(len(ordered), 2 * defects))
    no_meds, moved = set(chosen[:defects]), set(chosen[defects:])
    for name in [n for n in files if n.startswith("Medication") and n != "Medication.ndjson"]:
        files[name] = [r for r in files[name] if _subject(r) not in no_meds]
    for patient in files.get("Patient.ndjson", []):
        if patient["id"] in moved and patient.get("birthDate"):
            year, rest = patient["birthDate"][:4], patient["birthDate"][4:]
            patient["birthDate"] = f"{int(year) - 1}{rest}"
    out.mkdir(parents=True)
    for name, resources in files.items():
        (out / name).write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in resources))
    return out


def run_parity_step(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    import pyrage

    from snapshots.fhir_client import ClientSettings
    from snapshots.parity import ParitySettings, ParitySource, run_parity
    from snapshots.settings import BuildSettings

    site = site_of(ctx)
    legacy = ParitySource("legacy", server=ClientSettings(url=running(ctx).base_url,
                                                          retries=2, timeout_seconds=30))
    given = str(params.get("target", "hospital"))
    defects = int(params.get("defects", 0))
    folder = ctx.workdir / "parity"
    folder.mkdir(exist_ok=True)
    made = None
    if defects:
        if given != "hospital" or site.hospital is None:
            raise DrillActionError("parity defects = N takes target = \"hospital\"")
        made = seeded_target(site.hospital, folder / "target-with-defects", defects, ctx.seed)
        target = ParitySource("target", path=made)
    else:
        target = _target(ctx, given)
    settings = replace(ParitySettings(), seed=int(params.get("seed", ctx.seed)))
    try:
        with timer() as took:
            result = run_parity(legacy, target, settings,
                                BuildSettings(as_of=datetime.now(UTC).replace(microsecond=0)))
    finally:
        if made is not None:  # the new system's copy of the records: not kept here
            shutil.rmtree(made, ignore_errors=True)
    report = json.dumps(result.to_json(), indent=2, sort_keys=True).encode()
    out = folder / f"report-{len(list(folder.glob('report-*'))) + 1}.json.age"
    out.write_bytes(pyrage.encrypt(report, [pyrage.x25519.Recipient.from_str(r)
                                            for r in site.recipients["escrow"]]))
    f = result.figures
    figures = {"identity_mismatch_share": f["identity_mismatch_share"],
               "sampled_lacking_med_history_share": f["lacking_medication_history_share"],
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
    name="parity", run=run_parity_step, optional=("target", "seed", "defects"),
    summary="the migration parity check, the legacy sandbox against a target (the export, "
            "the sandbox, or any FHIR source)",
    figures=("identity_mismatch_share", "sampled_lacking_med_history_share",
             "charts_differing_share", "parity_differences", "parity_passed")))
