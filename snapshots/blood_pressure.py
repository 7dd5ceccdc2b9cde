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
    systolic = [o for o in newest_first if o.code == SYSTOLIC]
    diastolic = [o for o in newest_first if o.code == DIASTOLIC]
    partner: dict[str, Observation] = {}  # systolic id -> its diastolic
    used: set[str] = set()
    in_panel = {_panel(d.id): d for d in diastolic if _panel(d.id)}
    for s in systolic:  # first the components of one panel, so no other claims them
        d = in_panel.get(_panel(s.id) or "")
        if d is not None and d.id not in used:
            partner[s.id] = d
            used.add(d.id)
    for s in systolic:  # then the two taken at the same time
        if s.id in partner or not s.effective_at:
            continue
        d = next((d for d in diastolic if d.id not in used and
                  d.effective_at == s.effective_at), None)
        if d is not None:
            partner[s.id] = d
            used.add(d.id)
    return [_reading(o, partner[o.id]) if o.id in partner else o
            for o in newest_first if o.id not in used]


def _panel(obs_id: str) -> str | None:
    return obs_id.rsplit("#", 1)[0] if "#" in obs_id else None


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
