"""Where the shared test data is: `../shared` beside the checkout (as CI has it), else
$DOWNTIME_SHARED, else the workplace's /work/shared (a fresh clone in a temporary folder)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    candidates = [ROOT.parent / "shared", Path(os.environ.get("DOWNTIME_SHARED", "/nonexistent")),
                  Path("/work/shared")]
    for candidate in candidates:
        if (candidate / "fhir-samples").is_dir():
            return candidate
    raise FileNotFoundError("shared test data not found beside the checkout (../shared); set "
                            "DOWNTIME_SHARED to its folder")


SHARED = shared_dir()

SAMPLES = SHARED / "fhir-samples"
SYNTHEA = SAMPLES / "synthea" / "generated-sample-data"  # one Bundle per patient


def latest_inpatient_in_progress(bundle: dict) -> tuple[str, str]:
    """Mark a Synthea bundle's most recent inpatient encounter in progress (no end), so that
    the patient is a current inpatient; return (encounter id, patient id)."""
    encounters = [e["resource"] for e in bundle["entry"]
                  if e["resource"]["resourceType"] == "Encounter"
                  and e["resource"]["class"]["code"] == "IMP"]
    latest = max(encounters, key=lambda e: e["period"]["start"])
    latest["status"] = "in-progress"
    latest["period"].pop("end", None)
    patient = next(e["resource"] for e in bundle["entry"]
                   if e["resource"]["resourceType"] == "Patient")
    return latest["id"], patient["id"]
