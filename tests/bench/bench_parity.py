"""The parity check of two 1,000-inpatient sources (the legacy export and a target made from
it with the seeded migration defects of tests/parity_defects.py), beside the naive path:
comparing the two exports resource by resource as JSON (every resource parsed, indexed by
type and id, compared whole), which says which resources differ but not for whom, in which
section, or in what field."""

from __future__ import annotations

import json
import tempfile
from datetime import timedelta
from pathlib import Path

from tests.bench.common import HOSPITAL_AS_OF, BenchRow, hospital_1000, median_timed

TARGET_SECONDS = 30


def naive_compare(legacy: Path, target: Path) -> int:
    """Resource by resource as JSON: the ids of resources that differ or are on one side."""
    def index(folder: Path) -> dict[tuple[str, str], dict]:
        found = {}
        for path in sorted(folder.glob("*.ndjson")):
            with path.open() as f:
                for line in f:
                    res = json.loads(line)
                    found[(res.get("resourceType"), str(res.get("id")))] = res
        return found

    a, b = index(legacy), index(target)
    return sum(1 for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def run() -> list[BenchRow]:
    from datetime import datetime

    from snapshots.parity import ParitySettings, ParitySource, run_parity
    from snapshots.settings import BuildSettings
    from tests.parity_defects import seed_defects

    as_of = datetime.fromisoformat(HOSPITAL_AS_OF)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        legacy = hospital_1000(work)
        target = work / "target"
        seeded = seed_defects(legacy, target, (as_of - timedelta(days=2)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"))

        def ours():
            return run_parity(ParitySource("legacy", path=legacy),
                              ParitySource("target", path=target), ParitySettings(),
                              BuildSettings(as_of=as_of))

        elapsed, result = median_timed(ours, runs=3)
        naive, differing = median_timed(lambda: naive_compare(legacy, target), runs=3)
    found = {d.kind for d in result.differences}
    print(f"  parity: {result.patients_compared} patients, {len(result.differences)} "
          f"differences ({len(seeded)} seeded), {len(result.sample)} sampled charts; "
          f"time {result.seconds}; naive: {differing} resources differ")
    return [BenchRow("parity check, two 1,000-inpatient sources", elapsed, "s", naive,
                     f"< {TARGET_SECONDS} s", elapsed < TARGET_SECONDS and
                     {"missing-patient", "duplicated-patient", "field"} <= found)]
