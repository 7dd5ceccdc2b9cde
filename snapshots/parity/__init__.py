"""The migration parity check (docs/parity.md): two FHIR sources, servers or exports, each
built into the snapshot canonical model in memory, compared count by count, chart section by
chart section (a hash for every patient, field by field where they differ and for a sample
of charts drawn by risk stratum), every difference named by patient, section and field.

The builder is imported only when a check runs (`run_parity`, `ParitySource`): the config
reads `snapshots.parity.settings` for every command, and `downtime print packet` must not
load the builder."""

from __future__ import annotations

from typing import Any

from .result import Criterion, Difference, ParityResult, SampledChart, SideSummary
from .settings import FIGURES, STRATA, ParitySettings, ParitySettingsError


def __getattr__(name: str) -> Any:
    if name == "run_parity":
        from .check import run_parity

        return run_parity
    if name == "ParitySource":
        from .sources import ParitySource

        return ParitySource
    raise AttributeError(name)


__all__ = ["FIGURES", "STRATA", "Criterion", "Difference", "ParityResult", "ParitySettings",
           "ParitySettingsError", "ParitySource", "SampledChart", "SideSummary", "run_parity"]
