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
