"""Blood pressure as one reading, "BP 135/92", wherever vital signs are shown.

The snapshot keeps one row per value, so a LOINC blood pressure panel (85354-9) is two rows,
its systolic (8480-6) and diastolic (8462-4) components, with ids "<panel id>#0" and "#1"
(snapshots.map_clinical). A source may also send the two as separate Observations. They are
paired here: the components of one panel, else a systolic and a diastolic taken at the same
time. A half without its other half stays as it is (and says which half it is).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # chart imports nothing of this module's at import time, nor it of chart's
    from .chart import Observation

PANEL = "85354-9"
SYSTOLIC = "8480-6"
DIASTOLIC = "8462-4"
_SEVERITY = {"HH": 3, "LL": 3, "AA": 3, "H": 2, "L": 2, "A": 1}


def paired(newest_first: list[Observation]) -> list[Observation]:
    """The vital signs (newest first) with each systolic/diastolic pair as one BP reading in
    the systolic's place, its value "135/92"; every other row as it was, in its order."""
    diastolic = [o for o in newest_first if o.code == DIASTOLIC]
    used: set[str] = set()
    out = []
    for o in newest_first:
        if o.code == DIASTOLIC:
            continue  # placed with its systolic, or below once none claims it
        if o.code != SYSTOLIC:
            out.append(o)
            continue
        match = _partner(o, diastolic, used)
        if match is None:
            out.append(o)
            continue
        used.add(match.id)
        out.append(_reading(o, match))
    lone = [o for o in diastolic if o.id not in used]
    if lone:  # back among the others, newest first (a stable merge on the time)
        out = sorted(out + lone, key=lambda o: o.effective_at or "", reverse=True)
    return out


def _panel(obs_id: str) -> str | None:
    return obs_id.rsplit("#", 1)[0] if "#" in obs_id else None


def _partner(systolic: Observation, candidates: list[Observation],
             used: set[str]) -> Observation | None:
    panel = _panel(systolic.id)
    free = [d for d in candidates if d.id not in used]
    if panel is not None:
        same = next((d for d in free if _panel(d.id) == panel), None)
        if same is not None:
            return same
    if not systolic.effective_at:
        return None
    # taken at the same time: never a component of another panel
    return next((d for d in free if d.effective_at == systolic.effective_at
                 and (panel is None or _panel(d.id) is None)), None)


def _reading(systolic: Observation, diastolic: Observation) -> Observation:
    ref = f"{systolic.reference}/{diastolic.reference}" \
        if systolic.reference and diastolic.reference else None
    return replace(systolic, id=_panel(systolic.id) or systolic.id, code=PANEL,
                   display="Blood pressure",
                   value=f"{systolic.value or '?'}/{diastolic.value or '?'}",
                   unit=systolic.unit or diastolic.unit, reference=ref,
                   flag=_worse(systolic.flag, diastolic.flag),
                   restricted=systolic.restricted or diastolic.restricted)


def _worse(a: str | None, b: str | None) -> str | None:
    """The more abnormal of two interpretation flags (the systolic's on a tie)."""
    return a if _SEVERITY.get(a or "", 0) >= _SEVERITY.get(b or "", 0) else b
