"""The migration parity check (docs/parity.md): two FHIR sources, servers or exports, each
built into the snapshot canonical model in memory, compared count by count, chart section by
chart section (a hash for every patient, field by field where they differ and for a sample
of charts drawn by risk stratum), every difference named by patient, section and field."""

from __future__ import annotations

from .check import run_parity
from .result import Criterion, Difference, ParityResult, SampledChart, SideSummary
from .settings import FIGURES, STRATA, ParitySettings, ParitySettingsError
from .sources import ParitySource

__all__ = ["FIGURES", "STRATA", "Criterion", "Difference", "ParityResult", "ParitySettings",
           "ParitySettingsError", "ParitySource", "SampledChart", "SideSummary", "run_parity"]
