"""Representative charts by risk stratum, drawn from the legacy census with a seed: the
charts a migration is most likely to get wrong, compared field by field.

The strata, as the canonical model tells them:
- many_allergies: MANY_ALLERGIES or more allergies (no-known statements not counted);
- heavy_documents: a scanned document, or HEAVY_NOTES or more notes;
- transferred: an earlier unit on the open encounter;
- merged: another chart merged into this one;
- deceased: recorded deceased;
- restricted: any record marked restricted (R or V);
- recent_surgery: a procedure within RECENT_DAYS of the as-of (the model keeps no
  procedure category, so every procedure counts);
- behavioral_health: on a behavioral-health unit.
"""

from __future__ import annotations

import random
import sqlite3
from datetime import datetime, timedelta

from .settings import STRATA, ParitySettings

MANY_ALLERGIES = 3
HEAVY_NOTES = 4
RECENT_DAYS = 3

_RESTRICTED = " UNION ".join(f"SELECT patient_id FROM {t} WHERE restricted = 1" for t in (
    "allergies", "problems", "med_orders", "observations", "procedures", "notes"))


def stratum_queries(as_of: datetime) -> dict[str, tuple[str, tuple]]:
    recent = (as_of - timedelta(days=RECENT_DAYS)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "many_allergies": ("SELECT patient_id FROM allergies WHERE no_known = 0 GROUP BY "
                           "patient_id HAVING count(*) >= ?", (MANY_ALLERGIES,)),
        "heavy_documents": ("SELECT patient_id FROM notes GROUP BY patient_id HAVING "
                            "count(*) >= ? OR sum(data IS NOT NULL) > 0", (HEAVY_NOTES,)),
        "transferred": ("SELECT patient_id FROM encounters WHERE coalesce(previous_units, '') "
                        "!= ''", ()),
        "merged": ("SELECT id FROM patients WHERE coalesce(merged_from, '') != ''", ()),
        "deceased": ("SELECT id FROM patients WHERE deceased = 1", ()),
        "restricted": (_RESTRICTED, ()),
        "recent_surgery": ("SELECT patient_id FROM procedures WHERE performed_at >= ?",
                           (recent,)),
        "behavioral_health": ("SELECT e.patient_id FROM encounters e LEFT JOIN units u ON "
                              "u.id = e.unit_id WHERE u.kind = 'behavioral-health' OR "
                              "e.unit_code = 'BH'", ()),
    }


def strata(conn: sqlite3.Connection, as_of: datetime, census: set[str]) -> dict[str, list[str]]:
    """Each stratum's members among `census` (sorted ids)."""
    return {name: sorted({r[0] for r in conn.execute(sql, args)} & census)
            for name, (sql, args) in stratum_queries(as_of).items()}


def draw(members: dict[str, list[str]], settings: ParitySettings) -> dict[str, list[str]]:
    """The sampled charts: patient id -> the strata it was drawn for. Each stratum draws
    with its own generator (seed and stratum), so changing one stratum's size leaves the
    others' draws as they were."""
    sampled: dict[str, list[str]] = {}
    for name in STRATA:
        pool = members.get(name, [])
        size = min(settings.sample_size(name), len(pool))
        for pid in random.Random(f"{settings.seed}:{name}").sample(pool, size):
            sampled.setdefault(pid, []).append(name)
    return dict(sorted(sampled.items()))
