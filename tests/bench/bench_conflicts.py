"""Conflict checks: 10,000 back-entries (tests/back_entry_data.py `many()`: MAR rows half,
vitals a quarter, orders and notes the rest) of 1,000 patients against the current state of
the 1,000-inpatient hospital (its export folder). Target (issue 12, §9): under 5 s.

Two MAR rows in three are made doses of the patient's own EHR orders (`many()` names random
ones). Ours: reconcile.conflicts.Checker over reconcile.current_state's indexes (patients,
encounters and orders by id, each patient's orders, administrations and allergies), every
check of §4 on every entry. The naive path: for each entry, every resource of the export
scanned for that patient's, read into a state of its own, then the same checks: timed on a
sample of entries and scaled to 10,000. Reading the export into the current state is timed
on its own row (it is done once per check run; a server's searches take the sandbox's time).
"""

from __future__ import annotations

import tempfile
import time
from datetime import timedelta
from pathlib import Path

from tests.bench.common import BenchRow, hospital_1000, median_timed

ENTRIES, PATIENTS, NAIVE_SAMPLE = 10_000, 1_000, 100
TARGET_SECONDS = 5.0


def _episode(entries):
    from reconcile.episode import Window
    from reconcile.state import EpisodeState, merge_records
    from tests.back_entry_data import START

    state = EpisodeState(window=Window(START - timedelta(hours=1), START + timedelta(days=1)))
    forms = {e.source.form_id: e for e in entries}
    merge_records(state, [{"form_id": f, "kind": e.kind, "patient_id": e.patient_id,
                           "encounter_id": e.encounter_id, "unit": "4W", "event": "printed",
                           "at": START.isoformat(), "pages": 1} for f, e in forms.items()],
                  "ws-1")
    return state


def _staff():
    from reconcile.staff import StaffList
    from tests.back_entry_data import DOCTOR, NURSES

    return StaffList.from_table({"*": [{"initials": p.initials, "name": p.name}
                                       for p in (*NURSES, DOCTOR)]}, "bench")


def _resources(folder: Path) -> list[dict]:
    import orjson

    from reconcile.current_state import TYPES

    out = []
    for path in sorted(folder.glob("*.ndjson")):
        if path.name.split(".")[0] in TYPES:
            out += [orjson.loads(line) for line in path.read_bytes().splitlines() if line]
    return out


def _naive(entries, resources, state, staff) -> float:
    """Per entry: every resource scanned for the patient's (and the Locations), read afresh."""
    from reconcile.conflicts import Checker
    from reconcile.current_state import from_resources

    t0 = time.perf_counter()
    for entry in entries:
        pid = entry.patient_id
        mine = [r for r in resources if r["resourceType"] == "Location" or r.get("id") == pid
                or pid in str(r.get("subject") or r.get("patient") or "")]
        current = from_resources(mine, {"source": "export", "where": "naive"})
        Checker(state, current, staff=staff).check([entry])
    return time.perf_counter() - t0


def _on_real_orders(entries, current):
    """`many()` names random orders; two MAR rows in three are made doses of one of the
    patient's EHR orders instead (its drug, dose and route), so that the order, dose and
    charted-dose checks run as they would on real paper."""
    import dataclasses

    from reconcile.entries import Drug, MarAdministration, Quantity

    out = []
    for n, e in enumerate(entries):
        orders = current.orders_of(e.patient_id)
        if isinstance(e, MarAdministration) and orders and n % 3 and orders[n % len(
                orders)].dose:
            o = orders[n % len(orders)]
            e = dataclasses.replace(e, order_id=o.id, drug=Drug(text=o.drug.text),
                                    dose=Quantity(value=o.dose[0], unit=o.dose[1]),
                                    route=o.route_text or "PO")
        out.append(e)
    return out


def run() -> list[BenchRow]:
    from reconcile.conflicts import Checker
    from reconcile.current_state import from_export
    from tests.back_entry_data import many

    with tempfile.TemporaryDirectory() as tmp:
        folder = hospital_1000(Path(tmp))
        load_seconds, current = median_timed(lambda: from_export(folder), runs=1)
        entries = _on_real_orders(many(ENTRIES, PATIENTS)[0], current)
        state, staff = _episode(entries), _staff()
        elapsed, checked = median_timed(
            lambda: Checker(state, current, staff=staff).check(entries), runs=3)
        resources = _resources(folder)
        sample = entries[::ENTRIES // NAIVE_SAMPLE]
        naive = _naive(sample, resources, state, staff) * ENTRIES / len(sample)
    flagged = sum(1 for c in checked if c["conflicts"])
    print(f"  conflicts: {len(checked)} entries, {flagged} with conflicts, "
          f"{sum(len(c['conflicts']) for c in checked)} conflicts; current state "
          f"{len(current.patients)} patients, {len(current.orders)} orders, read in "
          f"{load_seconds:.1f} s; naive timed on {len(sample)} entries")
    return [BenchRow(f"conflict checks, {ENTRIES:,} entries vs 1,000 inpatients", elapsed,
                     "s", naive, f"< {TARGET_SECONDS:.0f} s", elapsed < TARGET_SECONDS),
            BenchRow("current state from the 1,000-inpatient export (once per run)",
                     load_seconds, "s")]
