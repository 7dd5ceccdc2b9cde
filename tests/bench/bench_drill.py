"""The planned-cutover drill (downtime/drills/shipped/planned-cutover.toml) on the demo
hospital it generates (24 inpatients, a workstation per unit), headless, end to end, as
`downtime drill run planned-cutover --headless` runs it: the issue's target is under 60 s,
with the real time of every step. Met only when the drill passes (exit 0) in time."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from tests.bench.common import BenchRow

TARGET_SECONDS = 60


def run() -> list[BenchRow]:
    from downtime.drills.catalog import SHIPPED, load_actions
    from downtime.drills.runner import run_drill
    from downtime.drills.script import load_script

    actions = load_actions()
    script = load_script(SHIPPED / "planned-cutover.toml", actions, headless=True)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = run_drill(script, Path(tmp) / "drill", actions)
        elapsed = time.perf_counter() - t0
    for r in result.steps:
        print(f"  {r.step.id:<20} {r.status:<8} {r.seconds:6.2f} s real  {r.detail[:80]}")
    print(f"  drill: {result.status} (exit {result.exit_status}): {result.why}")
    return [BenchRow("planned-cutover drill, demo hospital (24 inpatients, 6 workstations), "
                     "headless, end to end", elapsed, "s", target=f"< {TARGET_SECONDS} s",
                     met=elapsed < TARGET_SECONDS and result.exit_status == 0)]
