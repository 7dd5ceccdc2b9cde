"""The figures the engine itself works out from what the actions measure (docs/drills.md,
"Figures"): RTO, RPO, and how far each step ran over its expected time.

The actions report moments as epoch seconds (time.time()) and the engine turns them into
durations in drill time (real seconds times the script's time_scale), so that a 72-hour
drill compressed into minutes is judged against hours."""

from __future__ import annotations

from collections.abc import Iterable

# reported by the actions
OUTAGE_STARTED_AT = "outage_started_at"  # the moment the EHR went away (sandbox down/fault)
UNITS_READY_AT = "units_ready_at"  # the moment the last unit was downtime-ready
UNITS_READY = "units_ready"  # units downtime-ready: snapshot installed and readable, packet
UNITS_TOTAL = "units_total"  # printable; of the units the drill has
DATA_AGE_AT_FAILURE = "data_age_at_failure_seconds"  # newest installed data's age at failure
BACKENTRY_ENTRIES = "backentry_entries"  # entries back-entered (the volume)
BACKENTRY_PAGES = "backentry_pages"  # scanned pages they came from

# worked out by the engine
RTO = "rto_seconds"  # outage start to every unit downtime-ready, drill time
RPO = "rpo_seconds"  # data age at the moment of failure, drill time
MAX_OVERRUN = "max_overrun"  # the largest share by which a step ran over its expected time
OVERRUN = "overrun."  # + step id (- as _): that step's share over its expected time

_RTO_NEEDS = (OUTAGE_STARTED_AT, UNITS_READY_AT)


def derivable(measured: Iterable[str], step_ids: Iterable[str]) -> set[str]:
    """The engine's figures a drill with these measured figures and steps will have."""
    measured = set(measured)
    names = {MAX_OVERRUN} | {OVERRUN + s for s in step_ids}
    if all(n in measured for n in _RTO_NEEDS):
        names.add(RTO)
    if DATA_AGE_AT_FAILURE in measured:
        names.add(RPO)
    return names


def derive(figures: dict[str, float], time_scale: float) -> None:
    """Add RTO and RPO to `figures` once what they come from is there."""
    if all(n in figures for n in _RTO_NEEDS) and figures[UNITS_READY_AT] >= \
            figures[OUTAGE_STARTED_AT]:
        figures[RTO] = (figures[UNITS_READY_AT] - figures[OUTAGE_STARTED_AT]) * time_scale
    if DATA_AGE_AT_FAILURE in figures:
        figures[RPO] = figures[DATA_AGE_AT_FAILURE] * time_scale


def overrun(expected: float, actual: float) -> float:
    """The share by which `actual` ran over `expected` (0 when it did not)."""
    if expected <= 0:
        return 0.0 if actual <= 0 else 1.0
    return max(0.0, actual / expected - 1.0)

